package emergency

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/notify"
	"github.com/jinjiang/residents/internal/resident"
)

type deviceRow struct {
	ID              uuid.UUID
	Serial          string
	Kind            string
	ResidentID      uuid.UUID
	LastHeartbeatAt *time.Time
	BatteryPercent  *int
	CreatedAt       time.Time
	// HeartbeatIntervalSeconds zero takes the column's default.
	HeartbeatIntervalSeconds int `gorm:"default:3600"`
	// SilentAfter is kept by a trigger (never written).
	SilentAfter    time.Time  `gorm:"->"`
	FaultEpisodeID *uuid.UUID `gorm:"->"`
	// DeactivatedAt is set by a life event (LifeEvents); registering never writes it.
	DeactivatedAt *time.Time `gorm:"->"`
	// OrgPath is read from the resident (never written).
	OrgPath string `gorm:"->;-:migration"`
}

func (deviceRow) TableName() string { return "emergency_devices" }

func (r deviceRow) device() *Device {
	return &Device{ID: r.ID, Serial: r.Serial, Kind: DeviceKind(r.Kind), ResidentID: r.ResidentID,
		LastHeartbeatAt: r.LastHeartbeatAt, BatteryPercent: r.BatteryPercent, OrgPath: r.OrgPath,
		HeartbeatIntervalSeconds: r.HeartbeatIntervalSeconds, SilentAfter: r.SilentAfter, FaultOpen: r.FaultEpisodeID != nil}
}

