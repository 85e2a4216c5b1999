package resident

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/problem"
)

// StatusPeriod is a status held by a resident or a household from Start
// (nil: since before the history began) until Ended (the first day no
// longer held; nil while it holds).
type StatusPeriod struct {
	ID          uuid.UUID
	Status      Status
	HouseholdID *uuid.UUID
	Start       *civil.Date
	Ended       *civil.Date
	RequestID   *uuid.UUID
}

// CareAssessment is a care level from its assessment date (nil: the level
// held before the history began, with no assessment recorded).
type CareAssessment struct {
	ID         uuid.UUID
	Level      CareLevel
	AssessedOn *civil.Date
	Assessor   *string
	Instrument *string
	Score      *int
	RequestID  *uuid.UUID
}

type periodRow struct {
	ID              uuid.UUID
	ResidentID      *uuid.UUID
	HouseholdID     *uuid.UUID
	Status          string
	StartOn         *civil.Date
	EndedOn         *civil.Date
	ChangeRequestID *uuid.UUID
	EndRequestID    *uuid.UUID
}

func (periodRow) TableName() string { return "status_periods" }

type assessmentRow struct {
	ID              uuid.UUID
	ResidentID      uuid.UUID
	Level           string
	AssessedOn      *civil.Date
	Assessor        *string
	Instrument      *string
	Score           *int
	ChangeRequestID *uuid.UUID
}

func (assessmentRow) TableName() string { return "care_assessments" }

// apply makes an approved change, inside the approval's transaction, and
// says what it did (for the audit detail).
func (s *Service) apply(ctx context.Context, tx *gorm.DB, v *auth.Viewer, req *ChangeRequest, sub *subject) (map[string]any, error) {
	c := req.Change
	on := c.EffectiveOn
	db := tx.WithContext(ctx)
	switch req.Kind {
	case ChangeResidentStatus:
		if err := snapshotStatuses(ctx, tx, sub.id, sub.ownStatuses); err != nil {
			return nil, err
		}
		if err := changePeriod(ctx, tx, "resident_id", sub.id, req, "status"); err != nil {
			return nil, err
		}
		op := "array_append(statuses, ?)"
		if c.Action == EndStatus {
			op = "array_remove(statuses, ?)"
		}
		if err := db.Exec("UPDATE residents SET statuses = "+op+", facts_since = greatest(facts_since, ?::date), version = version + 1, updated_at = ? WHERE id = ?",
			string(c.Status), on, s.now(), sub.id).Error; err != nil {
			return nil, err
		}
		return map[string]any{"status": string(c.Status), "action": string(c.Action), "on": on.String()}, nil
	case ChangeHouseholdStatus:
		if err := changePeriod(ctx, tx, "household_id", sub.id, req, "status"); err != nil {
			return nil, err
		}
		op := "array_append(statuses, ?)"
		if c.Action == EndStatus {
			op = "array_remove(statuses, ?)"
		}
		var st pq.StringArray
		if err := db.Raw("UPDATE households SET statuses = "+op+", version = version + 1, updated_at = ? WHERE id = ? RETURNING statuses",
			string(c.Status), s.now(), sub.id).Row().Scan(&st); err != nil {
			return nil, err
		}
		// Every current member holds the household's statuses. Their facts
		// changed on the date, or on the day they joined if later; a former
		// member's, whose membership the date reaches back into, until the
		// day they left (facts_since: from then on the current columns hold).
		res := db.Exec(`UPDATE residents r SET household_statuses = ?, facts_since = greatest(r.facts_since, ?::date, m.joined_on),
			version = r.version + 1, updated_at = ?
			FROM household_members m WHERE m.resident_id = r.id AND m.household_id = ? AND m.left_on IS NULL`, st, on, s.now(), sub.id)
		if res.Error != nil {
			return nil, res.Error
		}
		if err := db.Exec(`UPDATE residents r SET facts_since = greatest(r.facts_since, m.left_on)
			FROM (SELECT resident_id, max(left_on) AS left_on FROM household_members
			      WHERE household_id = ? AND left_on > ?::date GROUP BY resident_id) m
			WHERE m.resident_id = r.id`, sub.id, on).Error; err != nil {
			return nil, err
		}
		return map[string]any{"status": string(c.Status), "action": string(c.Action), "on": on.String(), "members": res.RowsAffected}, nil
	case ChangeCareLevel:
		var n int64
		if err := db.Model(&assessmentRow{}).Where("resident_id = ?", sub.id).Count(&n).Error; err != nil {
			return nil, err
		}
		if n == 0 {
			// What the resident held until now, since before the history began.
			if err := db.Create(&assessmentRow{ID: uuid.Must(uuid.NewV7()), ResidentID: sub.id, Level: sub.careLevel}).Error; err != nil {
				return nil, err
			}
		}
		var latest *civil.Date
		if err := db.Raw("SELECT max(assessed_on) FROM care_assessments WHERE resident_id = ?", sub.id).Row().Scan(&latest); err != nil {
			return nil, err
		}
		if latest != nil && !on.After(*latest) {
			return nil, problem.New(problem.Invalid, fmt.Sprintf("评估日期须晚于上次评估日期 %s (the assessment date must be after the last one, %s)", latest, latest), "input", "effectiveOn")
		}
		a := assessmentRow{ID: uuid.Must(uuid.NewV7()), ResidentID: sub.id, Level: string(c.CareLevel), AssessedOn: &on,
			Assessor: &c.Assessor, Instrument: &c.Instrument, Score: c.Score, ChangeRequestID: &req.ID}
		if err := db.Create(&a).Error; err != nil {
			return nil, err
		}
		if err := db.Exec("UPDATE residents SET care_level = ?, facts_since = greatest(facts_since, ?::date), version = version + 1, updated_at = ? WHERE id = ?",
			string(c.CareLevel), on, s.now(), sub.id).Error; err != nil {
			return nil, err
		}
		return map[string]any{"careLevel": string(c.CareLevel), "from": sub.careLevel, "on": on.String()}, nil
	case ChangeDeath:
		ev, err := s.applyLifeEvent(ctx, tx, v, Death, LifeEventInput{ResidentID: sub.id, On: on, Detail: c.Source}, sub.resident)
		if err != nil {
			return nil, err
		}
		return map[string]any{"lifeEvent": ev.ID, "date": on.String(), "closed": ev.Closed}, nil
	}
	return nil, fmt.Errorf("resident: unknown change kind %q", req.Kind)
}

