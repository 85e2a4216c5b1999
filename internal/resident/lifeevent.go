package resident

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/notify"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// LifeEventKind is what happened to a resident.
type LifeEventKind string

// The life events.
const (
	Death   LifeEventKind = "DEATH"
	MoveOut LifeEventKind = "MOVE_OUT"
)

// UndoDeathWindow is how long after a death was recorded an ADMIN may undo
// it as a mistake. Past it, the record stands: benefits have been settled on
// it by then.
const UndoDeathWindow = 30 * 24 * time.Hour

// LifeEvent is a recorded death or move out of the district, with what it
// closed in every domain (Closed: a count per kind of thing, e.g.
// "vouchersVoided").
type LifeEvent struct {
	ID         uuid.UUID
	ResidentID uuid.UUID
	Kind       LifeEventKind
	On         civil.Date
	// Detail is the source of a death report, or the destination of a move.
	Detail     string
	Closed     map[string]int64
	RecordedBy uuid.UUID
	RecordedAt time.Time
	UndoneBy   *uuid.UUID
	UndoneAt   *time.Time
	UndoReason *string
	// Reopened is what an undo gave back (set only on the undo's answer).
	Reopened map[string]int64
}

// Consequence closes, inside the transaction that records a life event,
// what one domain holds for the resident (vouchers, enrollments, services,
// applications, devices, service orders, proxies to tell). It answers how
// many things of each kind it closed. Each domain implements it in its own
// package and the app registers it (AddLifeEventConsequence), so the
// registry never writes another domain's tables.
type Consequence interface {
	CloseFor(ctx context.Context, tx *gorm.DB, ev LifeEvent) (map[string]int64, error)
}

// Reopener is a Consequence that can give back what it closed when a
// mistaken death is undone (enrollments, devices). What cannot come back
// (a voided voucher: the ledger is append-only; a withdrawn application)
// stays closed, and the counts of the original event say what it was.
type Reopener interface {
	ReopenFor(ctx context.Context, tx *gorm.DB, ev LifeEvent) (map[string]int64, error)
}

// AddLifeEventConsequence registers what a life event closes in another
// domain. Called while wiring, before serving.
func (s *Service) AddLifeEventConsequence(c Consequence) { s.consequences = append(s.consequences, c) }

// lifeEventNotices are the notices of a recorded life event.
var lifeEventNotices = map[LifeEventKind]notify.Kind{Death: notify.ResidentDeceased, MoveOut: notify.ResidentMovedOut}

// tellFamily queues, inside the life event's transaction, its notice to
// every active proxy of the resident (whatever its scopes: a death or a
// move ends all they do for the resident) and every account bound to the
// record (issue #20, "proxies are told"); a rolled-back event tells no
// one. It answers how many notices it queued. The links stay: an undone
// death needs them, and the family or a clerk revokes them.
func tellFamily(ctx context.Context, tx *gorm.DB, kind notify.Kind, ev *LifeEvent, now time.Time) (int64, error) {
	return notify.CountForResident(ctx, tx, kind, ev.ResidentID, map[string]any{"lifeEventId": ev.ID, "date": ev.On.String()}, now)
}

// LifeEventInput is recordDeath's and recordMoveOut's input.
type LifeEventInput struct {
	ResidentID uuid.UUID
	On         civil.Date
	// Detail: the source of the death report, or the destination.
	Detail string
}

type lifeEventRow struct {
	ID         uuid.UUID
	ResidentID uuid.UUID
	Kind       string
	OnDate     civil.Date
	DetailText string
	Closed     []byte `gorm:"type:jsonb"`
	RecordedBy uuid.UUID
	RecordedAt time.Time
	UndoneBy   *uuid.UUID
	UndoneAt   *time.Time
	UndoReason *string
}

func (lifeEventRow) TableName() string { return "life_events" }

func (r *lifeEventRow) event() *LifeEvent {
	ev := &LifeEvent{ID: r.ID, ResidentID: r.ResidentID, Kind: LifeEventKind(r.Kind), On: r.OnDate, Detail: r.DetailText,
		RecordedBy: r.RecordedBy, RecordedAt: r.RecordedAt, UndoneBy: r.UndoneBy, UndoneAt: r.UndoneAt, UndoReason: r.UndoReason,
		Closed: map[string]int64{}}
	_ = json.Unmarshal(r.Closed, &ev.Closed)
	return ev
}

// RecordDeath records a resident's death and, in the same transaction,
// closes everything they held (see Consequence).
func (s *Service) RecordDeath(ctx context.Context, in LifeEventInput) (*LifeEvent, error) {
	return s.recordLifeEvent(ctx, Death, in)
}