type callRow struct {
	ID                  uuid.UUID
	ExternalCallID      string
	ResidentID          *uuid.UUID
	DeviceID            *uuid.UUID
	OrgPath             string
	CallerNumberEnc     *string
	CallerNumberMasked  *string
	Kind                string
	Category            *string
	Status              string
	ReceivedAt          time.Time
	AnsweredAt          *time.Time
	AnsweredBy          *uuid.UUID
	DispatchedAt        *time.Time
	ClosedAt            *time.Time
	Outcome             *string
	TelephonyAnsweredAt *time.Time
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

func (callRow) TableName() string { return "emergency_calls" }

func (r callRow) call() *Call {
	c := &Call{ID: r.ID, ExternalCallID: r.ExternalCallID, ResidentID: r.ResidentID, DeviceID: r.DeviceID,
		OrgPath: r.OrgPath, CallerNumberMasked: r.CallerNumberMasked, Kind: CallKind(r.Kind), Status: Status(r.Status),
		ReceivedAt: r.ReceivedAt, AnsweredAt: r.AnsweredAt, AnsweredBy: r.AnsweredBy, DispatchedAt: r.DispatchedAt,
		ClosedAt: r.ClosedAt, Outcome: r.Outcome, TelephonyAnsweredAt: r.TelephonyAnsweredAt}
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
	ContactWhom    *string
	ContactOutcome *string
}

func (eventRow) TableName() string { return "emergency_call_events" }

func (r eventRow) event() Event {
	e := Event{At: r.At, Kind: r.Kind, Actor: r.ActorName, Detail: r.Detail, ContactWhom: r.ContactWhom}
	if r.ContactOutcome != nil {
		o := ContactOutcome(*r.ContactOutcome)
		e.ContactOutcome = &o
	}
	return e
}

// devices returns a query over devices joined with their resident's org path.
func devices(db *gorm.DB) *gorm.DB {
	return db.Table("emergency_devices AS d").
		Select("d.id, d.serial, d.kind, d.resident_id, d.last_heartbeat_at, d.battery_percent, d.created_at, d.heartbeat_interval_seconds, d.silent_after, d.fault_episode_id, d.deactivated_at, r.org_path").
		Joins("JOIN resident_facts r ON r.id = d.resident_id")
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
	if err := db.WithContext(ctx).Where("call_id = ANY(?)", database.UUIDs(ids)).Order("at, id").Find(&rows).Error; err != nil {
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

// newCall is a call for insertCall: the row, plus the blind index of the
// caller number when the resident is still to be found by phone.
type newCall struct {
	row      callRow
	phoneIdx []byte
	eventID  uuid.UUID
	actor    string
	audit    audit.Stamp // the audit entry the statement writes
	manual   bool        // taken in by hand by an operator (audited as such)
}

// insertCallSQL finds the resident by phone (when no device named one),
// inserts the call unless its external id is already known (as a call or
// as a repeat alarm), and appends its RECEIVED event and audit entry: one
// statement, one round trip, atomic without an explicit transaction.
// Parameters: $1 phone blind index, $2 id, $3 external id, $4 resident
// and $5 device (from the device, else NULL), $6 org path (from the device,
// else NULL), $7 caller number encrypted, $8 masked, $9 kind, $10 received
// at, $11 now, $12 event id, $13 actor name, $14–$18 the audit entry's id,
// time, actor id, actor kind and request id, $19 whether an operator took
// the call in by hand. The audit entry records what the intake matched:
// the resident (by device or by caller number) and how many residents the
// caller number's index matched.
var insertCallSQL = `
WITH found AS (
  ` + resident.ByPhoneIndexSQL("$1") + `
), who AS (
  SELECT id, org_path FROM found WHERE (SELECT count(*) FROM found) = 1
), c AS (
  INSERT INTO emergency_calls (id, external_call_id, resident_id, device_id, org_path, caller_number_enc,
    caller_number_masked, kind, status, received_at, created_at, updated_at)
  SELECT $2, $3, COALESCE($4, (SELECT id FROM who)), $5, COALESCE($6, (SELECT org_path FROM who), ''),
    $7, $8, $9, 'RECEIVED', $10, $11, $11
  WHERE NOT EXISTS (SELECT 1 FROM emergency_call_events WHERE external_call_id = $3)
  ON CONFLICT (external_call_id) DO NOTHING
  RETURNING ` + callColumns + `
), ev AS (
  INSERT INTO emergency_call_events (id, call_id, at, kind, actor_name)
  SELECT $12, id, received_at, 'RECEIVED', NULLIF($13, '') FROM c
), au AS (
  ` + audit.Insert + `
  SELECT $14, $15, $16, $17, '` + string(audit.ActionReceiveEmergencyCall) + `', '` + string(audit.EntityEmergencyCall) + `', id, $18,
    jsonb_build_object('kind', kind, 'residentKnown', resident_id IS NOT NULL, 'device', device_id IS NOT NULL) ||
    CASE WHEN $19::boolean THEN jsonb_build_object('manual', true, 'residentId', resident_id,
      'callerMatches', (SELECT count(*) FROM found),
      'matchedBy', CASE WHEN device_id IS NOT NULL THEN 'device' WHEN resident_id IS NOT NULL THEN 'callerNumber' ELSE 'none' END)
    ELSE '{}'::jsonb END
  FROM c
), nt AS (
  ` + receivedNoticeSQL + `
)
SELECT ` + callColumns + ` FROM c`

// receivedNoticeSQL is insertCallSQL's notice of the call c inserted, to
// the resident's ALARMS proxies and first emergency contact.
var receivedNoticeSQL = notify.InsertSQL(notify.AlarmReceived, "SELECT resident_id AS id FROM c WHERE resident_id IS NOT NULL",
	"jsonb_build_object('callId', (SELECT id FROM c), 'at', (SELECT received_at FROM c))", "$11::timestamptz")

// callColumns are callRow's columns in scanCall's order.
const callColumns = `id, external_call_id, resident_id, device_id, org_path, caller_number_enc, caller_number_masked,
  kind, category, status, received_at, answered_at, answered_by, dispatched_at, closed_at, outcome, telephony_answered_at, created_at, updated_at`

func scanCall(rows *sql.Rows) (callRow, error) {
	var r callRow
	err := rows.Scan(&r.ID, &r.ExternalCallID, &r.ResidentID, &r.DeviceID, &r.OrgPath, &r.CallerNumberEnc, &r.CallerNumberMasked,
		&r.Kind, &r.Category, &r.Status, &r.ReceivedAt, &r.AnsweredAt, &r.AnsweredBy, &r.DispatchedAt, &r.ClosedAt, &r.Outcome,
		&r.TelephonyAnsweredAt, &r.CreatedAt, &r.UpdatedAt)
	return r, err
}

// insertCall writes a new call with its RECEIVED event and audit entry.
// It returns nil when the external id is already recorded (also by a
// concurrent request, whose commit it waits for). It is the hot path of
// intake, so it goes to the connection (or transaction) under db directly:
// building and scanning through GORM cost about as much CPU as the round
// trip itself.
func insertCall(ctx context.Context, db *gorm.DB, n newCall) (*callRow, error) {
	r := n.row
	var orgPath *string // NULL: take the resident found by phone
	if r.DeviceID != nil {
		orgPath = &r.OrgPath
	}
	rows, err := db.Statement.ConnPool.QueryContext(ctx, insertCallSQL, n.phoneIdx, r.ID, r.ExternalCallID, r.ResidentID,
		r.DeviceID, orgPath, r.CallerNumberEnc, r.CallerNumberMasked, r.Kind, r.ReceivedAt, r.CreatedAt,
		n.eventID, n.actor, n.audit.ID, n.audit.At, n.audit.ActorID, n.audit.ActorKind, n.audit.RequestID, n.manual)
	if err != nil {
		return nil, fmt.Errorf("emergency: receive: %w", database.Classify(err))
	}
	defer rows.Close()
	var out *callRow
	if rows.Next() {
		row, err := scanCall(rows)
		if err != nil {
			return nil, fmt.Errorf("emergency: receive: %w", err)
		}
		out = &row
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("emergency: receive: %w", database.Classify(err))
	}
	return out, nil
}

// repeatAlarmSQL attaches a repeat alarm to an open call: its event, the
// call's updated_at and the audit entry in one statement. Parameters: $1
// event id, $2 call id, $3 alarm time, $4 actor name, $5 kind, $6 external
// id, $7 now, $8–$12 the audit entry's id, time, actor id, actor kind and
// request id, $13 whether an operator took the alarm in by hand.
const repeatAlarmSQL = `
WITH ev AS (
  INSERT INTO emergency_call_events (id, call_id, at, kind, actor_name, detail, external_call_id)
  VALUES ($1, $2, $3, 'REPEAT_ALARM', NULLIF($4, ''), $5, $6)
), touch AS (
  UPDATE emergency_calls SET updated_at = $7 WHERE id = $2
)
` + audit.Insert + `
VALUES ($8, $9, $10, $11, '` + string(audit.ActionReceiveEmergencyCall) + `', '` + string(audit.EntityEmergencyCall) + `', $2, $12,
  jsonb_build_object('kind', $5::text, 'repeatAlarm', true) ||
  CASE WHEN $13::boolean THEN jsonb_build_object('manual', true, 'matchedBy', 'device') ELSE '{}'::jsonb END)`

// appendRepeatAlarm records a repeat alarm (external id ext, of kind) on
// an open call.
func appendRepeatAlarm(ctx context.Context, tx *gorm.DB, callID uuid.UUID, at, now time.Time, kind CallKind, actor, ext string, a audit.Stamp, manual bool) error {
	_, err := tx.Statement.ConnPool.ExecContext(ctx, repeatAlarmSQL, uuid.Must(uuid.NewV7()), callID, at, actor, string(kind), ext, now,
		a.ID, a.At, a.ActorID, a.ActorKind, a.RequestID, manual)
	if err != nil {
		return fmt.Errorf("emergency: repeat alarm: %w", database.Classify(err))
	}
	return nil
}