// snapshotStatuses writes, before a resident's first status change, the
// statuses they held until then as periods without a start.
func snapshotStatuses(ctx context.Context, tx *gorm.DB, id uuid.UUID, held []string) error {
	return tx.WithContext(ctx).Exec(`INSERT INTO status_periods (id, resident_id, status)
		SELECT uuid_v7(), ?, s FROM unnest(?::text[]) AS s
		WHERE NOT EXISTS (SELECT 1 FROM status_periods WHERE resident_id = ?)`, id, pq.StringArray(held), id).Error
}

// changePeriod starts or ends a status period of a resident or household
// (col names which) on the change's date.
func changePeriod(ctx context.Context, tx *gorm.DB, col string, id uuid.UUID, req *ChangeRequest, field string) error {
	c := req.Change
	db := tx.WithContext(ctx)
	if c.Action == GrantStatus {
		// A status granted again may not reach back into its last period.
		var n int64
		if err := db.Model(&periodRow{}).Where(col+" = ? AND status = ? AND ended_on > ?", id, string(c.Status), c.EffectiveOn).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return problem.New(problem.Invalid, "开始日期早于该状态上次结束的日期 (the start is before the status last ended)", "input", "effectiveOn")
		}
		p := periodRow{ID: uuid.Must(uuid.NewV7()), Status: string(c.Status), StartOn: &c.EffectiveOn, ChangeRequestID: &req.ID}
		if col == "household_id" {
			p.HouseholdID = &id
		} else {
			p.ResidentID = &id
		}
		return db.Create(&p).Error
	}
	res := db.Model(&periodRow{}).Where(col+" = ? AND status = ? AND ended_on IS NULL AND (start_on IS NULL OR start_on <= ?)", id, string(c.Status), c.EffectiveOn).
		Updates(map[string]any{"ended_on": c.EffectiveOn, "end_request_id": req.ID})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return problem.New(problem.Invalid, "结束日期早于该状态的开始日期 (the end is before the status started)", "input", "effectiveOn")
	}
	return nil
}

