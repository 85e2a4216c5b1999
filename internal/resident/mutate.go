package resident

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/idnumber"
	"github.com/jinjiang/residents/internal/pii"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// ContactInput is an emergency contact as typed in.
type ContactInput struct {
	Name, Relation, Phone string
	Priority              *int
}

// NewResident is registerResident's input.
type NewResident struct {
	Name        string
	IDNumber    string
	Phone       *string
	Address     *string
	CommunityID uuid.UUID
	GridID      *uuid.UUID
	Statuses    []Status
	CareLevel   *CareLevel
	Contacts    []ContactInput
}

// Update is updateResident's input; nil fields are left unchanged.
type Update struct {
	ID          uuid.UUID
	Version     *int
	Phone       *string
	Address     *string
	CommunityID *uuid.UUID
	GridID      *uuid.UUID
	Statuses    []Status
	SetStatuses bool
	CareLevel   *CareLevel
	Contacts    []ContactInput
	SetContacts bool
}

var errConflict = problem.New(problem.Conflict, "该记录已被他人修改，请刷新后重试 (the record was changed by someone else; reload and retry)", "input", "version")

// Register adds a resident. ADMIN and CLERK register anywhere, CASE_WORKER
// inside their subtree.
func (s *Service) Register(ctx context.Context, in NewResident) (*Resident, error) {
	v, err := policy.Require(ctx, policy.EditResident)
	if err != nil {
		return nil, err
	}
	var ues problem.UserErrors
	in.Name = strings.TrimSpace(in.Name)
	if !validName(in.Name) {
		ues = append(ues, problem.New(problem.Invalid, "姓名须为1至64个字符 (name must be 1 to 64 characters)", "input", "name"))
	}
	num, perr := idnumber.Parse(in.IDNumber, s.now())
	if perr != nil {
		ues = append(ues, problem.New(problem.InvalidIDNumber, "身份证号码无效 (not a valid resident identity number): "+reasonOf(perr), "input", "idNumber"))
	}
	row := residentRow{ID: uuid.Must(uuid.NewV7()), Name: in.Name, NameTerms: SearchTerms(in.Name), Address: trimmed(in.Address), Version: 1,
		Statuses: statusArray(in.Statuses), CareLevel: string(Intact), CreatedAt: s.now(), UpdatedAt: s.now()}
	if in.CareLevel != nil {
		row.CareLevel = string(*in.CareLevel)
	}
	if ue := s.setPhone(&row, in.Phone); ue != nil {
		ues = append(ues, ue)
	}
	contacts, cues := s.contactRows(row.ID, in.Contacts)
	ues = append(ues, cues...)
	if ue, err := placeResident(ctx, s.db, &row, in.CommunityID, in.GridID); err != nil {
		return nil, err
	} else if ue != nil {
		ues = append(ues, ue)
	}
	if len(ues) > 0 {
		return nil, ues
	}
	if err := editScope(v, row.OrgPath, "input", "communityId"); err != nil {
		return nil, err
	}
	if err := s.setIDNumber(&row, num); err != nil {
		return nil, err
	}
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if err := s.lockPlace(ctx, tx, v, &row); err != nil {
			return err
		}
		if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
			return err
		}
		if len(contacts) > 0 {
			if err := tx.WithContext(ctx).Create(&contacts).Error; err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx, audit.ActionRegisterResident, audit.EntityResident, &row.ID, nil)
	})
	if c, ok := database.IsUniqueViolation(err); ok && c == "residents_id_number_bidx_key" {
		dup := &DuplicateError{UserError: problem.New(problem.Duplicate, "该身份证号码已登记 (a resident with this ID number is already registered)", "input", "idNumber")}
		existing, err := findByIDIndex(ctx, s.db, row.IDNumberBidx)
		if err != nil {
			return nil, err
		}
		if existing != nil {
			if a, err := s.viewOf(ctx, v, existing.ID, existing.OrgPath); err != nil {
				return nil, err
			} else if a != policy.ViewNone {
				dup.Existing = &existing.ID
			}
		}
		return nil, dup
	}
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: register: %w", err))
	}
	return row.resident().apply(policy.ViewFull), nil
}

