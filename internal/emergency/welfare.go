package emergency

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/notify"
	"github.com/jinjiang/residents/internal/page"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// Welfare calls: scheduled outbound checks on elders living alone (独居)
// or with an empty nest (空巢).

// WelfareOutcome is how a welfare call went.
type WelfareOutcome string

// Welfare outcomes. NO_ANSWER and UNREACHABLE are missed checks.
const (
	WelfareWell        WelfareOutcome = "WELL"
	WelfareNeedsHelp   WelfareOutcome = "NEEDS_HELP"
	WelfareNoAnswer    WelfareOutcome = "NO_ANSWER"
	WelfareUnreachable WelfareOutcome = "UNREACHABLE"
)

// Missed reports whether the outcome is a missed check.
func (o WelfareOutcome) Missed() bool { return o == WelfareNoAnswer || o == WelfareUnreachable }

var welfareOutcomes = map[WelfareOutcome]bool{WelfareWell: true, WelfareNeedsHelp: true, WelfareNoAnswer: true, WelfareUnreachable: true}

// DefaultWelfareIntervalDays is the default: weekly.
const DefaultWelfareIntervalDays = 7

// EscalateAfterMissed is how many missed checks in a row escalate to the
// grid's case worker.
const EscalateAfterMissed = 2

// welfareStatuses are the statuses that put an elder on the welfare list.
const welfareStatuses = "ARRAY['LIVING_ALONE','EMPTY_NEST']::text[]"

// WelfareDue is one elder on the welfare-call list.
type WelfareDue struct {
	ResidentID    uuid.UUID
	DueOn         civil.Date
	IntervalDays  int
	MissedInRow   int
	LastCheckedAt *time.Time
	LastOutcome   *WelfareOutcome
}

// WelfareCheck is one welfare call made.
type WelfareCheck struct {
	ID          uuid.UUID
	ResidentID  uuid.UUID
	DueOn       civil.Date
	CheckedAt   time.Time
	Outcome     WelfareOutcome
	Note        *string
	MissedInRow int
	// Escalated says this check raised an escalation to the case worker.
	Escalated bool
	NextDueOn civil.Date
}

// WelfareEscalation is a case worker's work item: an elder missed two
// welfare calls in a row.
type WelfareEscalation struct {
	ID         uuid.UUID
	ResidentID uuid.UUID
	RaisedAt   time.Time
	ResolvedAt *time.Time
	Resolution *string
}

type planRow struct {
	ResidentID   uuid.UUID `gorm:"primaryKey"`
	IntervalDays int
	NextDueOn    civil.Date
	MissedInRow  int
	UpdatedAt    time.Time
}

func (planRow) TableName() string { return "welfare_check_plans" }

type welfareCheckRow struct {
	ID         uuid.UUID
	ResidentID uuid.UUID
	DueOn      civil.Date
	CheckedAt  time.Time
	OperatorID uuid.UUID
	Outcome    string
	Note       *string
}

func (welfareCheckRow) TableName() string { return "welfare_checks" }

type escalationRow struct {
	ID         uuid.UUID
	ResidentID uuid.UUID
	OrgPath    string
	CheckID    uuid.UUID
	RaisedAt   time.Time
	ResolvedAt *time.Time
	ResolvedBy *uuid.UUID
	Resolution *string
}

func (escalationRow) TableName() string { return "welfare_escalations" }

func (r escalationRow) escalation() *WelfareEscalation {
	return &WelfareEscalation{ID: r.ID, ResidentID: r.ResidentID, RaisedAt: r.RaisedAt, ResolvedAt: r.ResolvedAt, Resolution: r.Resolution}
}

// welfareListSQL is the list: living elders with either status in the
// scope, whose plan is due by @today (no plan: due today, weekly), after
// the keyset position @after, by id. %s is the scope's predicate.
const welfareListSQL = `
SELECT r.id AS resident_id, COALESCE(p.next_due_on, CAST(@today AS date)) AS due_on,
       COALESCE(p.interval_days, 7) AS interval_days, COALESCE(p.missed_in_row, 0) AS missed_in_row,
       lc.checked_at AS last_checked_at, lc.outcome AS last_outcome
  FROM resident_facts r
  LEFT JOIN welfare_check_plans p ON p.resident_id = r.id
  LEFT JOIN LATERAL (SELECT checked_at, outcome FROM welfare_checks w WHERE w.resident_id = r.id
                      ORDER BY checked_at DESC LIMIT 1) lc ON true
 WHERE r.living AND r.statuses && ` + welfareStatuses + `
   AND (p.next_due_on IS NULL OR p.next_due_on <= CAST(@today AS date))
   AND r.id > @after AND %s
 ORDER BY r.id
 LIMIT @limit`