// StatusHistory is a resident's own status periods and those of the
// households they have been in while a member, oldest first. A resident
// whose statuses never changed has no rows: their current statuses are
// answered as periods without a start.
func (s *Service) StatusHistory(ctx context.Context, r *Resident) ([]*StatusPeriod, error) {
	var rows []periodRow
	err := s.db.WithContext(ctx).Where(`resident_id = ? OR household_id IN (SELECT household_id FROM household_members WHERE resident_id = ?)`, r.ID, r.ID).
		Order("start_on NULLS FIRST, id").Find(&rows).Error
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: status history: %w", err))
	}
	out := []*StatusPeriod{}
	own := false
	for _, p := range rows {
		own = own || p.ResidentID != nil
		out = append(out, &StatusPeriod{ID: p.ID, Status: Status(p.Status), HouseholdID: p.HouseholdID, Start: p.StartOn, Ended: p.EndedOn, RequestID: p.ChangeRequestID})
	}
	if !own {
		for _, st := range r.Statuses {
			out = append([]*StatusPeriod{{Status: st}}, out...)
		}
	}
	return out, nil
}

// CareAssessments is a resident's care levels, oldest first; without
// history, the current level without an assessment.
func (s *Service) CareAssessments(ctx context.Context, r *Resident) ([]*CareAssessment, error) {
	var rows []assessmentRow
	if err := s.db.WithContext(ctx).Where("resident_id = ?", r.ID).Order("assessed_on NULLS FIRST").Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("resident: care assessments: %w", err))
	}
	if len(rows) == 0 {
		return []*CareAssessment{{Level: r.CareLevel}}, nil
	}
	out := make([]*CareAssessment, len(rows))
	for i, a := range rows {
		out[i] = &CareAssessment{ID: a.ID, Level: CareLevel(a.Level), AssessedOn: a.AssessedOn, Assessor: a.Assessor,
			Instrument: a.Instrument, Score: a.Score, RequestID: a.ChangeRequestID}
	}
	return out, nil
}

// FactsOn is what the rules read of a resident on a day: their statuses
// (own and their household's) and care level, as voucher issuance reads
// them for a period's first day.
type FactsOn struct {
	Date      civil.Date
	Statuses  []Status
	CareLevel CareLevel
}

// FactsAsOf answers FactsOn for a resident the caller has read, by the
// same SQL issuance uses (StatusesOnSQL, CareLevelOnSQL).
func (s *Service) FactsAsOf(ctx context.Context, id uuid.UUID, on civil.Date) (*FactsOn, error) {
	var st pq.StringArray
	var level string
	err := s.db.WithContext(ctx).Raw("SELECT "+StatusesOnSQL("r", "CAST(? AS date)")+", "+CareLevelOnSQL("r", "CAST(? AS date)")+
		" FROM resident_facts r WHERE r.id = ?", on, on, on, on, id).Row().Scan(&st, &level)
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: facts on: %w", err))
	}
	out := &FactsOn{Date: on, CareLevel: CareLevel(level), Statuses: []Status{}}
	seen := map[string]bool{}
	for _, x := range st {
		if !seen[x] {
			seen[x] = true
			out.Statuses = append(out.Statuses, Status(x))
		}
	}
	return out, nil
}

// HouseholdStatusHistory is a household's status periods, oldest first;
// the caller has read the household.
func (s *Service) HouseholdStatusHistory(ctx context.Context, id uuid.UUID) ([]*StatusPeriod, error) {
	var rows []periodRow
	if err := s.db.WithContext(ctx).Where("household_id = ?", id).Order("start_on NULLS FIRST, id").Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("resident: household status history: %w", err))
	}
	out := make([]*StatusPeriod, len(rows))
	for i, p := range rows {
		out[i] = &StatusPeriod{ID: p.ID, Status: Status(p.Status), HouseholdID: p.HouseholdID, Start: p.StartOn, Ended: p.EndedOn, RequestID: p.ChangeRequestID}
	}
	return out, nil
}
