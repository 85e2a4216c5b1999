package emergency

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/page"
	"github.com/jinjiang/residents/internal/pii"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// Intake is a call as the telephony system reports it.
type Intake struct {
	ExternalCallID string
	DeviceSerial   *string
	CallerNumber   *string
	Kind           CallKind
	ReceivedAt     *time.Time
}

// maxClockSkew is how far ahead of the server's clock a reported time may
// lie (the reporter's clock runs fast); such a time is taken as now, so a
// call is never answered before it was received.
const maxClockSkew = 5 * time.Minute

// maxReportDelay is how long after the fact a time may be reported: a
// telephony system catching up after an outage, not a call backdated into
// a period whose statistics were already read.
const maxReportDelay = 24 * time.Hour

// reportedTime is when a reporter (the telephony system, a device, an
// operator) says something happened: now when it does not say, refused
// beyond the skew ahead or the delay behind, and never after now. Every
// time a client reports goes through it (receivedAt, a heartbeat's at);
// the times of handling steps (answered, dispatched, closed) are the
// server's own.
func reportedTime(at *time.Time, now time.Time, field string) (time.Time, error) {
	switch {
	case at == nil:
		return now, nil
	case at.After(now.Add(maxClockSkew)):
		return time.Time{}, problem.New(problem.Invalid, field+" lies in the future", "input", field)
	case at.Before(now.Add(-maxReportDelay)):
		return time.Time{}, problem.New(problem.Invalid, field+" lies more than 24 hours in the past", "input", field)
	case at.After(now):
		return now, nil
	}
	return *at, nil
}

// Receive records an incoming call. The same external call id always
// yields the same call (also when sent concurrently); a new alarm from a
// device whose earlier call is still open and recent is attached to that
// call as a REPEAT_ALARM event. The telephony system reports calls freely;
// an operator taking one in by hand (policy.ReceiveCallManually) is
// throttled and each such intake is audited with what its caller number or
// device matched, since it looks the number up in the registry.
func (s *Service) Receive(ctx context.Context, in Intake) (*Call, error) {
	v, err := policy.Require(ctx, policy.ReceiveEmergencyCall)
	manual := false
	if errors.Is(err, problem.ErrForbidden) {
		v, err = policy.Require(ctx, policy.ReceiveCallManually)
		manual = err == nil
	}
	if err != nil {
		return nil, err
	}
	if manual {
		// Every attempt counts, refused or not, like residentByIdNumber.
		ok, err := s.manual.Reserve(ctx, "manualcall:"+v.ID.String())
		if err != nil {
			return nil, err
		}
		if !ok {
			if err := audit.Record(ctx, s.db.WithContext(ctx), audit.ActionReceiveEmergencyCall, audit.EntityEmergencyCall, nil,
				map[string]any{"manual": true, "outcome": "rate_limited"}); err != nil {
				return nil, err
			}
			return nil, problem.New(problem.TooManyAttempts, "手工录入来电过于频繁，请稍后再试 (too many calls taken in by hand; try again later)")
		}
	}
	ext := strings.TrimSpace(in.ExternalCallID)
	if ext == "" || utf8.RuneCountInString(ext) > 128 {
		return nil, problem.New(problem.Invalid, "externalCallId must be 1 to 128 characters", "input", "externalCallId")
	}
	now := s.now()
	at, err := reportedTime(in.ReceivedAt, now, "receivedAt")
	if err != nil {
		return nil, err
	}
	serial := strings.TrimSpace(deref(in.DeviceSerial))
	var callerEnc, callerMasked *string
	var callerIdx []byte
	if raw := strings.TrimSpace(deref(in.CallerNumber)); raw != "" {
		if utf8.RuneCountInString(raw) > 32 {
			return nil, problem.New(problem.Invalid, "callerNumber is too long", "input", "callerNumber")
		}
		plain := raw
		if norm, err := pii.NormalizePhone(raw); err == nil {
			plain = norm
			callerIdx = s.keys.BlindIndex("resident.phone", norm)
		}
		enc, err := s.keys.Encrypt(plain, callerNumberAAD)
		if err != nil {
			return nil, fmt.Errorf("emergency: encrypt caller number: %w", err)
		}
		masked := pii.MaskPhone(plain)
		callerEnc, callerMasked = &enc, &masked
	}

	row := callRow{ID: uuid.Must(uuid.NewV7()), ExternalCallID: ext, CallerNumberEnc: callerEnc,
		CallerNumberMasked: callerMasked, Kind: string(in.Kind), Status: string(Received), ReceivedAt: at,
		CreatedAt: now, UpdatedAt: now}
	n := newCall{row: row, phoneIdx: callerIdx, eventID: uuid.Must(uuid.NewV7()), actor: v.DisplayName, audit: audit.NewStamp(ctx), manual: manual}
	var out *callRow
	var changed bool
	if serial == "" {
		// No device to serialise on: one statement does the look-up, the
		// insert, the event and the audit entry.
		out, changed, err = s.receiveNew(ctx, s.db, n)
	} else {
		out, changed, err = s.receiveFromDevice(ctx, serial, n, in.Kind, at, now, v.DisplayName)
	}
	if err != nil {
		return nil, err
	}
	if changed {
		s.hub.publish(ctx, out.ID, out.OrgPath)
	} else if manual {
		// A typed-in id already recorded: nothing was looked up, but the
		// intake is the operator's and is audited like the others.
		if err := audit.Record(ctx, s.db.WithContext(ctx), audit.ActionReceiveEmergencyCall, audit.EntityEmergencyCall, &out.ID,
			map[string]any{"manual": true, "outcome": "already_recorded"}); err != nil {
			return nil, err
		}
	}
	return out.call(), nil
}

