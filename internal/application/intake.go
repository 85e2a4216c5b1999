package application

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// cleanMaterials trims names and refuses empty or repeated ones.
func cleanMaterials(ms []SubmittedMaterial) ([]SubmittedMaterial, error) {
	out := make([]SubmittedMaterial, 0, len(ms))
	seen := map[string]bool{}
	for _, m := range ms {
		m.Name = strings.TrimSpace(m.Name)
		if m.Name == "" || utf8.RuneCountInString(m.Name) > 64 {
			return nil, problem.New(problem.Invalid, "material names must be 1-64 characters", "materials")
		}
		if m.Reference != nil && len(*m.Reference) > 256 {
			return nil, problem.New(problem.Invalid, "material references are at most 256 characters", "materials")
		}
		if seen[m.Name] {
			return nil, problem.New(problem.Duplicate, "material "+m.Name+" is listed twice", "materials")
		}
		seen[m.Name] = true
		out = append(out, m)
	}
	return out, nil
}

// handling is where an application is decided.
type handling struct {
	id   uuid.UUID
	path string
}

// handlingUnit is the item's department, else the street of the applicant.
func (s *Service) handlingUnit(ctx context.Context, tx *gorm.DB, it *Item, communityID uuid.UUID) (handling, error) {
	if it.DepartmentID != nil {
		u, err := s.org.Unit(ctx, *it.DepartmentID)
		if err != nil {
			return handling{}, fmt.Errorf("application: department: %w", err)
		}
		if u == nil {
			// service_items.department_id references org_units: not reached.
			return handling{}, fmt.Errorf("application: department %s is not an org unit", *it.DepartmentID)
		}
		return handling{u.ID, u.Path}, nil
	}
	street, err := s.org.StreetOf(ctx, tx, communityID)
	if err != nil {
		return handling{}, err
	}
	if street == nil {
		return handling{}, problem.New(problem.Invalid, "the applicant's address lies in no street", "applicantId")
	}
	return handling{street.ID, street.Path}, nil
}

// Submit takes in an application: by a clerk at any center for any resident
// (district-wide items), by the resident themself from the mini-program, or
// by staff inside the handling unit (local items).
func (s *Service) Submit(ctx context.Context, in SubmitInput) (*Application, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	self := policy.IsSelf(v, in.ApplicantID)
	if ok, _ := policy.On(v, policy.SubmitApplication, policy.Subject{ID: in.ApplicantID}); !ok {
		return nil, problem.Forbidden("you may only apply for yourself")
	}
	mats, err := cleanMaterials(in.Materials)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var row applicationRow
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		it, err := itemByCode(ctx, tx, strings.TrimSpace(in.ItemCode))
		if err != nil {
			return err
		}
		var applicant struct{ CommunityID uuid.UUID }
		err = tx.WithContext(ctx).Table("resident_facts").Select("community_id").Where("id = ?", in.ApplicantID).Take(&applicant).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return problem.New(problem.NotFound, "no such resident", "applicantId")
		}
		if err != nil {
			return fmt.Errorf("application: applicant: %w", err)
		}
		h, err := s.handlingUnit(ctx, tx, it, applicant.CommunityID)
		if err != nil {
			return err
		}
		if err := mayTakeIn(v, self, it, h.path); err != nil {
			return err
		}
		if in.CenterID != nil {
			var n int64
			if err := tx.WithContext(ctx).Table("service_centers").Where("id = ?", *in.CenterID).Count(&n).Error; err != nil {
				return fmt.Errorf("application: center: %w", err)
			}
			if n == 0 {
				return problem.New(problem.NotFound, "no such service center", "centerId")
			}
		}
		number, err := nextNumber(ctx, tx, civil.DateOf(now))
		if err != nil {
			return err
		}
		mj, _ := json.Marshal(mats)
		row = applicationRow{ID: uuid.Must(uuid.NewV7()), Number: number, ItemID: it.ID, ApplicantID: in.ApplicantID,
			CenterID: in.CenterID, HandlingUnitID: h.id, HandlingPath: h.path, Status: string(Submitted), Materials: mj,
			SubmittedAt: now, SubmittedBy: v.ID, UpdatedAt: now}
		if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
			return fmt.Errorf("application: insert: %w", err)
		}
		return audit.Record(ctx, tx, audit.ActionSubmitApplication, audit.EntityApplication, &row.ID, map[string]any{"number": number, "item": it.Code})
	})
	if err != nil {
		return nil, database.Classify(err)
	}
	return row.application(s.today())
}

