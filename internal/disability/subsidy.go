package disability

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/resident"
)

// Rule is one row of disability_subsidy_rules: a resident with a currently
// valid certificate matches when every non-empty condition holds.
type Rule struct {
	ID      uuid.UUID // set by the store; ignored by UpsertRule, which keys on Code
	Code    string
	Subsidy Subsidy
	// Grades the certificate's grade must be one of (empty: any).
	Grades []int
	// Categories the certificate's category must be one of (empty: any).
	Categories []Category
	// RequiredStatuses the resident must hold at least one of (empty: none needed).
	RequiredStatuses []resident.Status
	// ExcludedStatuses exclude the resident when they hold any one of them
	// (特困供养 from 困难残疾人生活补贴, 国发〔2015〕52号).
	ExcludedStatuses []resident.Status
	// Basis names the rule's sources (the policy documents), nil when unset.
	Basis *string
	// Description says in plain Chinese whom the rule covers.
	Description string
	Active      bool
}

// failures lists, in plain Chinese, each condition of r that the holder
// does not meet; empty means the rule matches.
func (r *Rule) failures(c *Certificate, statuses []resident.Status) []string {
	var out []string
	if len(r.Grades) > 0 && !slices.Contains(r.Grades, c.Grade) {
		names := make([]string, len(r.Grades))
		for i, g := range r.Grades {
			names[i] = gradeName(g)
		}
		out = append(out, fmt.Sprintf("残疾等级为%s，规则要求%s", gradeName(c.Grade), strings.Join(names, "或")))
	}
	if len(r.Categories) > 0 && !slices.Contains(r.Categories, c.Category) {
		names := make([]string, len(r.Categories))
		for i, x := range r.Categories {
			names[i] = x.Chinese()
		}
		out = append(out, fmt.Sprintf("残疾类别为%s，规则要求%s", c.Category.Chinese(), strings.Join(names, "或")))
	}
	if len(r.RequiredStatuses) > 0 && !slices.ContainsFunc(r.RequiredStatuses, func(s resident.Status) bool { return slices.Contains(statuses, s) }) {
		names := make([]string, len(r.RequiredStatuses))
		for i, x := range r.RequiredStatuses {
			names[i] = statusName(x)
		}
		out = append(out, fmt.Sprintf("不属于%s家庭", strings.Join(names, "或")))
	}
	for _, x := range r.ExcludedStatuses {
		if slices.Contains(statuses, x) {
			out = append(out, fmt.Sprintf("属于%s人员，不享受此项补贴", statusName(x)))
		}
	}
	return out
}

func gradeName(g int) string {
	if g >= 1 && g <= 4 {
		return []string{"一级", "二级", "三级", "四级"}[g-1]
	}
	return fmt.Sprintf("%d级", g)
}

func statusName(s resident.Status) string {
	switch s {
	case resident.LowIncome:
		return "低保"
	case resident.ExtremePoverty:
		return "特困"
	case resident.LivingAlone:
		return "独居"
	case resident.EmptyNest:
		return "空巢"
	case resident.BereavedParent:
		return "失独"
	}
	return string(s)
}

// Eligibility evaluates the two subsidies for a resident against the
// active rules. Readable by staff who may read the resident and by the
// resident themself.
func (s *Service) Eligibility(ctx context.Context, residentID uuid.UUID) (*Eligibility, error) {
	if _, err := auth.RequireViewer(ctx); err != nil {
		return nil, err
	}
	res, err := findResident(ctx, s.db, residentID, false)
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, problem.BadInput("resident not found")
	}
	if _, err := requireRead(ctx, res.ID, res.OrgPath); err != nil {
		return nil, err
	}
	today := s.today()
	certs, err := findCertificates(ctx, certQuery(ctx, s.db).
		Where("c.resident_id = ? AND "+CurrentOnSQL("c", "?"), res.ID, today))
	if err != nil {
		return nil, err
	}
	rules, err := s.loadRules(ctx, true)
	if err != nil {
		return nil, err
	}
	statuses := make([]resident.Status, len(res.Statuses))
	for i, x := range res.Statuses {
		statuses[i] = resident.Status(x)
	}
	if statuses, err = s.householdStatuses(ctx, res.ID, statuses); err != nil {
		return nil, err
	}
	var cert *Certificate
	if len(certs) > 0 {
		cert = certs[0]
	}
	return evaluate(cert, statuses, rules), nil
}

// householdStatuses is where a subsidy rule's statuses are decided: 低保
// and 特困 can be a household's (低保家庭), so a disabled member of a 低保
// household qualifies even when the status is recorded on the household
// (or another member's record) rather than their own. The household's
// statuses are the registry's (resident.CurrentStatusesSQL), the same
// union voucher issuance matches.
func (s *Service) householdStatuses(ctx context.Context, id uuid.UUID, own []resident.Status) ([]resident.Status, error) {
	var st pq.StringArray
	if err := s.db.WithContext(ctx).Raw("SELECT "+resident.CurrentStatusesSQL("r")+" FROM resident_facts r WHERE r.id = ?", id).Row().Scan(&st); err != nil {
		return nil, database.Classify(fmt.Errorf("disability: statuses: %w", err))
	}
	out := slices.Clone(own)
	for _, x := range st {
		if !slices.Contains(out, resident.Status(x)) {
			out = append(out, resident.Status(x))
		}
	}
	return out, nil
}