// RecordMoveOut records a resident's move out of the district, closing
// everything they held like a death.
func (s *Service) RecordMoveOut(ctx context.Context, in LifeEventInput) (*LifeEvent, error) {
	return s.recordLifeEvent(ctx, MoveOut, in)
}

func (s *Service) recordLifeEvent(ctx context.Context, kind LifeEventKind, in LifeEventInput) (*LifeEvent, error) {
	// A death decides benefits: staff report it by a checked change
	// (RequestChange, kind DEATH), whose approval records it here; the
	// direct report is the ADMIN's.
	action := policy.RecordLifeEvent
	if kind == Death {
		action = policy.RecordDeath
	}
	v, err := policy.Require(ctx, action)
	if err != nil {
		return nil, err
	}
	field := "source"
	if kind == MoveOut {
		field = "destination"
	}
	in.Detail = strings.TrimSpace(in.Detail)
	var ues problem.UserErrors
	if n := utf8.RuneCountInString(in.Detail); n < 1 || n > 200 {
		ues = append(ues, problem.New(problem.Invalid, "须填写1至200个字符 (1 to 200 characters required)", "input", field))
	}
	if in.On.IsZero() || in.On.After(s.Today()) {
		ues = append(ues, problem.New(problem.Invalid, "日期不能晚于今天 (the date cannot be in the future)", "input", "date"))
	}
	if len(ues) > 0 {
		return nil, ues
	}
	var out *LifeEvent
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		res, err := lockForLifeEvent(ctx, tx, in.ResidentID)
		if err != nil {
			return err
		}
		if err := onResident(v, action, res.ID, res.OrgPath); err != nil {
			return err
		}
		out, err = s.applyLifeEvent(ctx, tx, v, kind, in, res)
		return err
	})
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: %s: %w", strings.ToLower(string(kind)), err))
	}
	return out, nil
}

// applyLifeEvent records a life event of the locked resident res inside
// tx, runs every Consequence and audits it: recordDeath's and
// recordMoveOut's work, and an approved DEATH change request's (v is then
// the checker who approved it).
func (s *Service) applyLifeEvent(ctx context.Context, tx *gorm.DB, v *auth.Viewer, kind LifeEventKind, in LifeEventInput, res *lockedResident) (*LifeEvent, error) {
	if res.DeceasedOn != nil || res.MovedOutOn != nil {
		return nil, problem.New(problem.InvalidTransition, "该居民已登记死亡或迁出 (the resident is already recorded as deceased or moved out)", "input", "residentId")
	}
	now := s.now()
	row := lifeEventRow{ID: uuid.Must(uuid.NewV7()), ResidentID: res.ID, Kind: string(kind), OnDate: in.On,
		DetailText: in.Detail, Closed: []byte("{}"), RecordedBy: v.ID, RecordedAt: now}
	set := map[string]any{"version": gorm.Expr("version + 1"), "updated_at": now}
	if kind == Death {
		set["deceased_on"] = in.On
	} else {
		set["moved_out_on"], set["moved_out_to"] = in.On, in.Detail
	}
	if err := tx.WithContext(ctx).Table("residents").Where("id = ?", res.ID).Updates(set).Error; err != nil {
		return nil, err
	}
	// The event row first: what the consequences write may name it.
	if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
		return nil, err
	}
	ev := row.event()
	for _, c := range s.consequences {
		n, err := c.CloseFor(ctx, tx, *ev)
		if err != nil {
			return nil, err
		}
		for k, x := range n {
			ev.Closed[k] += x
		}
	}
	told, err := tellFamily(ctx, tx, lifeEventNotices[kind], ev, now)
	if err != nil {
		return nil, err
	}
	ev.Closed["familyNotified"] = told
	closed, err := json.Marshal(ev.Closed)
	if err != nil {
		return nil, err
	}
	if err := tx.WithContext(ctx).Model(&lifeEventRow{}).Where("id = ?", row.ID).Update("closed", closed).Error; err != nil {
		return nil, err
	}
	action := audit.ActionRecordDeath
	if kind == MoveOut {
		action = audit.ActionRecordMoveOut
	}
	detail := map[string]any{"lifeEvent": row.ID, "date": in.On.String(), "closed": ev.Closed}
	return ev, audit.Record(ctx, tx, action, audit.EntityResident, &res.ID, detail)
}