// mayTakeIn decides intake: district-wide items by any clerk or by the
// applicant; local items only by clerks and case workers inside the
// handling unit.
func mayTakeIn(v *auth.Viewer, self bool, it *Item, handlingPath string) error {
	local, _ := policy.On(v, policy.HandleApplication, policy.Subject{OrgPath: handlingPath})
	switch {
	case it.DistrictWide && (self || policy.Allowed(v, policy.TakeDistrictWideApplication)):
		return nil
	case local:
		return nil
	case it.DistrictWide:
		return errOutOfJurisdiction
	}
	return problem.New(problem.OutOfJurisdiction, "this item is taken in only at counters of the handling unit", "itemCode")
}

// nextNumber draws the day's next number. The counter row stays locked
// until the transaction ends, so concurrent submissions queue on it and a
// rolled-back one leaves no gap.
func nextNumber(ctx context.Context, tx *gorm.DB, day civil.Date) (string, error) {
	var n int
	err := tx.WithContext(ctx).Raw(`
		INSERT INTO application_counters (day, last) VALUES (?, 1)
		ON CONFLICT (day) DO UPDATE SET last = application_counters.last + 1
		RETURNING last`, day).Scan(&n).Error
	if err != nil {
		return "", fmt.Errorf("application: number: %w", err)
	}
	return fmt.Sprintf("JJ%04d%02d%02d%06d", day.Year, int(day.Month), day.Day, n), nil
}

// Transition takes one workflow step (see transitions and actor.may).
func (s *Service) Transition(ctx context.Context, in TransitionInput) (*Application, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := transitions[in.Action]; !ok {
		return nil, problem.BadInput("unknown action")
	}
	var note *string
	if in.Note != nil {
		if t := strings.TrimSpace(*in.Note); t != "" {
			if utf8.RuneCountInString(t) > 1000 {
				return nil, problem.New(problem.Invalid, "the note is at most 1000 characters", "note")
			}
			note = &t
		}
	}
	mats, err := cleanMaterials(in.Materials)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out applicationRow
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		var row applicationRow
		err := tx.WithContext(ctx).Raw("SELECT * FROM applications WHERE id = ? FOR UPDATE", in.ID).Scan(&row).Error
		if err != nil {
			return fmt.Errorf("application: lock: %w", err)
		}
		self := row.ID != uuid.Nil && policy.IsSelf(v, row.ApplicantID)
		if row.ID == uuid.Nil || (!self && !policy.Allowed(v, policy.HandleApplication)) {
			if row.ID != uuid.Nil && v.Kind == auth.SubjectUser {
				return problem.Forbidden("your role may not change applications")
			}
			return problem.New(problem.NotFound, "no such application", "id")
		}
		var ir itemRow
		if err := tx.WithContext(ctx).Where("id = ?", row.ItemID).Take(&ir).Error; err != nil {
			return fmt.Errorf("application: item: %w", err)
		}
		it, err := ir.item()
		if err != nil {
			return err
		}
		act := actor{v: v, applicantID: row.ApplicantID, handlingPath: row.HandlingPath, districtWide: it.DistrictWide}
		if err := act.may(in.Action); err != nil {
			return err
		}
		from := Status(row.Status)
		to, err := next(in.Action, from)
		if err != nil {
			return err
		}
		upd, err := s.effects(ctx, tx, &row, it, in.Action, note, mats, now)
		if err != nil {
			return err
		}
		upd["status"], upd["updated_at"] = string(to), now
		if err := tx.WithContext(ctx).Model(&applicationRow{}).Where("id = ?", row.ID).Updates(upd).Error; err != nil {
			return fmt.Errorf("application: update: %w", err)
		}
		ev := eventRow{ID: uuid.Must(uuid.NewV7()), ApplicationID: row.ID, Action: string(in.Action), FromStatus: string(from),
			ToStatus: string(to), ActorKind: string(v.Kind), ActorID: v.ID, ActorName: v.DisplayName, Note: note, At: now}
		if err := tx.WithContext(ctx).Create(&ev).Error; err != nil {
			return fmt.Errorf("application: event: %w", err)
		}
		if err := audit.Record(ctx, tx, audit.ActionTransitionApplication, audit.EntityApplication, &row.ID,
			map[string]any{"action": string(in.Action), "number": row.Number, "from": string(from), "to": string(to)}); err != nil {
			return err
		}
		if err := notifyApplicant(ctx, tx, &row, it, to, note, now); err != nil {
			return err
		}
		return tx.WithContext(ctx).Where("id = ?", row.ID).Take(&out).Error
	})
	if err != nil {
		return nil, database.Classify(err)
	}
	return out.application(s.today())
}

