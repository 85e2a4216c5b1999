// Package notify is the transactional outbox of what people are to be told
// and its delivery. A notification is written in the transaction of the
// change that causes it (Enqueue, ForResident), so a rolled-back change
// tells no one; every instance runs a Dispatcher that claims due rows FOR
// UPDATE SKIP LOCKED, sends them by WeChat subscribe message or SMS,
// retries with backoff and gives up (DEAD) after a bounded number of
// failures. Payloads hold ids, times and short business words, never a
// phone or ID number: phones are read from the registry when sending.
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
)

// Kind is what a notification says; the migration's CHECK lists them.
type Kind string

// The kinds.
const (
	// WechatBindingAdded tells the accounts bound to a resident that
	// another account was bound to the same record. Payload: residentId,
	// accountId (the new account), boundAt.
	WechatBindingAdded Kind = "WECHAT_BINDING_ADDED"

	// Applications: payload applicationId, number, item (the item's name),
	// and for a supplement request "missing" (the list of materials), for
	// a decision "outcome" (APPROVED or DENIED).
	ApplicationAccepted            Kind = "APPLICATION_ACCEPTED"
	ApplicationSupplementRequested Kind = "APPLICATION_SUPPLEMENT_REQUESTED"
	ApplicationDecided             Kind = "APPLICATION_DECIDED"
	ApplicationCompleted           Kind = "APPLICATION_COMPLETED"

	// Vouchers: issued (programId, period, amountFen), expiring within
	// seven days (voucherId, expiresOn, balanceFen), and a receipt for each
	// redemption (redemptionId, amountFen, category, providerId).
	VouchersIssued    Kind = "VOUCHERS_ISSUED"
	VouchersExpiring  Kind = "VOUCHERS_EXPIRING"
	RedemptionReceipt Kind = "REDEMPTION_RECEIPT"

	// Alarms of a resident's emergency call: callId, at.
	AlarmReceived   Kind = "ALARM_RECEIVED"
	AlarmDispatched Kind = "ALARM_DISPATCHED"
	AlarmClosed     Kind = "ALARM_CLOSED"

	// VisitCode is a home-care visit's one-time confirmation code, texted
	// to the resident's own phone (SMSResident) when the care worker asks
	// for it (internal/homecare): payload residentId, orderId, code,
	// expiresAt. The one payload that holds a secret: the dispatcher
	// removes the code once the row is sent or given up (Secret), and it
	// is valid for minutes only.
	VisitCode Kind = "VISIT_CODE"
)

// Kinds lists every kind.
var Kinds = []Kind{WechatBindingAdded, ApplicationAccepted, ApplicationSupplementRequested, ApplicationDecided,
	ApplicationCompleted, VouchersIssued, VouchersExpiring, RedemptionReceipt, AlarmReceived, AlarmDispatched, AlarmClosed, VisitCode}

// Alarm reports whether k is an alarm notice: sent whatever the opt-outs.
func (k Kind) Alarm() bool { return k == AlarmReceived || k == AlarmDispatched || k == AlarmClosed }

// Secret reports whether k's payload holds a secret ("code") that must
// not outlive the send.
func (k Kind) Secret() bool { return k == VisitCode }

// Requested reports whether k answers something done at that moment for
// the recipient (a code asked for at the door): sent whatever the
// opt-outs, like an alarm.
func (k Kind) Requested() bool { return k == VisitCode }

// audience is who hears of a resident's event: the proxies holding scope,
// whether the resident's own bound accounts do, and which SMS.
type audience struct {
	scope      policy.ProxyScope
	own        bool
	smsOwn     bool // the resident's own phone
	smsContact bool // the first emergency contact
}

var audiences = map[Kind]audience{
	ApplicationAccepted:            {scope: policy.ScopeApply, own: true, smsOwn: true},
	ApplicationSupplementRequested: {scope: policy.ScopeApply, own: true, smsOwn: true},
	ApplicationDecided:             {scope: policy.ScopeApply, own: true, smsOwn: true},
	ApplicationCompleted:           {scope: policy.ScopeApply, own: true, smsOwn: true},
	// Issuance is monthly routine for every enrolled elder: WeChat only.
	VouchersIssued:    {scope: policy.ScopeSpend, own: true},
	VouchersExpiring:  {scope: policy.ScopeSpend, own: true, smsOwn: true},
	RedemptionReceipt: {scope: policy.ScopeSpend, own: true, smsOwn: true},
	// The elder is the one whose alarm it is: the family and the first
	// emergency contact are told.
	AlarmReceived:   {scope: policy.ScopeAlarms, smsContact: true},
	AlarmDispatched: {scope: policy.ScopeAlarms, smsContact: true},
	AlarmClosed:     {scope: policy.ScopeAlarms, smsContact: true},
}

