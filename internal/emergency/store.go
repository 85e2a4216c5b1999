package emergency

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

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
	err := db.WithContext(ctx).Where("external_call_id = ?", ext).Limit(1).Find(&rows).Error
	if err == nil && len(rows) == 0 {
		err = db.WithContext(ctx).Where("id = (SELECT call_id FROM emergency_call_events WHERE external_call_id = ?)", ext).
			Limit(1).Find(&rows).Error
	}
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