// effects checks an action's own preconditions and returns the columns it
// changes besides the status.
func (s *Service) effects(ctx context.Context, tx *gorm.DB, row *applicationRow, it *Item, action Action, note *string, mats []SubmittedMaterial, now time.Time) (map[string]any, error) {
	upd := map[string]any{}
	switch action {
	case Reject, Deny:
		if note == nil {
			return nil, problem.New(problem.Invalid, "give the reason in the note", "note")
		}
	case Accept:
		var have []SubmittedMaterial
		if err := json.Unmarshal(row.Materials, &have); err != nil {
			return nil, fmt.Errorf("application: materials: %w", err)
		}
		if missing := missingMaterials(it.Materials, have); len(missing) > 0 {
			return nil, problem.New(problem.NotEligible, "required material missing: "+strings.Join(missing, "、"), "materials")
		}
		cal, err := s.calendar(ctx)
		if err != nil {
			return nil, err
		}
		upd["accepted_at"] = now
		upd["deadline"] = cal.AddWorkdays(civil.DateOf(now), it.TimeLimitWorkingDays)
	case Resubmit:
		if len(mats) == 0 {
			return nil, problem.New(problem.Invalid, "resubmit the missing materials", "materials")
		}
		var have []SubmittedMaterial
		if err := json.Unmarshal(row.Materials, &have); err != nil {
			return nil, fmt.Errorf("application: materials: %w", err)
		}
		mj, _ := json.Marshal(mergeMaterials(have, mats))
		upd["materials"] = mj
	case Approve:
		if it.VoucherProgramID != nil {
			if err := s.enroller.EnrollTx(ctx, tx, *it.VoucherProgramID, row.ApplicantID); err != nil {
				return nil, fmt.Errorf("application: enroll on approval: %w", err)
			}
		}
	case Complete:
		upd["completed_at"], upd["completed_on"] = now, civil.DateOf(now)
	case Extend:
		if it.ExtensionWorkingDays == 0 {
			return nil, problem.New(problem.InvalidTransition, "this item cannot be extended", "action")
		}
		if row.Extended {
			return nil, problem.New(problem.InvalidTransition, "the deadline has already been extended once", "action")
		}
		cal, err := s.calendar(ctx)
		if err != nil {
			return nil, err
		}
		upd["deadline"], upd["extended"] = cal.AddWorkdays(*row.Deadline, it.ExtensionWorkingDays), true
	}
	if action == Deny {
		// A denial concludes the case (办结) as completion does.
		upd["completed_at"], upd["completed_on"] = now, civil.DateOf(now)
	}
	return upd, nil
}

// missingMaterials lists the required materials not in have.
func missingMaterials(req []Material, have []SubmittedMaterial) []string {
	got := map[string]bool{}
	for _, h := range have {
		got[h.Name] = true
	}
	var missing []string
	for _, r := range req {
		if r.Required && !got[r.Name] {
			missing = append(missing, r.Name)
		}
	}
	return missing
}

// mergeMaterials replaces materials of the same name and appends new ones.
func mergeMaterials(have, add []SubmittedMaterial) []SubmittedMaterial {
	out := append([]SubmittedMaterial{}, have...)
	for _, a := range add {
		replaced := false
		for i := range out {
			if out[i].Name == a.Name {
				out[i], replaced = a, true
			}
		}
		if !replaced {
			out = append(out, a)
		}
	}
	return out
}