// evaluate applies the rules; each subsidy gets its reasons, yes or no.
func evaluate(cert *Certificate, statuses []resident.Status, rules []*Rule) *Eligibility {
	out := &Eligibility{Reasons: []string{}}
	for _, sub := range []Subsidy{Living, Nursing} {
		name := sub.Chinese()
		if cert == nil {
			out.Reasons = append(out.Reasons, fmt.Sprintf("不符合%s：没有当前有效的残疾人证", name))
			continue
		}
		var matched, missed []string
		for _, r := range rules {
			if r.Subsidy != sub {
				continue
			}
			if f := r.failures(cert, statuses); len(f) > 0 {
				missed = append(missed, fmt.Sprintf("不符合%s（%s）：%s", name, r.Description, strings.Join(f, "；")))
			} else {
				matched = append(matched, fmt.Sprintf("符合%s：%s", name, r.Description))
			}
		}
		switch {
		case len(matched) > 0:
			out.Reasons = append(out.Reasons, matched...)
			if sub == Living {
				out.LivingSubsidy = true
			} else {
				out.NursingSubsidy = true
			}
		case len(missed) > 0:
			out.Reasons = append(out.Reasons, missed...)
		default:
			out.Reasons = append(out.Reasons, fmt.Sprintf("不符合%s：目前没有生效的认定规则", name))
		}
	}
	return out
}

func (s *Service) loadRules(ctx context.Context, activeOnly bool) ([]*Rule, error) {
	var rows []ruleRow
	q := s.db.WithContext(ctx).Order("subsidy, code")
	if activeOnly {
		q = q.Where("active")
	}
	if err := q.Find(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	out := make([]*Rule, len(rows))
	for i, r := range rows {
		out[i] = r.rule()
	}
	return out, nil
}

// Rules lists every subsidy rule, inactive ones included (staff).
func (s *Service) Rules(ctx context.Context) ([]*Rule, error) {
	if _, err := policy.Require(ctx, policy.ReadSubsidies); err != nil {
		return nil, err
	}
	return s.loadRules(ctx, false)
}

// Rule returns one subsidy rule by id (for node(id:), since audit entries
// name rules by id), nil when there is none. It asks Rules, so the same
// viewers may read it; there are a handful of rules.
func (s *Service) Rule(ctx context.Context, id uuid.UUID) (*Rule, error) {
	rules, err := s.Rules(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if r.ID == id {
			return r, nil
		}
	}
	return nil, nil
}

var ruleCode = regexp.MustCompile(`^[A-Z0-9_]{2,64}$`)

// UpsertRule creates or replaces the rule with in.Code (ADMIN). The change
// applies to the next evaluation; no code changes.
func (s *Service) UpsertRule(ctx context.Context, in Rule) (*Rule, error) {
	if _, err := policy.Require(ctx, policy.ManageSubsidyRules); err != nil {
		return nil, err
	}
	var errs problem.UserErrors
	if !ruleCode.MatchString(in.Code) {
		errs = append(errs, problem.New(problem.Invalid, "code must be 2-64 upper-case letters, digits or '_'", "input", "code"))
	}
	if in.Subsidy != Living && in.Subsidy != Nursing {
		errs = append(errs, problem.New(problem.Invalid, "unknown subsidy", "input", "subsidy"))
	}
	grades := pq.Int64Array{}
	for _, g := range in.Grades {
		if g < 1 || g > 4 {
			errs = append(errs, problem.New(problem.Invalid, "grades must be 1 to 4", "input", "grades"))
			break
		}
		grades = append(grades, int64(g))
	}
	cats := pq.StringArray{}
	for _, c := range in.Categories {
		cats = append(cats, string(c))
	}
	sts := pq.StringArray{}
	for _, x := range in.RequiredStatuses {
		sts = append(sts, string(x))
	}
	excl := pq.StringArray{}
	for _, x := range in.ExcludedStatuses {
		if slices.Contains(in.RequiredStatuses, x) {
			errs = append(errs, problem.New(problem.Invalid, "同一身份不能既是必需条件又是排除条件", "input", "excludedStatuses"))
			break
		}
		excl = append(excl, string(x))
	}
	if in.Basis != nil {
		b := strings.TrimSpace(*in.Basis)
		if n := len([]rune(b)); n < 1 || n > 500 {
			errs = append(errs, problem.New(problem.Invalid, "政策依据须为 1 至 500 字", "input", "basis"))
		}
		in.Basis = &b
	}
	in.Description = strings.TrimSpace(in.Description)
	if n := len([]rune(in.Description)); n < 1 || n > 200 {
		errs = append(errs, problem.New(problem.Invalid, "the description must be 1 to 200 characters", "input", "description"))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	row := ruleRow{ID: uuid.Must(uuid.NewV7()), Code: in.Code, Subsidy: string(in.Subsidy), Grades: grades, Categories: cats,
		RequiredStatuses: sts, ExcludedStatuses: excl, Basis: in.Basis, Description: in.Description, Active: in.Active, UpdatedAt: s.now()}
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if err := tx.WithContext(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "code"}},
			DoUpdates: clause.AssignmentColumns([]string{"subsidy", "grades", "categories", "required_statuses", "excluded_statuses", "basis", "description", "active", "updated_at"}),
		}).Create(&row).Error; err != nil {
			return database.Classify(fmt.Errorf("disability: upsert rule: %w", err))
		}
		// Read back into a fresh row: on conflict the stored id is the old one.
		row = ruleRow{}
		if err := tx.WithContext(ctx).Where("code = ?", in.Code).Take(&row).Error; err != nil {
			return database.Classify(err)
		}
		return audit.Record(ctx, tx, audit.ActionUpsertDisabilitySubsidyRule, audit.EntityDisabilitySubsidyRule, &row.ID,
			map[string]any{"code": row.Code, "subsidy": row.Subsidy, "grades": row.Grades, "categories": row.Categories,
				"requiredStatuses": row.RequiredStatuses, "excludedStatuses": row.ExcludedStatuses, "active": row.Active})
	})
	if err != nil {
		return nil, err
	}
	return row.rule(), nil
}