// receiveNew inserts a new call, or returns the call its external id is
// already recorded on (changed false).
func (s *Service) receiveNew(ctx context.Context, db *gorm.DB, n newCall) (*callRow, bool, error) {
	out, err := insertCall(ctx, db, n)
	if err != nil || out != nil {
		return out, out != nil, err
	}
	// Already recorded, perhaps by a concurrent request that has committed
	// by now (the insert waited for it): return that call unchanged.
	out, err = callByExternal(database.WithPrimary(ctx), db, n.row.ExternalCallID)
	if err == nil && out == nil {
		err = fmt.Errorf("emergency: receive: call %q neither inserted nor found", n.row.ExternalCallID)
	}
	return out, false, err
}

// receiveFromDevice records an alarm of a device: a new call, or a repeat
// alarm on the device's open recent call. An unknown serial falls back to
// the caller number.
func (s *Service) receiveFromDevice(ctx context.Context, serial string, n newCall, kind CallKind, at, now time.Time, actor string) (*callRow, bool, error) {
	var out *callRow
	var changed bool
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		out, changed = nil, false
		// The device row lock serialises every alarm of one device, so
		// concurrent alarms cannot open two calls.
		dev, err := deviceBySerial(ctx, tx, serial, true)
		if err != nil {
			return err
		}
		// A device deactivated by a death or a move no longer names its
		// resident: the call is taken like one from an unknown device.
		if dev == nil || dev.DeactivatedAt != nil {
			out, changed, err = s.receiveNew(ctx, tx, n)
			return err
		}
		existing, err := callByExternal(ctx, tx, n.row.ExternalCallID)
		if err != nil || existing != nil {
			out = existing
			return err
		}
		var open []callRow
		err = tx.Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("device_id = ? AND status <> ? AND received_at >= ?", dev.ID, Closed, at.Add(-RepeatWindow)).
			Order("received_at DESC").Limit(1).Find(&open).Error
		if err != nil {
			return fmt.Errorf("emergency: open call: %w", database.Classify(err))
		}
		if len(open) == 1 {
			out, changed = &open[0], true
			return appendRepeatAlarm(ctx, tx, open[0].ID, at, now, kind, actor, n.row.ExternalCallID, n.audit, n.manual)
		}
		n.row.DeviceID, n.row.ResidentID, n.row.OrgPath = &dev.ID, &dev.ResidentID, dev.OrgPath
		n.phoneIdx = nil
		out, changed, err = s.receiveNew(ctx, tx, n)
		return err
	})
	return out, changed, err
}

// Answer records that the viewer picked up the call. Of two operators
// answering at once exactly one wins; the other gets CONFLICT.
func (s *Service) Answer(ctx context.Context, id uuid.UUID) (*Call, error) {
	return s.step(ctx, id, ActAnswer, func(now time.Time, v *auth.Viewer) (map[string]any, string, *string) {
		// Never before the call was received, whatever the clocks of the
		// instances that received and answered it say.
		return map[string]any{"answered_at": gorm.Expr("GREATEST(?::timestamptz, received_at)", now), "answered_by": v.ID}, EventAnswered, nil
	})
}

// DispatchInput is a responder sent to a call.
type DispatchInput struct {
	Responder ResponderKind
	// Name is who goes (a person or a unit), optional.
	Name *string
	Note *string
	// ExpectedArrivalAt is when they are expected, optional; not before
	// now.
	ExpectedArrivalAt *time.Time
}

