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
	"strings"
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

	// WelfareCheckMissed: an elder living alone missed welfare calls in a
	// row and a case worker was asked to look in (emergency's welfare
	// escalation): escalationId, at. Told like an alarm.
	WelfareCheckMissed Kind = "WELFARE_CHECK_MISSED"

	// Life events (internal/resident): a death or a move out recorded,
	// which closed the resident's vouchers, services and proxies' work,
	// and a mistaken death undone. Payload: lifeEventId, date.
	ResidentDeceased    Kind = "RESIDENT_DECEASED"
	ResidentMovedOut    Kind = "RESIDENT_MOVED_OUT"
	ResidentDeathUndone Kind = "RESIDENT_DEATH_UNDONE"
)

// Kinds lists every kind.
var Kinds = []Kind{WechatBindingAdded, ApplicationAccepted, ApplicationSupplementRequested, ApplicationDecided,
	ApplicationCompleted, VouchersIssued, VouchersExpiring, RedemptionReceipt, AlarmReceived, AlarmDispatched, AlarmClosed,
	VisitCode, WelfareCheckMissed, ResidentDeceased, ResidentMovedOut, ResidentDeathUndone}

// Alarm reports whether k is an alarm notice: sent whatever the opt-outs.
func (k Kind) Alarm() bool {
	return k == AlarmReceived || k == AlarmDispatched || k == AlarmClosed || k == WelfareCheckMissed
}

// Secret reports whether k's payload holds a secret ("code") that must
// not outlive the send.
func (k Kind) Secret() bool { return k == VisitCode }

// Requested reports whether k answers something done at that moment for
// the recipient (a code asked for at the door): sent whatever the
// opt-outs, like an alarm.
func (k Kind) Requested() bool { return k == VisitCode }

// audience is who hears of a resident's event: the proxies holding scope
// (every active proxy with anyProxy), whether the resident's own bound
// accounts do, and which SMS.
type audience struct {
	scope      policy.ProxyScope
	anyProxy   bool
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
	// Nobody answered the welfare calls: the family hears as of an alarm.
	WelfareCheckMissed: {scope: policy.ScopeAlarms, smsContact: true},
	// A death or move ends what every proxy does for the resident, whatever
	// its scopes: all of them and the bound accounts (often the family's
	// phone) are told, by WeChat.
	ResidentDeceased:    {anyProxy: true, own: true},
	ResidentMovedOut:    {anyProxy: true, own: true},
	ResidentDeathUndone: {anyProxy: true, own: true},
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
	_, err := forResidents(ctx, tx, kind, residents, payload, now)
	return err
}

// CountForResident is ForResident answering how many notifications it
// queued (a life event's consequence reports it).
func CountForResident(ctx context.Context, tx *gorm.DB, kind Kind, resident uuid.UUID, payload map[string]any, now time.Time) (int64, error) {
	return forResidents(ctx, tx, kind, []uuid.UUID{resident}, payload, now)
}

func forResidents(ctx context.Context, tx *gorm.DB, kind Kind, residents []uuid.UUID, payload map[string]any, now time.Time) (int64, error) {
	if _, ok := audiences[kind]; !ok {
		return 0, fmt.Errorf("notify: %s is not about a resident", kind)
	}
	if len(residents) == 0 {
		return 0, nil
	}
	if payload == nil {
		payload = map[string]any{}
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return 0, fmt.Errorf("notify: payload: %w", err)
	}
	q := tx.WithContext(ctx).Exec(enqueueSQL[kind], uuidArray(residents), string(b), now)
	if q.Error != nil {
		return 0, database.Classify(fmt.Errorf("notify: enqueue %s: %w", kind, q.Error))
	}
	return q.RowsAffected, nil
}

// enqueueSQL is forResidents' statement per kind, built once.
var enqueueSQL = func() map[Kind]string {
	m := make(map[Kind]string, len(audiences))
	for k := range audiences {
		m[k] = InsertSQL(k, "SELECT unnest(?::uuid[]) AS id", "?::jsonb", "?::timestamptz")
	}
	return m
}()

// InsertSQL is one INSERT of kind's notifications (kind must be about a
// resident: audiences) to everyone who hears of an event about the
// residents the query residents selects (one column, id): the resident's
// bound accounts, its proxies holding the kind's scope, its phone or first
// emergency contact, as the audience says. Each row's payload is the jsonb
// expression payload with residentId added; at (a timestamptz expression)
// is when it was written and first due. A statement that records an event
// splices it in as a CTE (a redemption, a call's intake), so the event and
// its notices commit together in one round trip; residents, payload and at
// may use that statement's parameters and CTEs, in the order residents,
// payload, at (each used once, so positional "?" parameters work).
func InsertSQL(kind Kind, residents, payload, at string) string {
	au, ok := audiences[kind]
	if !ok {
		panic(fmt.Sprintf("notify: %s is not about a resident", kind))
	}
	var b strings.Builder
	b.WriteString("WITH nr AS MATERIALIZED (" + residents + "), nw AS (\n")
	var parts []string
	if au.own {
		parts = append(parts, "  SELECT w.id AS recipient, 'WECHAT' AS rk, w.resident_id AS resident FROM wechat_accounts w JOIN nr ON w.resident_id = nr.id")
	}
	scopeCond := ""
	if !au.anyProxy {
		scopeCond = " AND '" + string(au.scope) + "' = ANY (p.scopes)"
	}
	if au.scope != "" || au.anyProxy {
		parts = append(parts, "  SELECT p.account_id AS recipient, 'WECHAT' AS rk, p.resident_id AS resident FROM resident_proxies p JOIN nr ON p.resident_id = nr.id"+
			" WHERE p.revoked_at IS NULL"+scopeCond)
	}
	wechat := strings.Join(parts, "\n  UNION\n")
	var all []string
	if wechat != "" {
		all = append(all, wechat)
	}
	if au.smsOwn {
		all = append(all, "  SELECT nr.id AS recipient, 'SMS_RESIDENT' AS rk, nr.id AS resident FROM nr")
	}
	if au.smsContact {
		all = append(all, "  SELECT nr.id AS recipient, 'SMS_CONTACT' AS rk, nr.id AS resident FROM nr")
	}
	b.WriteString(strings.Join(all, "\n  UNION ALL\n"))
	b.WriteString("\n)\nINSERT INTO notifications (id, kind, recipient_kind, recipient_id, resident_id, payload, created_at, next_attempt_at)\n")
	b.WriteString("SELECT uuid_v7(), '" + string(kind) + "', nw.rk, nw.recipient, nw.resident, (" + payload +
		") || jsonb_build_object('residentId', nw.resident), na.at, na.at\n  FROM nw, (SELECT " + at + " AS at) na")
	return b.String()
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
