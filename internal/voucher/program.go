package voucher

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/resident"
)

type programRow struct {
	ID                 uuid.UUID
	Code               string
	Name               string
	Categories         pq.StringArray `gorm:"type:text[]"`
	Status             string
	BudgetPerPeriodFen *int64
	CarryOverPeriods   int
	CreatedAt          time.Time
}

func (programRow) TableName() string { return "voucher_programs" }

type ruleRow struct {
	ProgramID        uuid.UUID
	Position         int
	MinAge           *int
	CareLevels       pq.StringArray `gorm:"type:text[]"`
	Statuses         pq.StringArray `gorm:"type:text[]"`
	DisabilityGrades pq.Int64Array  `gorm:"type:smallint[]"`
	AmountFen        int64
}

func (ruleRow) TableName() string { return "voucher_program_rules" }

func (r *ruleRow) rule() *Rule {
	out := &Rule{MinAge: r.MinAge, AmountFen: r.AmountFen}
	if r.CareLevels != nil {
		out.CareLevels = make([]resident.CareLevel, len(r.CareLevels))
		for i, c := range r.CareLevels {
			out.CareLevels[i] = resident.CareLevel(c)
		}
	}
	if r.Statuses != nil {
		out.Statuses = make([]resident.Status, len(r.Statuses))
		for i, c := range r.Statuses {
			out.Statuses[i] = resident.Status(c)
		}
	}
	if r.DisabilityGrades != nil {
		out.DisabilityGrades = make([]int, len(r.DisabilityGrades))
		for i, g := range r.DisabilityGrades {
			out.DisabilityGrades[i] = int(g)
		}
	}
	return out
}

func newRuleRow(programID uuid.UUID, pos int, r *Rule) ruleRow {
	row := ruleRow{ProgramID: programID, Position: pos, MinAge: r.MinAge, AmountFen: r.AmountFen}
	if r.CareLevels != nil {
		row.CareLevels = pq.StringArray{}
		for _, c := range r.CareLevels {
			row.CareLevels = append(row.CareLevels, string(c))
		}
	}
	if r.Statuses != nil {
		row.Statuses = pq.StringArray{}
		for _, c := range r.Statuses {
			row.Statuses = append(row.Statuses, string(c))
		}
	}
	if r.DisabilityGrades != nil {
		row.DisabilityGrades = pq.Int64Array{}
		for _, g := range r.DisabilityGrades {
			row.DisabilityGrades = append(row.DisabilityGrades, int64(g))
		}
	}
	return row
}

// NewProgram is the input of CreateProgram.
type NewProgram struct {
	Code               string
	Name               string
	Categories         []Category
	Rules              []*Rule
	BudgetPerPeriodFen *int64
	CarryOverPeriods   *int
}

// Validate reports every invalid field at once.
func (in *NewProgram) Validate() error {
	var errs problem.UserErrors
	bad := func(msg string, field ...string) {
		errs = append(errs, problem.New(problem.Invalid, msg, append([]string{"input"}, field...)...))
	}
	if n := len(strings.TrimSpace(in.Code)); n < 1 || n > 64 {
		bad("code must be 1 to 64 characters", "code")
	}
	if n := len([]rune(strings.TrimSpace(in.Name))); n < 1 || n > 128 {
		bad("name must be 1 to 128 characters", "name")
	}
	if len(in.Categories) == 0 {
		bad("at least one service category is required", "categories")
	}
	if len(in.Rules) == 0 {
		bad("at least one rule is required", "rules")
	}
	for i, r := range in.Rules {
		idx := fmt.Sprint(i)
		if r.AmountFen <= 0 {
			bad("amount must be positive", "rules", idx, "amountFen")
		}
		if r.MinAge != nil && (*r.MinAge < 0 || *r.MinAge > 150) {
			bad("minAge must be between 0 and 150", "rules", idx, "minAge")
		}
		for _, g := range r.DisabilityGrades {
			if g < 1 || g > 4 {
				bad("disability grades are 1 to 4", "rules", idx, "disabilityGrades")
				break
			}
		}
	}
	if in.BudgetPerPeriodFen != nil && *in.BudgetPerPeriodFen <= 0 {
		bad("budget must be positive when set", "budgetPerPeriodFen")
	}
	if in.CarryOverPeriods != nil && (*in.CarryOverPeriods < 0 || *in.CarryOverPeriods > 120) {
		bad("carryOverPeriods must be between 0 and 120", "carryOverPeriods")
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// CreateProgram creates a DRAFT program (ADMIN).
func (s *Service) CreateProgram(ctx context.Context, in NewProgram) (*Program, error) {
	if _, err := policy.Require(ctx, policy.ManagePrograms); err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	row := programRow{ID: newID(), Code: strings.TrimSpace(in.Code), Name: strings.TrimSpace(in.Name),
		Categories: fromCategories(in.Categories), Status: string(ProgramDraft), BudgetPerPeriodFen: in.BudgetPerPeriodFen,
		CarryOverPeriods: deref(in.CarryOverPeriods), CreatedAt: s.now()}
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		return s.createProgramTx(ctx, tx, row, in.Rules)
	})
	if err != nil {
		return nil, err
	}
	return s.program(ctx, s.db, row.ID)
}