// Dispatch records that a responder was sent, with whom and when they are
// expected; it may repeat (several responders). Arrival is recorded by
// RecordArrival.
func (s *Service) Dispatch(ctx context.Context, id uuid.UUID, in DispatchInput) (*Call, error) {
	detail := string(in.Responder)
	name := strings.TrimSpace(deref(in.Name))
	if utf8.RuneCountInString(name) > 64 {
		return nil, problem.New(problem.Invalid, "出动人员名称不能超过 64 字 (responderName must be at most 64 characters)", "input", "responderName")
	}
	if name != "" {
		detail += " " + name
	}
	note := strings.TrimSpace(deref(in.Note))
	if note != "" {
		if utf8.RuneCountInString(note) > 1000 {
			return nil, problem.New(problem.Invalid, "note must be at most 1000 characters", "input", "note")
		}
		detail += ": " + note
	}
	now := s.now()
	if in.ExpectedArrivalAt != nil && (in.ExpectedArrivalAt.Before(now.Add(-maxClockSkew)) || in.ExpectedArrivalAt.After(now.Add(24*time.Hour))) {
		return nil, problem.New(problem.Invalid, "预计到达时间须在此后 24 小时内 (expectedArrivalAt must lie within the next 24 hours)", "input", "expectedArrivalAt")
	}
	return s.step(ctx, id, ActDispatch, func(now time.Time, _ *auth.Viewer) (map[string]any, string, *string) {
		return map[string]any{"dispatched_at": gorm.Expr("COALESCE(dispatched_at, GREATEST(?::timestamptz, answered_at))", now)}, EventDispatched, &detail
	}, func(tx *gorm.DB, c *callRow, now time.Time, v *auth.Viewer) error {
		at := now
		if c.AnsweredAt != nil && c.AnsweredAt.After(at) {
			at = *c.AnsweredAt
		}
		d := dispatchRow{ID: uuid.Must(uuid.NewV7()), CallID: c.ID, ResponderKind: string(in.Responder), DispatchedAt: at, DispatchedBy: v.ID}
		if name != "" {
			d.ResponderName = &name
		}
		if note != "" {
			d.Note = &note
		}
		if e := in.ExpectedArrivalAt; e != nil {
			exp := *e
			if exp.Before(at) {
				exp = at
			}
			d.ExpectedArrivalAt = &exp
		}
		if err := tx.WithContext(ctx).Create(&d).Error; err != nil {
			return fmt.Errorf("emergency: dispatch: %w", database.Classify(err))
		}
		return nil
	})
}

// Close ends the call with its category and outcome.
func (s *Service) Close(ctx context.Context, id uuid.UUID, category Category, outcome string) (*Call, error) {
	outcome = strings.TrimSpace(outcome)
	if outcome == "" || utf8.RuneCountInString(outcome) > 2000 {
		return nil, problem.New(problem.Invalid, "outcome must be 1 to 2000 characters", "input", "outcome")
	}
	detail := string(category) + ": " + outcome
	return s.step(ctx, id, ActClose, func(now time.Time, _ *auth.Viewer) (map[string]any, string, *string) {
		return map[string]any{"closed_at": gorm.Expr("GREATEST(?::timestamptz, answered_at, dispatched_at)", now), "category": string(category), "outcome": outcome}, EventClosed, &detail
	})
}

type stepFunc func(now time.Time, v *auth.Viewer) (updates map[string]any, event string, detail *string)

// stepActions names each handling step in the audit log: its mutation.
var stepActions = map[Action]audit.Action{
	ActAnswer:   audit.ActionAnswerEmergencyCall,
	ActDispatch: audit.ActionDispatchEmergencyCall,
	ActClose:    audit.ActionCloseEmergencyCall,
}