// Update edits a resident with optimistic locking: the update applies only
// to the version it was based on (the given one, else the one read), so of
// two concurrent edits the second gets CONFLICT instead of overwriting.
func (s *Service) Update(ctx context.Context, in Update) (*Resident, error) {
	v, err := policy.Require(ctx, policy.EditResident)
	if err != nil {
		return nil, err
	}
	row, err := findByID(ctx, s.db, in.ID)
	if err != nil {
		return nil, err
	}
	if row == nil {
		return nil, problem.New(problem.NotFound, "no such resident", "input", "id")
	}
	if err := editScope(v, row.OrgPath, "input", "id"); err != nil {
		return nil, err
	}
	base := row.Version
	if in.Version != nil {
		if *in.Version != row.Version {
			return nil, errConflict
		}
		base = *in.Version
	}
	var ues problem.UserErrors
	if in.Phone != nil {
		if ue := s.setPhone(row, in.Phone); ue != nil {
			ues = append(ues, ue)
		}
	}
	if in.Address != nil {
		row.Address = trimmed(in.Address)
	}
	if in.CommunityID != nil || in.GridID != nil {
		comm, grid := row.CommunityID, in.GridID
		if in.CommunityID != nil {
			comm = *in.CommunityID
		}
		if ue, err := placeResident(ctx, s.db, row, comm, grid); err != nil {
			return nil, err
		} else if ue != nil {
			ues = append(ues, ue)
		}
	}
	// Statuses and the care level decide benefits: they change only by a
	// checked change (requestFactChange). A form that sends them unchanged
	// is fine.
	if in.SetStatuses && !sameStatuses(row.Statuses, statusArray(in.Statuses)) {
		ues = append(ues, errCheckedChange("statuses"))
	}
	if in.CareLevel != nil && string(*in.CareLevel) != row.CareLevel {
		ues = append(ues, errCheckedChange("careLevel"))
	}
	var contacts []contactRow
	if in.SetContacts {
		var cues problem.UserErrors
		contacts, cues = s.contactRows(row.ID, in.Contacts)
		ues = append(ues, cues...)
	}
	if len(ues) > 0 {
		return nil, ues
	}
	if err := editScope(v, row.OrgPath, "input", "communityId"); err != nil {
		return nil, err
	}
	row.Version, row.UpdatedAt = base+1, s.now()
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if in.CommunityID != nil || in.GridID != nil {
			if err := s.lockPlace(ctx, tx, v, row); err != nil {
				return err
			}
		}
		set := map[string]any{"address": row.Address, "community_id": row.CommunityID, "grid_id": row.GridID,
			"org_path": row.OrgPath, "version": row.Version,
			"updated_at": row.UpdatedAt}
		if in.Phone != nil {
			set["phone_enc"], set["phone_bidx"], set["phone_masked"] = row.PhoneEnc, row.PhoneBidx, row.PhoneMasked
		}
		res := tx.WithContext(ctx).Model(&residentRow{}).Where("id = ? AND version = ?", row.ID, base).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errConflict
		}
		if in.SetContacts {
			if err := tx.WithContext(ctx).Where("resident_id = ?", row.ID).Delete(&contactRow{}).Error; err != nil {
				return err
			}
			if len(contacts) > 0 {
				if err := tx.WithContext(ctx).Create(&contacts).Error; err != nil {
					return err
				}
			}
		}
		return audit.Record(ctx, tx, audit.ActionUpdateResident, audit.EntityResident, &row.ID, map[string]any{"version": row.Version})
	})
	if errors.Is(err, errConflict) {
		return nil, errConflict
	}
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: update: %w", err))
	}
	return row.resident().apply(policy.ViewFull), nil
}