// RecipientKind is whom a notification goes to.
type RecipientKind string

// Recipient kinds.
const (
	// Wechat is a mini-program account (wechat_accounts.id).
	Wechat RecipientKind = "WECHAT"
	// SMSResident is the resident's own phone (recipient_id: the resident).
	SMSResident RecipientKind = "SMS_RESIDENT"
	// SMSContact is the resident's first emergency contact, resolved when
	// sent (recipient_id: the resident).
	SMSContact RecipientKind = "SMS_CONTACT"
)

type row struct {
	ID            uuid.UUID
	Kind          string
	RecipientKind string
	RecipientID   uuid.UUID
	ResidentID    *uuid.UUID
	Payload       []byte `gorm:"type:jsonb"`
	CreatedAt     time.Time
	NextAttemptAt time.Time
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
	var about *uuid.UUID
	if s, ok := payload["residentId"].(uuid.UUID); ok {
		about = &s
	}
	rows := make([]row, len(recipients))
	for i, r := range recipients {
		rows[i] = row{ID: uuid.Must(uuid.NewV7()), Kind: string(kind), RecipientKind: string(to), RecipientID: r,
			ResidentID: about, Payload: b, CreatedAt: now, NextAttemptAt: now}
	}
	if err := tx.WithContext(ctx).Create(&rows).Error; err != nil {
		return database.Classify(fmt.Errorf("notify: enqueue %s: %w", kind, err))
	}
	return nil
}

// ForResident records, inside tx, the notifications of an event about
// resident: to its bound accounts, to the proxies whose link holds the
// kind's scope, and by SMS as the kind says (audiences). One statement;
// the payload gets residentId.
func ForResident(ctx context.Context, tx *gorm.DB, kind Kind, resident uuid.UUID, payload map[string]any, now time.Time) error {
	return ForResidents(ctx, tx, kind, []uuid.UUID{resident}, payload, now)
}

// ForResidents is ForResident for many residents with one payload (each
// row's payload gets its own residentId): set-based, for bulk runs' chunks.
func ForResidents(ctx context.Context, tx *gorm.DB, kind Kind, residents []uuid.UUID, payload map[string]any, now time.Time) error {
	au, ok := audiences[kind]
	if !ok {
		return fmt.Errorf("notify: %s is not about a resident", kind)
	}
	if len(residents) == 0 {
		return nil
	}
	if payload == nil {
		payload = map[string]any{}
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("notify: payload: %w", err)
	}
	err = tx.WithContext(ctx).Exec(`
WITH r AS (SELECT unnest(?::uuid[]) AS id),
to_whom AS (
  SELECT w.id AS recipient, 'WECHAT' AS rk, w.resident_id AS resident
    FROM wechat_accounts w JOIN r ON w.resident_id = r.id WHERE ?::boolean
  UNION
  SELECT p.account_id, 'WECHAT', p.resident_id
    FROM resident_proxies p JOIN r ON p.resident_id = r.id
   WHERE p.revoked_at IS NULL AND ? = ANY (p.scopes)
  UNION ALL
  SELECT r.id, 'SMS_RESIDENT', r.id FROM r WHERE ?::boolean
  UNION ALL
  SELECT r.id, 'SMS_CONTACT', r.id FROM r WHERE ?::boolean
)
INSERT INTO notifications (id, kind, recipient_kind, recipient_id, resident_id, payload, created_at, next_attempt_at)
SELECT uuid_v7(), ?, rk, recipient, resident, ?::jsonb || jsonb_build_object('residentId', resident), ?, ?
  FROM to_whom`,
		uuidArray(residents), au.own, string(au.scope), au.smsOwn, au.smsContact, string(kind), string(b), now, now).Error
	if err != nil {
		return database.Classify(fmt.Errorf("notify: enqueue %s: %w", kind, err))
	}
	return nil
}

// uuidArray is a Postgres array literal of ids.
func uuidArray(ids []uuid.UUID) string {
	b := make([]byte, 0, 2+37*len(ids))
	b = append(b, '{')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, id.String()...)
	}
	return string(append(b, '}'))
}