// step moves a call along the transition table with a conditional update
// on the status it was read in, so a concurrent change makes it fail with
// CONFLICT instead of overwriting.
// after, when given, does the step's own writes inside the transaction,
// after the call's row moved (c is the row as it now stands).
func (s *Service) step(ctx context.Context, id uuid.UUID, act Action, f stepFunc, after ...func(tx *gorm.DB, c *callRow, now time.Time, v *auth.Viewer) error) (*Call, error) {
	v, err := policy.Require(ctx, policy.HandleEmergencyCall)
	if err != nil {
		return nil, err
	}
	var out *callRow
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		row, err := callByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if row == nil {
			return problem.New(problem.NotFound, "call not found", "id")
		}
		to, ok := Next(Status(row.Status), act)
		if !ok {
			if act == ActAnswer && Status(row.Status) == Answered {
				return problem.New(problem.Conflict, "another operator already answered this call", "id")
			}
			return problem.New(problem.InvalidTransition, fmt.Sprintf("cannot %s a %s call", strings.ToLower(string(act)), row.Status), "id")
		}
		now := s.now()
		upd, kind, detail := f(now, v)
		upd["status"], upd["updated_at"] = string(to), now
		res := tx.Model(&callRow{}).Where("id = ? AND status = ?", id, row.Status).Updates(upd)
		if res.Error != nil {
			return fmt.Errorf("emergency: %s: %w", act, database.Classify(res.Error))
		}
		if res.RowsAffected == 0 {
			return problem.New(problem.Conflict, "the call was changed by someone else; reload it", "id")
		}
		if err := appendEvent(ctx, tx, id, now, kind, &v.ID, v.DisplayName, detail, nil); err != nil {
			return err
		}
		if out, err = callByID(ctx, tx, id); err != nil {
			return err
		}
		for _, a := range after {
			if err := a(tx, out, now, v); err != nil {
				return err
			}
		}
		if err := notifyStep(ctx, tx, out, act, now); err != nil {
			return err
		}
		return audit.Record(ctx, tx, stepActions[act], audit.EntityEmergencyCall, &id, map[string]any{"status": to})
	})
	if err != nil {
		return nil, err
	}
	s.hub.publish(ctx, out.ID, out.OrgPath)
	return out.call(), nil
}

// Call returns one call the viewer may read, or nil.
func (s *Service) Call(ctx context.Context, id uuid.UUID) (*Call, error) {
	v, _, err := readScope(ctx)
	if err != nil {
		return nil, err
	}
	row, err := callByID(ctx, s.db, id)
	if err != nil || row == nil || !canRead(v, row.OrgPath) {
		return nil, err
	}
	return row.call(), nil
}

// callWithEvents loads a call and its trail without authorization (the
// hub authorizes per subscriber).
func (s *Service) callWithEvents(ctx context.Context, id uuid.UUID) (*Call, error) {
	row, err := callByID(ctx, s.db, id)
	if err != nil || row == nil {
		return nil, err
	}
	ev, err := eventsOf(ctx, s.db, []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	c := row.call()
	c.Events = ev[id]
	if c.Events == nil {
		c.Events = []Event{}
	}
	return c, nil
}

// EventsByCalls loads call trails (for the events loader). The calls
// themselves were authorized when they were read.
func (s *Service) EventsByCalls(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]Event, error) {
	return eventsOf(ctx, s.db, ids)
}

// Filter narrows the call list.
type Filter struct {
	Status     *Status
	OrgUnitID  *uuid.UUID
	ResidentID *uuid.UUID
	From, To   *time.Time
}

// Calls lists calls newest first, in the viewer's jurisdiction.
func (s *Service) Calls(ctx context.Context, f Filter, p page.Request) (page.Result[*Call], error) {
	v, base, err := readScope(ctx)
	if err != nil {
		// a resident (or family member) in the mini-program sees their own calls
		if rv := auth.ViewerFrom(ctx); f.ResidentID != nil && ownScope(rv, *f.ResidentID) {
			v, base, err = rv, "", nil
		} else {
			return page.Result[*Call]{}, err
		}
	}
	path, err := s.scopeFor(ctx, v, base, f.OrgUnitID)
	if err != nil {
		return page.Result[*Call]{}, err
	}
	q := underPath(s.db.WithContext(ctx).Model(&callRow{}), "org_path", path)
	if base != "" {
		q = q.Where("org_path <> ''")
	}
	if f.Status != nil {
		q = q.Where("status = ?", string(*f.Status))
	}
	if f.ResidentID != nil {
		q = q.Where("resident_id = ?", *f.ResidentID)
	}
	if f.From != nil {
		q = q.Where("received_at >= ?", *f.From)
	}
	if f.To != nil {
		q = q.Where("received_at < ?", *f.To)
	}
	var total int64
	if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return page.Result[*Call]{}, fmt.Errorf("emergency: count calls: %w", database.Classify(err))
	}
	lq := q.Session(&gorm.Session{})
	var rows []callRow
	if err := page.NewestFirst(lq, "id", p).Find(&rows).Error; err != nil {
		return page.Result[*Call]{}, fmt.Errorf("emergency: calls: %w", database.Classify(err))
	}
	calls := make([]*Call, len(rows))
	for i, r := range rows {
		calls[i] = r.call()
	}
	res := page.Trim(p, calls)
	res.TotalCount = int(total)
	return res, nil
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