// WelfareList is the operator's work list: elders due a welfare call
// today (Asia/Shanghai) or overdue, by resident id.
func (s *Service) WelfareList(ctx context.Context, p page.Request) (page.Result[*WelfareDue], error) {
	v, err := policy.Require(ctx, policy.PerformWelfareChecks)
	if err != nil {
		return page.Result[*WelfareDue]{}, err
	}
	where, wargs := policy.ScopeOf(v, policy.PerformWelfareChecks).Where("r.org_path", "r.id")
	after := uuid.Nil
	if p.After != nil {
		after = *p.After
	}
	args := []any{map[string]any{"today": civil.DateOf(s.now()).String(), "after": after, "limit": p.First + 1}}
	q := fmt.Sprintf(welfareListSQL, where)
	if len(wargs) > 0 {
		// the scope's ? placeholders become named ones
		for i, a := range wargs {
			name := fmt.Sprintf("scope%d", i)
			q = strings.Replace(q, "?", "@"+name, 1)
			args[0].(map[string]any)[name] = a
		}
	}
	var rows []struct {
		ResidentID    uuid.UUID
		DueOn         civil.Date
		IntervalDays  int
		MissedInRow   int
		LastCheckedAt *time.Time
		LastOutcome   *string
	}
	if err := s.db.WithContext(ctx).Raw(q, args...).Scan(&rows).Error; err != nil {
		return page.Result[*WelfareDue]{}, fmt.Errorf("emergency: welfare list: %w", database.Classify(err))
	}
	items := make([]*WelfareDue, len(rows))
	for i, r := range rows {
		items[i] = &WelfareDue{ResidentID: r.ResidentID, DueOn: r.DueOn, IntervalDays: r.IntervalDays, MissedInRow: r.MissedInRow,
			LastCheckedAt: r.LastCheckedAt}
		if r.LastOutcome != nil {
			o := WelfareOutcome(*r.LastOutcome)
			items[i].LastOutcome = &o
		}
	}
	return page.Trim(p, items), nil
}

// welfareSubject loads a resident who is on the welfare list (living,
// 独居 or 空巢) as a policy subject.
func welfareSubject(ctx context.Context, tx *gorm.DB, id uuid.UUID) (policy.Subject, error) {
	var rows []struct {
		OrgPath string
		On      bool
	}
	if err := tx.WithContext(ctx).Raw("SELECT org_path, (living AND statuses && "+welfareStatuses+") AS on FROM resident_facts WHERE id = ?", id).
		Scan(&rows).Error; err != nil {
		return policy.Subject{}, fmt.Errorf("emergency: resident: %w", database.Classify(err))
	}
	if len(rows) == 0 {
		return policy.Subject{}, problem.New(problem.NotFound, "未找到该居民 (resident not found)", "input", "residentId")
	}
	if !rows[0].On {
		return policy.Subject{}, problem.New(problem.NotEligible, "关爱回访只针对在世的独居、空巢老人 (welfare calls are for living elders who live alone or with an empty nest)", "input", "residentId")
	}
	return policy.Subject{ID: id, OrgPath: rows[0].OrgPath}, nil
}

// lockPlan returns the resident's plan locked, created (weekly, due
// today) if there was none.
func lockPlan(ctx context.Context, tx *gorm.DB, id uuid.UUID, today civil.Date, now time.Time) (*planRow, error) {
	if err := tx.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&planRow{ResidentID: id, IntervalDays: DefaultWelfareIntervalDays, NextDueOn: today, UpdatedAt: now}).Error; err != nil {
		return nil, fmt.Errorf("emergency: welfare plan: %w", database.Classify(err))
	}
	var p planRow
	if err := tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("resident_id = ?", id).Take(&p).Error; err != nil {
		return nil, fmt.Errorf("emergency: welfare plan: %w", database.Classify(err))
	}
	return &p, nil
}