// validName is the registry's rule for a (trimmed) name.
func validName(name string) bool {
	n := utf8.RuneCountInString(name)
	return n >= 1 && n <= 64
}

// setIDNumber stores a validated ID number encrypted, blind-indexed and
// masked, with the birth date and gender it encodes.
func (s *Service) setIDNumber(row *residentRow, num idnumber.Number) error {
	idn := num.String()
	enc, err := s.keys.Encrypt(idn, PurposeIDNumber)
	if err != nil {
		return err
	}
	row.IDNumberEnc, row.IDNumberBidx, row.IDNumberMasked = enc, s.keys.BlindIndex(PurposeIDNumber, idn), pii.MaskIDNumber(idn)
	b := num.BirthDate()
	row.BirthDate, row.Gender = civil.Date{Year: b.Year(), Month: b.Month(), Day: b.Day()}, genderOf(num)
	return nil
}

// setPhone validates and stores a phone number; "" clears it.
func (s *Service) setPhone(row *residentRow, phone *string) *problem.UserError {
	if phone == nil {
		return nil
	}
	if strings.TrimSpace(*phone) == "" {
		row.PhoneEnc, row.PhoneBidx, row.PhoneMasked = nil, nil, nil
		return nil
	}
	p, err := pii.NormalizePhone(*phone)
	if err != nil {
		return problem.New(problem.Invalid, "电话号码无效 (not a valid phone number)", "input", "phone")
	}
	enc, err := s.keys.Encrypt(p, PurposePhone)
	if err != nil {
		return problem.New(problem.Invalid, "phone could not be stored", "input", "phone")
	}
	m := pii.MaskPhone(p)
	row.PhoneEnc, row.PhoneBidx, row.PhoneMasked = &enc, s.keys.BlindIndex(PurposePhone, p), &m
	return nil
}

// placeResident checks the community (and grid inside it) as db reads
// them, and sets the row's place and org path. Read through a transaction
// with a share lock (lockPlace), the units are held until it commits,
// community first (as retiring a community locks it and then its grids).
func placeResident(ctx context.Context, db *gorm.DB, row *residentRow, communityID uuid.UUID, gridID *uuid.UUID) (*problem.UserError, error) {
	c, err := findUnit(ctx, db, communityID)
	if err != nil {
		return nil, err
	}
	if c == nil || c.Kind != "COMMUNITY" {
		return problem.New(problem.Invalid, "communityId must name a community", "input", "communityId"), nil
	}
	if c.RetiredAt != nil {
		return problem.New(problem.InvalidTransition, "该社区已撤销，不再接收居民", "input", "communityId"), nil
	}
	row.CommunityID, row.GridID, row.OrgPath = c.ID, nil, c.Path
	if gridID != nil {
		g, err := findUnit(ctx, db, *gridID)
		if err != nil {
			return nil, err
		}
		if g == nil || g.Kind != "GRID" || g.ParentID == nil || *g.ParentID != c.ID {
			return problem.New(problem.Invalid, "gridId must name a grid of the community", "input", "gridId"), nil
		}
		if g.RetiredAt != nil {
			return problem.New(problem.InvalidTransition, "该网格已撤销，不再接收居民", "input", "gridId"), nil
		}
		row.GridID, row.OrgPath = &g.ID, g.Path
	}
	return nil, nil
}

// lockPlace checks again, in the transaction that writes the resident, the
// community and grid checked before it (placeResident again, the units
// held with a share lock until the commit). A unit retired or moved
// meanwhile has committed (retiring and moving lock the unit's row for
// update), so a registration or move in cannot land in a unit just
// retired (its occupancy was counted without this resident), and the path
// stored is the unit's path now. Retiring or moving the unit after this
// waits for the commit, and then counts or moves this resident too.
func (s *Service) lockPlace(ctx context.Context, tx *gorm.DB, v *auth.Viewer, row *residentRow) error {
	if ue, err := placeResident(ctx, tx.Clauses(clause.Locking{Strength: "SHARE"}), row, row.CommunityID, row.GridID); err != nil || ue != nil {
		if err != nil {
			return err
		}
		return ue
	}
	return editScope(v, row.OrgPath, "input", "communityId")
}