// UndoDeath takes back a death recorded by mistake (ADMIN, within
// UndoDeathWindow of the report): the resident is living again, and what
// the Reopeners can give back (enrollments, devices) comes back. Vouchers
// stay voided and applications withdrawn: the ledger is append-only and a
// withdrawn case is final; the counter issues and submits again.
func (s *Service) UndoDeath(ctx context.Context, residentID uuid.UUID, reason string) (*LifeEvent, error) {
	v, err := policy.Require(ctx, policy.UndoDeath)
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if n := utf8.RuneCountInString(reason); n < 1 || n > 500 {
		return nil, problem.New(problem.Invalid, "须填写撤销原因（1至500个字符） (a reason of 1 to 500 characters is required)", "input", "reason")
	}
	now := s.now()
	var out *LifeEvent
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		res, err := lockForLifeEvent(ctx, tx, residentID)
		if err != nil {
			return err
		}
		if err := onResident(v, policy.UndoDeath, res.ID, res.OrgPath); err != nil {
			return err
		}
		var rows []lifeEventRow
		if err := tx.WithContext(ctx).Where("resident_id = ? AND kind = ? AND undone_at IS NULL", res.ID, string(Death)).
			Order("recorded_at DESC").Limit(1).Find(&rows).Error; err != nil {
			return err
		}
		if res.DeceasedOn == nil || len(rows) == 0 {
			return problem.New(problem.InvalidTransition, "该居民没有可撤销的死亡登记 (no death to undo)", "input", "residentId")
		}
		if now.Sub(rows[0].RecordedAt) > UndoDeathWindow {
			return problem.New(problem.InvalidTransition, "死亡登记已超过30天，不能撤销 (a death recorded more than 30 days ago cannot be undone)", "input", "residentId")
		}
		ev := rows[0].event()
		ev.Reopened = map[string]int64{}
		for _, c := range s.consequences {
			r, ok := c.(Reopener)
			if !ok {
				continue
			}
			n, err := r.ReopenFor(ctx, tx, *ev)
			if err != nil {
				return err
			}
			for k, x := range n {
				ev.Reopened[k] += x
			}
		}
		told, err := tellFamily(ctx, tx, notify.ResidentDeathUndone, ev, now)
		if err != nil {
			return err
		}
		ev.Reopened["familyNotified"] = told
		if err := tx.WithContext(ctx).Table("residents").Where("id = ?", res.ID).
			Updates(map[string]any{"deceased_on": nil, "version": gorm.Expr("version + 1"), "updated_at": now}).Error; err != nil {
			return err
		}
		if err := tx.WithContext(ctx).Model(&lifeEventRow{}).Where("id = ?", ev.ID).
			Updates(map[string]any{"undone_by": v.ID, "undone_at": now, "undo_reason": reason}).Error; err != nil {
			return err
		}
		ev.UndoneBy, ev.UndoneAt, ev.UndoReason = &v.ID, &now, &reason
		out = ev
		return audit.Record(ctx, tx, audit.ActionUndoDeath, audit.EntityResident, &res.ID,
			map[string]any{"lifeEvent": ev.ID, "reopened": ev.Reopened})
	})
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: undo death: %w", err))
	}
	return out, nil
}

// LifeEvents lists a resident's recorded life events, newest first, for
// viewers who may read the resident.
func (s *Service) LifeEvents(ctx context.Context, residentID uuid.UUID) ([]*LifeEvent, error) {
	if _, err := s.Get(ctx, residentID); err != nil {
		return nil, err
	}
	var rows []lifeEventRow
	if err := s.db.WithContext(ctx).Where("resident_id = ?", residentID).Order("recorded_at DESC").Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("resident: life events: %w", err))
	}
	out := make([]*LifeEvent, len(rows))
	for i := range rows {
		out[i] = rows[i].event()
	}
	return out, nil
}

// lockedResident is what a life event needs of the resident's row.
type lockedResident struct {
	ID         uuid.UUID
	OrgPath    string
	DeceasedOn *civil.Date
	MovedOutOn *civil.Date
}

// lockForLifeEvent reads and locks the resident's row: the row lock orders a
// life event against every other change of the resident.
func lockForLifeEvent(ctx context.Context, tx *gorm.DB, id uuid.UUID) (*lockedResident, error) {
	var rows []lockedResident
	err := tx.WithContext(ctx).Table("residents").Select("id, org_path, deceased_on, moved_out_on").
		Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Find(&rows).Error
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, problem.New(problem.NotFound, "没有这位居民 (no such resident)", "input", "residentId")
	}
	return &rows[0], nil
}

// onResident checks that v may take a on the resident.
func onResident(v *auth.Viewer, a policy.Action, id uuid.UUID, orgPath string) error {
	ok, err := policy.On(v, a, policy.Subject{ID: id, OrgPath: orgPath})
	if err != nil {
		return err
	}
	if !ok {
		return policy.OutOfJurisdiction("input", "residentId")
	}
	return nil
}
