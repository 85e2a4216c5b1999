// Package audit appends to and reads the append-only audit log: every
// mutation and every read of a full ID number leaves an entry, written in
// the same transaction as the change it records.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/page"
	"github.com/jinjiang/residents/internal/policy"
)

// Entry is one audit record.
type Entry struct {
	ID        uuid.UUID
	At        time.Time
	ActorID   uuid.UUID
	ActorKind string
	Action    string
	Entity    string
	EntityID  *uuid.UUID
	RequestID string
}

type row struct {
	ID        uuid.UUID
	At        time.Time
	ActorID   uuid.UUID
	ActorKind string
	Action    string
	Entity    string
	EntityID  *uuid.UUID
	RequestID string
	Detail    []byte `gorm:"type:jsonb"`
}

func (row) TableName() string { return "audit_log" }

// Stamp is who wrote an entry, when, and in which request: what Record
// fills in itself. A hot path that inserts its audit_log row inside its
// own statement (to save a round trip) takes the same values from here.
type Stamp struct {
	ID        uuid.UUID
	At        time.Time
	ActorID   uuid.UUID
	ActorKind string
	RequestID string
}

// Insert begins the INSERT of an audit_log row for a hot path that writes
// its entry inside its own statement. The values follow in this order: the
// Stamp's ID, At, ActorID and ActorKind; the action, entity and entity id;
// the Stamp's RequestID; the detail (jsonb, no personal data). Such a
// statement takes its action and entity from the constants of names.go,
// bound as parameters (voucher's redemption) or spliced in as SQL literals
// ("'" + string(audit.ActionX) + "'", emergency's intake), so they cannot
// drift from them.
const Insert = "INSERT INTO audit_log (id, at, actor_id, actor_kind, action, entity, entity_id, request_id, detail)"

// NewStamp stamps an entry for the viewer in ctx (SYSTEM when there is none).
func NewStamp(ctx context.Context) Stamp {
	st := Stamp{ID: uuid.Must(uuid.NewV7()), At: time.Now().UTC(), ActorKind: "SYSTEM", RequestID: auth.RequestID(ctx)}
	if v := auth.ViewerFrom(ctx); v != nil {
		st.ActorID, st.ActorKind = v.ID, string(v.Kind)
	}
	return st
}

// Record appends an entry for the viewer in ctx, inside tx. detail must not
// hold personal data (ID or phone numbers); pass nil when there is none.
func Record(ctx context.Context, tx *gorm.DB, action Action, entity Entity, entityID *uuid.UUID, detail map[string]any) error {
	st := NewStamp(ctx)
	r := row{ID: st.ID, At: st.At, ActorID: st.ActorID, ActorKind: st.ActorKind, Action: string(action), Entity: string(entity),
		EntityID: entityID, RequestID: st.RequestID}
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		r.Detail = b
	}
	if err := tx.WithContext(ctx).Create(&r).Error; err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// Filter narrows the log; empty fields match everything.
type Filter struct {
	ActorID  *uuid.UUID
	Entity   string
	EntityID *uuid.UUID
	Action   string
}

// Log reads the audit log.
type Log struct{ db *gorm.DB }

// NewLog returns a reader of the audit log.
func NewLog(db *gorm.DB) *Log { return &Log{db: db} }

// List returns entries newest first. Only ADMIN and AUDITOR may read the log.
func (l *Log) List(ctx context.Context, f Filter, p page.Request) (page.Result[Entry], error) {
	if _, err := policy.Require(ctx, policy.ReadAuditLog); err != nil {
		return page.Result[Entry]{}, err
	}
	q := l.db.WithContext(ctx).Model(&row{})
	if f.ActorID != nil {
		q = q.Where("actor_id = ?", *f.ActorID)
	}
	if f.Entity != "" {
		q = q.Where("entity = ?", f.Entity)
	}
	if f.EntityID != nil {
		q = q.Where("entity_id = ?", *f.EntityID)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	var rows []row
	if err := page.NewestFirst(q, "id", p).Find(&rows).Error; err != nil {
		return page.Result[Entry]{}, database.Classify(fmt.Errorf("audit: list: %w", err))
	}
	out := make([]Entry, len(rows))
	for i, r := range rows {
		out[i] = Entry{ID: r.ID, At: r.At, ActorID: r.ActorID, ActorKind: r.ActorKind, Action: r.Action, Entity: r.Entity, EntityID: r.EntityID, RequestID: r.RequestID}
	}
	return page.Trim(p, out), nil
}