func (s *Service) createProgramTx(ctx context.Context, tx *gorm.DB, row programRow, rules []*Rule) error {
	if err := tx.Create(&row).Error; err != nil {
		if _, ok := database.IsUniqueViolation(err); ok {
			return problem.New(problem.Duplicate, "a program with this code exists", "input", "code")
		}
		return database.Classify(fmt.Errorf("voucher: create program: %w", err))
	}
	rr := make([]ruleRow, len(rules))
	for i, r := range rules {
		rr[i] = newRuleRow(row.ID, i, r)
	}
	if err := tx.Create(&rr).Error; err != nil {
		return database.Classify(fmt.Errorf("voucher: create rules: %w", err))
	}
	return audit.Record(ctx, tx, audit.ActionCreateVoucherProgram, audit.EntityVoucherProgram, &row.ID, nil)
}

// ActivateProgram moves a DRAFT program to ACTIVE (ADMIN).
func (s *Service) ActivateProgram(ctx context.Context, id uuid.UUID) (*Program, error) {
	if _, err := policy.Require(ctx, policy.ManagePrograms); err != nil {
		return nil, err
	}
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		var row programRow
		if err := tx.Clauses(forNoKeyUpdate).Where("id = ?", id).Take(&row).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return notFound("program", "id")
			}
			return database.Classify(err)
		}
		if row.Status != string(ProgramDraft) {
			return problem.New(problem.InvalidTransition, "only a DRAFT program can be activated", "id")
		}
		if err := tx.Model(&programRow{}).Where("id = ?", id).Update("status", string(ProgramActive)).Error; err != nil {
			return database.Classify(err)
		}
		return audit.Record(ctx, tx, audit.ActionActivateVoucherProgram, audit.EntityVoucherProgram, &id, nil)
	})
	if err != nil {
		return nil, err
	}
	return s.program(ctx, s.db, id)
}

// Programs lists every program (any signed-in viewer: programs are public).
func (s *Service) Programs(ctx context.Context) ([]*Program, error) {
	if err := auth.Require(ctx); err != nil {
		return nil, err
	}
	q := s.db.WithContext(ctx).Model(&programRow{})
	if !seesDrafts(auth.ViewerFrom(ctx)) {
		q = q.Where("status <> ?", string(ProgramDraft))
	}
	var ids []uuid.UUID
	if err := q.Order("code").Pluck("id", &ids).Error; err != nil {
		return nil, database.Classify(err)
	}
	m, err := s.ProgramsByIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*Program, 0, len(ids))
	for _, id := range ids {
		out = append(out, m[id])
	}
	return out, nil
}

// Program returns one program (node lookups; any signed-in viewer).
func (s *Service) Program(ctx context.Context, id uuid.UUID) (*Program, error) {
	if err := auth.Require(ctx); err != nil {
		return nil, err
	}
	m, err := s.ProgramsByIDs(ctx, []uuid.UUID{id})
	if p := m[id]; p != nil && p.Status == ProgramDraft && !seesDrafts(auth.ViewerFrom(ctx)) {
		return nil, err
	}
	return m[id], err
}

// seesDrafts: a DRAFT program is being prepared; those who manage programs
// or follow their runs see it, residents and providers do not.
func seesDrafts(v *auth.Viewer) bool {
	return policy.Allowed(v, policy.ManagePrograms) || policy.Allowed(v, policy.ReadVoucherRuns)
}

func (s *Service) program(ctx context.Context, db *gorm.DB, id uuid.UUID) (*Program, error) {
	m, err := programsByIDs(ctx, db, []uuid.UUID{id})
	return m[id], err
}

// ProgramsByIDs loads programs with their rules (for the dataloaders).
func (s *Service) ProgramsByIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*Program, error) {
	return programsByIDs(ctx, s.db, ids)
}

