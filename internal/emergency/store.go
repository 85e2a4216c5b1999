package emergency

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
)

type deviceRow struct {
	ID              uuid.UUID
	Serial          string
	Kind            string
	ResidentID      uuid.UUID
	LastHeartbeatAt *time.Time
	BatteryPercent  *int
	CreatedAt       time.Time
	// OrgPath is read from the resident (never written).
	OrgPath string `gorm:"->;-:migration"`
}

func (deviceRow) TableName() string { return "emergency_devices" }

func (r deviceRow) device() *Device {
	return &Device{ID: r.ID, Serial: r.Serial, Kind: DeviceKind(r.Kind), ResidentID: r.ResidentID,
		LastHeartbeatAt: r.LastHeartbeatAt, BatteryPercent: r.BatteryPercent, OrgPath: r.OrgPath}
}

type callRow struct {
	ID                 uuid.UUID
	ExternalCallID     string
	ResidentID         *uuid.UUID
	DeviceID           *uuid.UUID
	OrgPath            string
	CallerNumberEnc    *string
	CallerNumberMasked *string
	Kind               string
	Category           *string
	Status             string
	ReceivedAt         time.Time
	AnsweredAt         *time.Time
	AnsweredBy         *uuid.UUID
	DispatchedAt       *time.Time
	ClosedAt           *time.Time
	Outcome            *string
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

func (callRow) TableName() string { return "emergency_calls" }

func (r callRow) call() *Call {
	c := &Call{ID: r.ID, ExternalCallID: r.ExternalCallID, ResidentID: r.ResidentID, DeviceID: r.DeviceID,
		OrgPath: r.OrgPath, CallerNumberMasked: r.CallerNumberMasked, Kind: CallKind(r.Kind), Status: Status(r.Status),
		ReceivedAt: r.ReceivedAt, AnsweredAt: r.AnsweredAt, AnsweredBy: r.AnsweredBy, DispatchedAt: r.DispatchedAt,
		ClosedAt: r.ClosedAt, Outcome: r.Outcome}
	if r.Category != nil {
		cat := Category(*r.Category)
		c.Category = &cat
	}
	return c
}

type eventRow struct {
	ID             uuid.UUID
	CallID         uuid.UUID
	At             time.Time
	Kind           string
	ActorID        *uuid.UUID
	ActorName      *string
	Detail         *string
	ExternalCallID *string
}

func (eventRow) TableName() string { return "emergency_call_events" }

func (r eventRow) event() Event {
	return Event{At: r.At, Kind: r.Kind, Actor: r.ActorName, Detail: r.Detail}
}

// residentRow is what intake needs of a resident found by phone number.
type residentRow struct {
	ID      uuid.UUID
	OrgPath string
}

func (residentRow) TableName() string { return "residents" }

// devices returns a query over devices joined with their resident's org path.
func devices(db *gorm.DB) *gorm.DB {
	return db.Table("emergency_devices AS d").
		Select("d.id, d.serial, d.kind, d.resident_id, d.last_heartbeat_at, d.battery_percent, d.created_at, r.org_path").
		Joins("JOIN residents r ON r.id = d.resident_id")
}

func deviceBySerial(ctx context.Context, db *gorm.DB, serial string, lock bool) (*deviceRow, error) {
	q := db.WithContext(ctx)
	if lock {
		q = q.Clauses(clause.Locking{Strength: "UPDATE", Table: clause.Table{Name: "d"}})
	}
	var rows []deviceRow
	if err := devices(q).Where("d.serial = ?", serial).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("emergency: device: %w", database.Classify(err))
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

func callByID(ctx context.Context, db *gorm.DB, id uuid.UUID) (*callRow, error) {
	var row callRow
	err := db.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("emergency: call: %w", database.Classify(err))
	}
	return &row, nil
}

// callByExternal finds the call an external call id was recorded on: as the
// call itself or as a repeat alarm attached to it.
func callByExternal(ctx context.Context, db *gorm.DB, ext string) (*callRow, error) {
	var rows []callRow
	err := db.WithContext(ctx).
		Where("external_call_id = ? OR id = (SELECT call_id FROM emergency_call_events WHERE external_call_id = ?)", ext, ext).
		Limit(1).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("emergency: call: %w", database.Classify(err))
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

func eventsOf(ctx context.Context, db *gorm.DB, ids []uuid.UUID) (map[uuid.UUID][]Event, error) {
	var rows []eventRow
	if err := db.WithContext(ctx).Where("call_id IN ?", ids).Order("at, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("emergency: events: %w", database.Classify(err))
	}
	out := make(map[uuid.UUID][]Event, len(ids))
	for _, r := range rows {
		out[r.CallID] = append(out[r.CallID], r.event())
	}
	return out, nil
}

func appendEvent(ctx context.Context, tx *gorm.DB, callID uuid.UUID, at time.Time, kind string, actorID *uuid.UUID, actor string, detail *string, ext *string) error {
	row := eventRow{ID: uuid.Must(uuid.NewV7()), CallID: callID, At: at, Kind: kind, ActorID: actorID, Detail: detail, ExternalCallID: ext}
	if actor != "" {
		row.ActorName = &actor
	}
	if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("emergency: event: %w", database.Classify(err))
	}
	return nil
}

// auditEntry is an audit_log row written by an intake statement together
// with the change it records. It holds exactly what audit.Record writes
// (actor, actor kind, request id, the time of writing); intake writes the
// entry inside its own statement to save round trips on the hot path.
type auditEntry struct {
	ID        uuid.UUID
	At        time.Time
	ActorID   uuid.UUID
	ActorKind string
	RequestID string
}

func newAuditEntry(ctx context.Context) auditEntry {
	a := auditEntry{ID: uuid.Must(uuid.NewV7()), At: time.Now().UTC(), ActorKind: "SYSTEM", RequestID: auth.RequestID(ctx)}
	if v := auth.ViewerFrom(ctx); v != nil {
		a.ActorID, a.ActorKind = v.ID, string(v.Kind)
	}
	return a
}

// newCall is a call for insertCall: the row, plus the blind index of the
// caller number when the resident is still to be found by phone.
type newCall struct {
	row      callRow
	phoneIdx []byte
	eventID  uuid.UUID
	actor    string
	audit    auditEntry
}

// insertCallSQL finds the resident by phone (when no device named one),
// inserts the call unless its external id is already known (as a call or
// as a repeat alarm), and appends its RECEIVED event and audit entry: one
// statement, one round trip, atomic without an explicit transaction.
//
// Named parameters: GORM ends a name only at a space, comma, parenthesis,
// quote, semicolon or line break (not at "::"), and expands a slice that
// follows "(", so every parameter below is followed by one of those and the
// byte slice @phone_idx never follows "(".
const insertCallSQL = `
WITH found AS (
  SELECT id, org_path FROM residents WHERE phone_bidx = @phone_idx LIMIT 2
), who AS (
  SELECT id, org_path FROM found WHERE (SELECT count(*) FROM found) = 1
), c AS (
  INSERT INTO emergency_calls (id, external_call_id, resident_id, device_id, org_path, caller_number_enc,
    caller_number_masked, kind, status, received_at, created_at, updated_at)
  SELECT CAST(@id AS uuid), CAST(@ext AS text), COALESCE(CAST(@resident_id AS uuid), (SELECT id FROM who)),
    CAST(@device_id AS uuid), COALESCE(CAST(@org_path AS text), (SELECT org_path FROM who), ''),
    CAST(@caller_enc AS text), CAST(@caller_masked AS text), CAST(@kind AS text), 'RECEIVED',
    CAST(@at AS timestamptz), CAST(@now AS timestamptz), CAST(@now AS timestamptz)
  WHERE NOT EXISTS (SELECT 1 FROM emergency_call_events WHERE external_call_id = @ext )
  ON CONFLICT (external_call_id) DO NOTHING
  RETURNING *
), ev AS (
  INSERT INTO emergency_call_events (id, call_id, at, kind, actor_name)
  SELECT CAST(@event_id AS uuid), id, received_at, 'RECEIVED', NULLIF(CAST(@actor AS text), '') FROM c
), au AS (
  INSERT INTO audit_log (id, at, actor_id, actor_kind, action, entity, entity_id, request_id, detail)
  SELECT CAST(@audit_id AS uuid), CAST(@audit_at AS timestamptz), CAST(@actor_id AS uuid), CAST(@actor_kind AS text),
    'emergency.call.receive', 'EmergencyCall', id, CAST(@request_id AS text),
    jsonb_build_object('kind', kind, 'residentKnown', resident_id IS NOT NULL, 'device', device_id IS NOT NULL)
  FROM c
)
SELECT * FROM c`

// insertCall writes a new call with its RECEIVED event and audit entry.
// It returns nil when the external id is already recorded (also by a
// concurrent request, whose commit it waits for).
func insertCall(ctx context.Context, db *gorm.DB, n newCall) (*callRow, error) {
	r := n.row
	var rows []callRow
	err := db.WithContext(ctx).Raw(insertCallSQL, map[string]any{
		"phone_idx": n.phoneIdx, "id": r.ID, "ext": r.ExternalCallID, "resident_id": r.ResidentID,
		"device_id": r.DeviceID, "org_path": orgPathParam(r), "caller_enc": r.CallerNumberEnc,
		"caller_masked": r.CallerNumberMasked, "kind": r.Kind, "at": r.ReceivedAt, "now": r.CreatedAt,
		"event_id": n.eventID, "actor": n.actor, "audit_id": n.audit.ID, "audit_at": n.audit.At,
		"actor_id": n.audit.ActorID, "actor_kind": n.audit.ActorKind, "request_id": n.audit.RequestID,
	}).Find(&rows).Error // Find, not Scan: Scan renders the SQL with its values for a logger, every call
	if err != nil {
		return nil, fmt.Errorf("emergency: receive: %w", database.Classify(err))
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// orgPathParam is the call's org path when a device determined it, else
// NULL so that the statement takes the resident found by phone.
func orgPathParam(r callRow) *string {
	if r.DeviceID == nil {
		return nil
	}
	return &r.OrgPath
}

// repeatAlarmSQL attaches a repeat alarm to an open call: its event, the
// call's updated_at and the audit entry in one statement.
const repeatAlarmSQL = `
WITH ev AS (
  INSERT INTO emergency_call_events (id, call_id, at, kind, actor_name, detail, external_call_id)
  VALUES (CAST(@event_id AS uuid), CAST(@call_id AS uuid), CAST(@at AS timestamptz), 'REPEAT_ALARM',
    NULLIF(CAST(@actor AS text), ''), CAST(@detail AS text), CAST(@ext AS text) )
), touch AS (
  UPDATE emergency_calls SET updated_at = CAST(@now AS timestamptz) WHERE id = CAST(@call_id AS uuid)
)
INSERT INTO audit_log (id, at, actor_id, actor_kind, action, entity, entity_id, request_id, detail)
VALUES (CAST(@audit_id AS uuid), CAST(@audit_at AS timestamptz), CAST(@actor_id AS uuid), CAST(@actor_kind AS text),
  'emergency.call.repeat_alarm', 'EmergencyCall', CAST(@call_id AS uuid), CAST(@request_id AS text),
  jsonb_build_object('kind', CAST(@detail AS text)) )`

// appendRepeatAlarm records a repeat alarm (external id ext, of kind) on
// an open call.
func appendRepeatAlarm(ctx context.Context, tx *gorm.DB, callID uuid.UUID, at, now time.Time, kind CallKind, actor, ext string, a auditEntry) error {
	err := tx.WithContext(ctx).Exec(repeatAlarmSQL, map[string]any{
		"event_id": uuid.Must(uuid.NewV7()), "call_id": callID, "at": at, "actor": actor, "detail": string(kind),
		"ext": ext, "now": now, "audit_id": a.ID, "audit_at": a.At, "actor_id": a.ActorID, "actor_kind": a.ActorKind,
		"request_id": a.RequestID,
	}).Error
	if err != nil {
		return fmt.Errorf("emergency: repeat alarm: %w", database.Classify(err))
	}
	return nil
}