// SetWelfareInterval sets how often an elder gets a welfare call (1 to 90
// days); the next call falls due that many days after the last one (or
// stays due today when there was none).
func (s *Service) SetWelfareInterval(ctx context.Context, residentID uuid.UUID, days int) (*WelfareDue, error) {
	v, err := policy.Require(ctx, policy.ScheduleWelfareChecks)
	if err != nil {
		return nil, err
	}
	if days < 1 || days > 90 {
		return nil, problem.New(problem.Invalid, "回访间隔须在 1 至 90 天之间 (intervalDays must be 1 to 90)", "input", "intervalDays")
	}
	var out *WelfareDue
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		subj, err := welfareSubject(ctx, tx, residentID)
		if err != nil {
			return err
		}
		if ok, _ := policy.On(v, policy.ScheduleWelfareChecks, subj); !ok {
			return policy.OutOfJurisdiction("input", "residentId")
		}
		now := s.now()
		today := civil.DateOf(now)
		p, err := lockPlan(ctx, tx, residentID, today, now)
		if err != nil {
			return err
		}
		next := p.NextDueOn
		var last []welfareCheckRow
		if err := tx.WithContext(ctx).Where("resident_id = ?", residentID).Order("checked_at DESC").Limit(1).Find(&last).Error; err != nil {
			return fmt.Errorf("emergency: welfare checks: %w", database.Classify(err))
		}
		if len(last) == 1 && p.MissedInRow == 0 {
			next = civil.DateOf(last[0].CheckedAt).AddDays(days)
		}
		if err := tx.WithContext(ctx).Model(&planRow{}).Where("resident_id = ?", residentID).
			Updates(map[string]any{"interval_days": days, "next_due_on": next, "updated_at": now}).Error; err != nil {
			return fmt.Errorf("emergency: welfare plan: %w", database.Classify(err))
		}
		out = &WelfareDue{ResidentID: residentID, DueOn: next, IntervalDays: days, MissedInRow: p.MissedInRow}
		return audit.Record(ctx, tx, audit.ActionSetWelfareCheckInterval, audit.EntityResident, &residentID, map[string]any{"intervalDays": days})
	})
	return out, err
}

// RecordWelfareCheck records a welfare call's outcome. A check reached
// (WELL, NEEDS_HELP) schedules the next one an interval later and resets
// the missed count; a missed one (NO_ANSWER, UNREACHABLE) is tried again
// the next day, and the second missed in a row raises an escalation to
// the grid's case worker (welfareEscalations), one open at a time.
func (s *Service) RecordWelfareCheck(ctx context.Context, residentID uuid.UUID, outcome WelfareOutcome, note *string) (*WelfareCheck, error) {
	v, err := policy.Require(ctx, policy.PerformWelfareChecks)
	if err != nil {
		return nil, err
	}
	if !welfareOutcomes[outcome] {
		return nil, problem.New(problem.Invalid, "未知的回访结果 (unknown outcome)", "input", "outcome")
	}
	n := strings.TrimSpace(deref(note))
	if utf8.RuneCountInString(n) > 1000 {
		return nil, problem.New(problem.Invalid, "备注不能超过 1000 字 (note must be at most 1000 characters)", "input", "note")
	}
	var out *WelfareCheck
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		subj, err := welfareSubject(ctx, tx, residentID)
		if err != nil {
			return err
		}
		if ok, _ := policy.On(v, policy.PerformWelfareChecks, subj); !ok {
			return policy.OutOfJurisdiction("input", "residentId")
		}
		now := s.now()
		today := civil.DateOf(now)
		p, err := lockPlan(ctx, tx, residentID, today, now)
		if err != nil {
			return err
		}
		row := welfareCheckRow{ID: uuid.Must(uuid.NewV7()), ResidentID: residentID, DueOn: p.NextDueOn, CheckedAt: now,
			OperatorID: v.ID, Outcome: string(outcome)}
		if n != "" {
			row.Note = &n
		}
		if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
			return fmt.Errorf("emergency: welfare check: %w", database.Classify(err))
		}
		missed, next := 0, today.AddDays(p.IntervalDays)
		if outcome.Missed() {
			missed, next = p.MissedInRow+1, today.AddDays(1)
		}
		if err := tx.WithContext(ctx).Model(&planRow{}).Where("resident_id = ?", residentID).
			Updates(map[string]any{"missed_in_row": missed, "next_due_on": next, "updated_at": now}).Error; err != nil {
			return fmt.Errorf("emergency: welfare plan: %w", database.Classify(err))
		}
		out = &WelfareCheck{ID: row.ID, ResidentID: residentID, DueOn: row.DueOn, CheckedAt: now, Outcome: outcome, Note: row.Note,
			MissedInRow: missed, NextDueOn: next}
		if missed >= EscalateAfterMissed {
			esc := escalationRow{ID: uuid.Must(uuid.NewV7()), ResidentID: residentID, OrgPath: subj.OrgPath, CheckID: row.ID, RaisedAt: now}
			res := tx.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&esc)
			if res.Error != nil {
				return fmt.Errorf("emergency: welfare escalation: %w", database.Classify(res.Error))
			}
			out.Escalated = res.RowsAffected == 1
			// The family hears of a new escalation as of an alarm (the
			// ALARMS proxies, the first emergency contact), once per
			// escalation: further missed calls while it is open add none.
			if out.Escalated {
				if err := notify.ForResident(ctx, tx, notify.WelfareCheckMissed, residentID,
					map[string]any{"escalationId": esc.ID, "at": now}, now); err != nil {
					return err
				}
			}
		}
		return audit.Record(ctx, tx, audit.ActionRecordWelfareCheck, audit.EntityResident, &residentID,
			map[string]any{"outcome": outcome, "missedInRow": missed, "escalated": out.Escalated})
	})
	return out, err
}