func programsByIDs(ctx context.Context, db *gorm.DB, ids []uuid.UUID) (map[uuid.UUID]*Program, error) {
	var rows []programRow
	if err := db.WithContext(ctx).Where("id = ANY(?)", database.UUIDs(ids)).Find(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	var rules []ruleRow
	if err := db.WithContext(ctx).Where("program_id = ANY(?)", database.UUIDs(ids)).Order("program_id, position").Find(&rules).Error; err != nil {
		return nil, database.Classify(err)
	}
	out := make(map[uuid.UUID]*Program, len(rows))
	for _, r := range rows {
		out[r.ID] = &Program{ID: r.ID, Code: r.Code, Name: r.Name, Categories: toCategories(r.Categories),
			Status: ProgramStatus(r.Status), BudgetPerPeriodFen: r.BudgetPerPeriodFen, CarryOverPeriods: r.CarryOverPeriods,
			CreatedAt: r.CreatedAt, Rules: []*Rule{}}
	}
	for i := range rules {
		if p := out[rules[i].ProgramID]; p != nil {
			p.Rules = append(p.Rules, rules[i].rule())
		}
	}
	return out, nil
}

// Enroll enrolls a resident in an ACTIVE program: ADMIN anywhere, a
// CASE_WORKER within their jurisdiction. Enrolling twice is harmless.
func (s *Service) Enroll(ctx context.Context, programID, residentID uuid.UUID) (*Program, error) {
	v, err := policy.Require(ctx, policy.EnrollResident)
	if err != nil {
		return nil, err
	}
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if err := enrollable(tx, v, residentID); err != nil {
			return err
		}
		if err := s.EnrollTx(ctx, tx, programID, residentID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.ActionEnrollResident, audit.EntityVoucherProgram, &programID, map[string]any{"residentId": residentID})
	})
	if err != nil {
		return nil, err
	}
	return s.program(ctx, s.db, programID)
}

// EnrollTx enrolls a resident inside the caller's transaction (the
// applications domain calls it when an application linked to a program is
// approved). It is idempotent; the program must be ACTIVE and the resident
// living, else NOT_ELIGIBLE.
func (s *Service) EnrollTx(ctx context.Context, tx *gorm.DB, programID, residentID uuid.UUID) error {
	_, err := s.EnrollNewTx(ctx, tx, programID, residentID)
	return err
}

// EnrollNewTx is EnrollTx reporting whether this call created the
// enrollment (false when the resident was enrolled already): an approval
// that created one undoes it when the application is withdrawn.
func (s *Service) EnrollNewTx(ctx context.Context, tx *gorm.DB, programID, residentID uuid.UUID) (bool, error) {
	var status string
	err := tx.WithContext(ctx).Raw("SELECT status FROM voucher_programs WHERE id = ?", programID).Row().Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return false, notFound("program", "programId")
	}
	if err != nil {
		return false, database.Classify(err)
	}
	if status != string(ProgramActive) {
		return false, problem.New(problem.NotEligible, "the program is not active", "programId")
	}
	var living bool
	err = tx.WithContext(ctx).Raw("SELECT living FROM resident_facts WHERE id = ?", residentID).Row().Scan(&living)
	if errors.Is(err, sql.ErrNoRows) {
		return false, notFound("resident", "residentId")
	}
	if err != nil {
		return false, database.Classify(err)
	}
	if !living {
		return false, problem.New(problem.NotEligible, "the resident is deceased", "residentId")
	}
	res := tx.WithContext(ctx).Exec(`INSERT INTO voucher_enrollments (program_id, resident_id, enrolled_at) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`, programID, residentID, s.now())
	if res.Error != nil {
		return false, database.Classify(res.Error)
	}
	return res.RowsAffected == 1, nil
}

// UnenrollTx removes an enrollment inside the caller's transaction (a
// withdrawal after the approval that created it). Vouchers already issued
// are kept, as Unenroll keeps them.
func (s *Service) UnenrollTx(ctx context.Context, tx *gorm.DB, programID, residentID uuid.UUID) error {
	err := tx.WithContext(ctx).Exec("DELETE FROM voucher_enrollments WHERE program_id = ? AND resident_id = ?", programID, residentID).Error
	return database.Classify(err)
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// ProgramByCode returns a program by its code (nil when there is none):
// programs are public to any signed-in viewer.
func (s *Service) ProgramByCode(ctx context.Context, code string) (*Program, error) {
	if err := auth.Require(ctx); err != nil {
		return nil, err
	}
	var ids []uuid.UUID
	if err := s.db.WithContext(ctx).Model(&programRow{}).Where("code = ?", strings.TrimSpace(code)).Pluck("id", &ids).Error; err != nil {
		return nil, database.Classify(err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return s.program(ctx, s.db, ids[0])
}

// enrollable answers nil when v may enroll (or unenroll) the resident:
// NOT_FOUND for no such resident, FORBIDDEN outside v's jurisdiction.
func enrollable(tx *gorm.DB, v *auth.Viewer, residentID uuid.UUID) error {
	var path string
	err := tx.Raw("SELECT org_path FROM resident_facts WHERE id = ?", residentID).Row().Scan(&path)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("resident", "residentId")
	}
	if err != nil {
		return database.Classify(err)
	}
	if ok, _ := policy.On(v, policy.EnrollResident, policy.Subject{ID: residentID, OrgPath: path}); !ok {
		return problem.Forbidden("outside your jurisdiction")
	}
	return nil
}
