package emergency

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// Dispatch is one responder sent to a call.
type Dispatch struct {
	ID                uuid.UUID
	CallID            uuid.UUID
	Responder         ResponderKind
	ResponderName     *string
	Note              *string
	DispatchedAt      time.Time
	ExpectedArrivalAt *time.Time
	ArrivedAt         *time.Time
}

type dispatchRow struct {
	ID                uuid.UUID
	CallID            uuid.UUID
	ResponderKind     string
	ResponderName     *string
	Note              *string
	DispatchedAt      time.Time
	DispatchedBy      uuid.UUID
	ExpectedArrivalAt *time.Time
	ArrivedAt         *time.Time
}

func (dispatchRow) TableName() string { return "emergency_dispatches" }

func (r dispatchRow) dispatch() *Dispatch {
	return &Dispatch{ID: r.ID, CallID: r.CallID, Responder: ResponderKind(r.ResponderKind), ResponderName: r.ResponderName,
		Note: r.Note, DispatchedAt: r.DispatchedAt, ExpectedArrivalAt: r.ExpectedArrivalAt, ArrivedAt: r.ArrivedAt}
}

// DispatchesByCalls loads the dispatches of calls (for the dispatches
// loader; the calls were authorized when read).
func (s *Service) DispatchesByCalls(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]*Dispatch, error) {
	var rows []dispatchRow
	if err := s.db.WithContext(ctx).Where("call_id = ANY(?)", database.UUIDs(ids)).Order("dispatched_at, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("emergency: dispatches: %w", database.Classify(err))
	}
	out := make(map[uuid.UUID][]*Dispatch, len(ids))
	for _, r := range rows {
		out[r.CallID] = append(out[r.CallID], r.dispatch())
	}
	return out, nil
}

// RecordArrival records that a dispatched responder arrived (at, default
// now; never before the dispatch nor in the future). Once only: a second
// arrival for the same dispatch is CONFLICT. Allowed after the call was
// closed too, since the arrival may be reported late.
func (s *Service) RecordArrival(ctx context.Context, dispatchID uuid.UUID, at *time.Time) (*Call, error) {
	v, err := policy.Require(ctx, policy.HandleEmergencyCall)
	if err != nil {
		return nil, err
	}
	now := s.now()
	when, err := reportedTime(at, now, "arrivedAt")
	if err != nil {
		return nil, err
	}
	var out *callRow
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		var rows []dispatchRow
		if err := tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", dispatchID).Limit(1).Find(&rows).Error; err != nil {
			return fmt.Errorf("emergency: dispatch: %w", database.Classify(err))
		}
		if len(rows) == 0 {
			return problem.New(problem.NotFound, "未找到该出动记录 (dispatch not found)", "input", "dispatchId")
		}
		d := rows[0]
		c, err := callByID(ctx, tx, d.CallID)
		if err != nil {
			return err
		}
		if ok, _ := policy.On(v, policy.HandleEmergencyCall, policy.Subject{OrgPath: c.OrgPath}); !ok {
			return policy.OutOfJurisdiction("input", "dispatchId")
		}
		if d.ArrivedAt != nil {
			return problem.New(problem.Conflict, "已登记到达时间 (the arrival is already recorded)", "input", "dispatchId")
		}
		if when.Before(d.DispatchedAt) {
			return problem.New(problem.Invalid, "到达时间早于出动时间 (arrivedAt lies before the dispatch)", "input", "arrivedAt")
		}
		if err := tx.WithContext(ctx).Model(&dispatchRow{}).Where("id = ?", d.ID).Update("arrived_at", when).Error; err != nil {
			return fmt.Errorf("emergency: arrival: %w", database.Classify(err))
		}
		detail := d.ResponderKind
		if d.ResponderName != nil {
			detail += " " + *d.ResponderName
		}
		if err := appendEvent(ctx, tx, c.ID, when, EventResponderArrived, &v.ID, v.DisplayName, &detail, nil); err != nil {
			return err
		}
		if err := touchCall(ctx, tx, c.ID, now); err != nil {
			return err
		}
		if out, err = callByID(ctx, tx, c.ID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.ActionRecordResponderArrival, audit.EntityEmergencyCall, &c.ID,
			map[string]any{"dispatchId": d.ID, "minutesAfterReceived": int(when.Sub(c.ReceivedAt).Minutes())})
	})
	if err != nil {
		return nil, err
	}
	s.hub.publish(ctx, out.ID, out.OrgPath)
	return out.call(), nil
}

// ReportAnswered records the answer time the telephony system reports for
// a call (by its external id): the statistics use it in preference to the
// moment an operator clicked. The first report stands; a repeat returns
// the call unchanged. A time before the call was received is taken as the
// receive time.
func (s *Service) ReportAnswered(ctx context.Context, externalCallID string, at time.Time) (*Call, error) {
	if _, err := policy.Require(ctx, policy.ReceiveEmergencyCall); err != nil {
		return nil, err
	}
	now := s.now()
	when, err := reportedTime(&at, now, "answeredAt")
	if err != nil {
		return nil, err
	}
	ext := strings.TrimSpace(externalCallID)
	var out *callRow
	changed := false
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		var rows []callRow
		if err := tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("external_call_id = ?", ext).Limit(1).Find(&rows).Error; err != nil {
			return fmt.Errorf("emergency: call: %w", database.Classify(err))
		}
		if len(rows) == 0 {
			return problem.New(problem.NotFound, "未找到该呼叫 (no call with this externalCallId)", "input", "externalCallId")
		}
		c := rows[0]
		if c.TelephonyAnsweredAt != nil {
			out = &c
			return nil
		}
		if when.Before(c.ReceivedAt) {
			when = c.ReceivedAt
		}
		if err := tx.WithContext(ctx).Model(&callRow{}).Where("id = ?", c.ID).
			Updates(map[string]any{"telephony_answered_at": when, "updated_at": now}).Error; err != nil {
			return fmt.Errorf("emergency: telephony answer: %w", database.Classify(err))
		}
		detail := when.UTC().Format(time.RFC3339)
		if err := appendEvent(ctx, tx, c.ID, when, EventTelephonyAnswered, nil, "", &detail, nil); err != nil {
			return err
		}
		changed = true
		if out, err = callByID(ctx, tx, c.ID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.ActionReportEmergencyCallAnswered, audit.EntityEmergencyCall, &c.ID,
			map[string]any{"answerSeconds": when.Sub(c.ReceivedAt).Seconds()})
	})
	if err != nil {
		return nil, err
	}
	if changed {
		s.hub.publish(ctx, out.ID, out.OrgPath)
	}
	return out.call(), nil
}