// WelfareEscalations lists escalations in the viewer's reach (the case
// worker's grid or street), open ones only unless all, newest first.
func (s *Service) WelfareEscalations(ctx context.Context, all bool, p page.Request) (page.Result[*WelfareEscalation], error) {
	v, err := policy.Require(ctx, policy.HandleWelfareEscalations)
	if err != nil {
		return page.Result[*WelfareEscalation]{}, err
	}
	where, args := policy.ScopeOf(v, policy.HandleWelfareEscalations).Where("org_path", "resident_id")
	q := s.db.WithContext(ctx).Model(&escalationRow{}).Where(where, args...)
	if !all {
		q = q.Where("resolved_at IS NULL")
	}
	var rows []escalationRow
	if err := page.NewestFirst(q, "id", p).Find(&rows).Error; err != nil {
		return page.Result[*WelfareEscalation]{}, fmt.Errorf("emergency: welfare escalations: %w", database.Classify(err))
	}
	items := make([]*WelfareEscalation, len(rows))
	for i, r := range rows {
		items[i] = r.escalation()
	}
	return page.Trim(p, items), nil
}

// ResolveWelfareEscalation closes an escalation with what the case worker
// did; the elder's missed count starts again.
func (s *Service) ResolveWelfareEscalation(ctx context.Context, id uuid.UUID, resolution string) (*WelfareEscalation, error) {
	v, err := policy.Require(ctx, policy.HandleWelfareEscalations)
	if err != nil {
		return nil, err
	}
	resolution = strings.TrimSpace(resolution)
	if resolution == "" || utf8.RuneCountInString(resolution) > 1000 {
		return nil, problem.New(problem.Invalid, "请填写处理情况（1 至 1000 字）(resolution must be 1 to 1000 characters)", "input", "resolution")
	}
	var out *WelfareEscalation
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		var rows []escalationRow
		if err := tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
			return fmt.Errorf("emergency: welfare escalation: %w", database.Classify(err))
		}
		if len(rows) == 0 {
			return problem.New(problem.NotFound, "未找到该转办事项 (escalation not found)", "input", "id")
		}
		e := rows[0]
		if ok, _ := policy.On(v, policy.HandleWelfareEscalations, policy.Subject{ID: e.ResidentID, OrgPath: e.OrgPath}); !ok {
			return policy.OutOfJurisdiction("input", "id")
		}
		if e.ResolvedAt != nil {
			return problem.New(problem.InvalidTransition, "该转办事项已处理 (already resolved)", "input", "id")
		}
		now := s.now()
		e.ResolvedAt, e.ResolvedBy, e.Resolution = &now, &v.ID, &resolution
		if err := tx.WithContext(ctx).Model(&escalationRow{}).Where("id = ?", id).
			Updates(map[string]any{"resolved_at": now, "resolved_by": v.ID, "resolution": resolution}).Error; err != nil {
			return fmt.Errorf("emergency: resolve escalation: %w", database.Classify(err))
		}
		if err := tx.WithContext(ctx).Model(&planRow{}).Where("resident_id = ?", e.ResidentID).
			Updates(map[string]any{"missed_in_row": 0, "updated_at": now}).Error; err != nil {
			return fmt.Errorf("emergency: welfare plan: %w", database.Classify(err))
		}
		out = e.escalation()
		return audit.Record(ctx, tx, audit.ActionResolveWelfareEscalation, audit.EntityResident, &e.ResidentID,
			map[string]any{"escalationId": e.ID})
	})
	return out, err
}