// contactRows validates and encrypts emergency contacts; priority defaults
// to the position in the list (1-based).
func (s *Service) contactRows(residentID uuid.UUID, in []ContactInput) ([]contactRow, problem.UserErrors) {
	var ues problem.UserErrors
	if len(in) > 10 {
		return nil, problem.UserErrors{problem.New(problem.Invalid, "at most 10 emergency contacts", "input", "emergencyContacts")}
	}
	rows := make([]contactRow, 0, len(in))
	for i, c := range in {
		idx := strconv.Itoa(i)
		name, rel := strings.TrimSpace(c.Name), strings.TrimSpace(c.Relation)
		if n := utf8.RuneCountInString(name); n < 1 || n > 64 {
			ues = append(ues, problem.New(problem.Invalid, "contact name must be 1 to 64 characters", "input", "emergencyContacts", idx, "name"))
		}
		if n := utf8.RuneCountInString(rel); n < 1 || n > 32 {
			ues = append(ues, problem.New(problem.Invalid, "relation must be 1 to 32 characters", "input", "emergencyContacts", idx, "relation"))
		}
		prio := i + 1
		if c.Priority != nil {
			if *c.Priority < 1 || *c.Priority > 100 {
				ues = append(ues, problem.New(problem.Invalid, "priority must be between 1 and 100", "input", "emergencyContacts", idx, "priority"))
			}
			prio = *c.Priority
		}
		p, err := pii.NormalizePhone(c.Phone)
		if err != nil {
			ues = append(ues, problem.New(problem.Invalid, "电话号码无效 (not a valid phone number)", "input", "emergencyContacts", idx, "phone"))
			continue
		}
		enc, err := s.keys.Encrypt(p, PurposeContactPhone)
		if err != nil {
			ues = append(ues, problem.New(problem.Invalid, "phone could not be stored", "input", "emergencyContacts", idx, "phone"))
			continue
		}
		rows = append(rows, contactRow{ID: uuid.Must(uuid.NewV7()), ResidentID: residentID, Name: name, Relation: rel,
			PhoneEnc: enc, PhoneMasked: pii.MaskPhone(p), Priority: prio})
	}
	return rows, ues
}

func errCheckedChange(field string) *problem.UserError {
	return problem.New(problem.Invalid, "状态和能力等级须通过变更申请修改，经另一名工作人员审核后生效 (statuses and the care level change only by a change request, requestFactChange, approved by someone else)", "input", field)
}

func sameStatuses(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func reasonOf(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

func genderOf(n idnumber.Number) string {
	if n.Gender() == idnumber.Female {
		return string(Female)
	}
	return string(Male)
}

func statusArray(st []Status) pq.StringArray {
	out := make(pq.StringArray, 0, len(st))
	seen := map[Status]bool{}
	for _, x := range st {
		if !seen[x] {
			seen[x] = true
			out = append(out, string(x))
		}
	}
	return out
}

func trimmed(s *string) *string {
	if s == nil {
		return nil
	}
	t := strings.TrimSpace(*s)
	if t == "" {
		return nil
	}
	return &t
}

// DuplicateError is registerResident's DUPLICATE, with the resident already
// registered under the number when the viewer may see them (a counter opens
// that record instead of typing it again); nil Existing otherwise.
type DuplicateError struct {
	*problem.UserError
	Existing *uuid.UUID
}

// Unwrap lets problem.AsUserErrors find the user error.
func (e *DuplicateError) Unwrap() error { return e.UserError }
