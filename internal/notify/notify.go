// Package notify records what people are to be told, durably, in the
// transaction of the change that causes it: the notifications table is the
// outbox a sender (WeChat subscribe messages, SMS; not built yet) will
// deliver from. Payloads hold ids and times, never personal data.
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
)

// Kind is what a notification says; the migration's CHECK lists them.
type Kind string

// The kinds.
const (
	// WechatBindingAdded tells the accounts bound to a resident that
	// another account was bound to the same record. Payload: residentId,
	// accountId (the new account), boundAt.
	WechatBindingAdded Kind = "WECHAT_BINDING_ADDED"
)

// RecipientKind is whom a notification goes to.
type RecipientKind string

// Recipient kinds.
const (
	// Wechat is a mini-program account (wechat_accounts.id).
	Wechat RecipientKind = "WECHAT"
)

type row struct {
	ID            uuid.UUID
	Kind          string
	RecipientKind string
	RecipientID   uuid.UUID
	Payload       []byte `gorm:"type:jsonb"`
	CreatedAt     time.Time
}

func (row) TableName() string { return "notifications" }

// Enqueue records, inside tx, one notification of kind to each recipient.
func Enqueue(ctx context.Context, tx *gorm.DB, kind Kind, to RecipientKind, recipients []uuid.UUID, payload map[string]any, now time.Time) error {
	if len(recipients) == 0 {
		return nil
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("notify: payload: %w", err)
	}
	rows := make([]row, len(recipients))
	for i, r := range recipients {
		rows[i] = row{ID: uuid.Must(uuid.NewV7()), Kind: string(kind), RecipientKind: string(to), RecipientID: r, Payload: b, CreatedAt: now}
	}
	if err := tx.WithContext(ctx).Create(&rows).Error; err != nil {
		return database.Classify(fmt.Errorf("notify: enqueue %s: %w", kind, err))
	}
	return nil
}
