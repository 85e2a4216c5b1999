package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
)

// Phones reads the numbers SMS go to, from the registry, when sending.
type Phones interface {
	ResidentPhone(ctx context.Context, resident uuid.UUID) (string, bool, error)
	FirstContactPhone(ctx context.Context, resident uuid.UUID) (string, bool, error)
}

// Options tune a Dispatcher.
type Options struct {
	// Batch is how many rows one claim takes.
	Batch int
	// Lease is how long a claimed row stays with its dispatcher: a
	// dispatcher that died mid-send leaves it due again after it.
	Lease time.Duration
	// MaxAttempts is how many failed sends make a row DEAD.
	MaxAttempts int
	// Backoff is the wait after the first failure; it doubles per failure
	// up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Poll is how often an idle dispatcher looks again.
	Poll time.Duration
	// FlushAfter bounds how long sent rows wait to be recorded as sent
	// (DispatchOnce): what a crash could send twice.
	FlushAfter time.Duration
}

func (o *Options) defaults() {
	if o.Batch <= 0 {
		o.Batch = 50
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 6
	}
	if o.Backoff <= 0 {
		o.Backoff = 30 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Hour
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if o.FlushAfter <= 0 {
		o.FlushAfter = time.Second
	}
}

// Dispatcher delivers the outbox. Every instance runs one; the claim
// (FOR UPDATE SKIP LOCKED, lease in the same statement) keeps two of them
// off one row.
type Dispatcher struct {
	db        *gorm.DB
	wechat    *WechatSender
	sms       *SMSSender
	templates Templates
	phones    Phones
	now       func() time.Time
	log       *slog.Logger
	opt       Options
}

// NewDispatcher wires a dispatcher; sms may be nil (SMS off).
func NewDispatcher(db *gorm.DB, wechat *WechatSender, sms *SMSSender, templates Templates, phones Phones,
	now func() time.Time, log *slog.Logger, opt Options) *Dispatcher {
	opt.defaults()
	return &Dispatcher{db: db, wechat: wechat, sms: sms, templates: templates, phones: phones, now: now, log: log, opt: opt}
}

// Run dispatches until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := d.DispatchOnce(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.ErrorContext(ctx, "notify: dispatch", "err", err)
		}
		// A full batch leaves more due: take the next at once. One that
		// was not full drained the outbox, which then waits a poll as an
		// idle one does, so a steady trickle of rows is taken in batches,
		// not one claim per row.
		if n >= d.opt.Batch && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(d.opt.Poll):
		}
	}
}

// claimed is a row a dispatcher holds.
type claimed struct {
	ID            uuid.UUID
	Kind          string
	RecipientKind string
	RecipientID   uuid.UUID
	ResidentID    *uuid.UUID
	Payload       []byte
	Attempts      int
}

// claim takes up to Batch due rows: it pushes their next attempt past the
// lease and counts the attempt in the statement that locks them.
func (d *Dispatcher) claim(ctx context.Context) ([]claimed, error) {
	now := d.now()
	var rows []claimed
	err := d.db.WithContext(ctx).Raw(`
UPDATE notifications n SET next_attempt_at = ?, attempts = n.attempts + 1
  FROM (SELECT id FROM notifications WHERE status = 'PENDING' AND next_attempt_at <= ?
         ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED) c
 WHERE n.id = c.id
RETURNING n.id, n.kind, n.recipient_kind, n.recipient_id, n.resident_id, n.payload, n.attempts`,
		now.Add(d.opt.Lease), now, d.opt.Batch).Scan(&rows).Error
	if err != nil {
		return nil, database.Classify(fmt.Errorf("notify: claim: %w", err))
	}
	return rows, nil
}

// DispatchOnce claims one batch, sends it and records what became of
// each row, answering how many rows it claimed.
//
// The outcomes are written together, one statement for the batch (or for
// what FlushAfter of sending took, when sends are slow): a row's own
// autocommit update was a commit, and a WAL flush, per message, which at
// a few hundred receipts a second cost the machine a fifth of its
// redemptions (docs/PERFORMANCE.md). A dispatcher that dies before the
// write leaves those rows due again after the lease, so a crash may send
// the messages of one flush twice; it never loses one.
func (d *Dispatcher) DispatchOnce(ctx context.Context) (int, error) {
	rows, err := d.claim(ctx)
	if err != nil {
		return 0, err
	}
	var (
		done  finished
		since time.Time
	)
	for _, r := range rows {
		if len(done.id) == 0 {
			since = d.now()
		}
		d.deliver(ctx, r, &done)
		if d.now().Sub(since) >= d.opt.FlushAfter {
			if err := d.finish(ctx, &done); err != nil {
				return len(rows), err
			}
		}
	}
	return len(rows), d.finish(ctx, &done)
}

// outcome of one send.
type outcome struct {
	status string // SENT, SKIPPED, DEAD, or "" (retry)
	reason string
}

// finished holds the outcomes of sent rows until finish writes them, as
// the columns of one statement.
type finished struct {
	id        []uuid.UUID
	attempts  []int32
	status    []*string    // nil: still PENDING (a retry)
	lastError []*string    // nil once SENT
	retryAt   []*time.Time // a retry's next attempt
	forget    []bool       // drop the payload's secret (Kind.Secret)
}

// deliver sends one claimed row and adds its outcome to done.
func (d *Dispatcher) deliver(ctx context.Context, r claimed, done *finished) {
	o := d.send(ctx, r)
	if o.status == "" && r.Attempts >= d.opt.MaxAttempts {
		o.status = "DEAD"
	}
	var status, reason *string
	var retryAt *time.Time
	switch o.status {
	case "SENT":
		status = &o.status
	case "":
		reason, retryAt = &o.reason, ptr(d.now().Add(d.backoff(r.Attempts)))
	default:
		status, reason = &o.status, &o.reason
	}
	done.id = append(done.id, r.ID)
	done.attempts = append(done.attempts, int32(r.Attempts))
	done.status = append(done.status, status)
	done.lastError = append(done.lastError, reason)
	done.retryAt = append(done.retryAt, retryAt)
	// A one-time code is kept no longer than its send: dropped once the
	// row is final (SENT, SKIPPED or DEAD), kept for a retry.
	done.forget = append(done.forget, status != nil && Kind(r.Kind).Secret())
	if o.status == "DEAD" {
		d.log.WarnContext(ctx, "notify: dead letter", "notification", r.ID, "kind", r.Kind, "attempts", r.Attempts, "reason", o.reason)
	}
}

// finishSQL writes the outcomes of a flush. A row is written only while
// it is still the attempt this dispatcher claimed (PENDING, the same
// attempt count): one whose lease ran out and that another dispatcher
// took meanwhile is that one's to write.
const finishSQL = `UPDATE notifications n SET status = coalesce(f.status, n.status),
  sent_at = CASE WHEN f.status = 'SENT' THEN $7::timestamptz ELSE n.sent_at END,
  last_error = f.last_error, next_attempt_at = coalesce(f.retry_at, n.next_attempt_at),
  payload = CASE WHEN f.forget THEN n.payload - 'code' ELSE n.payload END
FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::timestamptz[], $6::bool[])
  AS f(id, attempts, status, last_error, retry_at, forget)
WHERE n.id = f.id AND n.status = 'PENDING' AND n.attempts = f.attempts`

// finish writes done's outcomes in one statement and empties it.
func (d *Dispatcher) finish(ctx context.Context, done *finished) error {
	if len(done.id) == 0 {
		return nil
	}
	_, err := database.SQL(d.db).ExecContext(ctx, finishSQL, database.UUIDs(done.id), done.attempts, done.status,
		done.lastError, done.retryAt, done.forget, d.now())
	*done = finished{}
	if err != nil {
		return database.Classify(fmt.Errorf("notify: finish: %w", err))
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// backoff is the wait after the attempts-th failure.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := d.opt.Backoff
	for i := 1; i < attempts && b < d.opt.MaxBackoff; i++ {
		b *= 2
	}
	return min(b, d.opt.MaxBackoff)
}

// send delivers one row and says what became of it.
func (d *Dispatcher) send(ctx context.Context, r claimed) outcome {
	kind := Kind(r.Kind)
	var payload map[string]any
	if err := json.Unmarshal(r.Payload, &payload); err != nil {
		return outcome{"SKIPPED", "malformed payload"}
	}
	msg := render(kind, payload)
	switch RecipientKind(r.RecipientKind) {
	case Wechat:
		return d.sendWechat(ctx, kind, r.RecipientID, msg)
	case SMSResident, SMSContact:
		return d.sendSMS(ctx, kind, RecipientKind(r.RecipientKind), r.RecipientID, msg)
	}
	return outcome{"SKIPPED", "unknown recipient kind"}
}

func (d *Dispatcher) optedOut(ctx context.Context, kind Kind, subject uuid.UUID, channel string) (bool, error) {
	if kind.Alarm() || kind.Requested() {
		return false, nil
	}
	var n int64
	err := d.db.WithContext(ctx).Table("notification_opt_outs").Where("subject_id = ? AND channel = ?", subject, channel).Count(&n).Error
	return n > 0, err
}

func (d *Dispatcher) sendWechat(ctx context.Context, kind Kind, account uuid.UUID, m message) outcome {
	tpl, ok := d.templates[kind]
	if !ok || d.wechat == nil {
		return outcome{"SKIPPED", "no template configured"}
	}
	if out, err := d.optedOut(ctx, kind, account, "WECHAT"); err != nil {
		return outcome{"", "opt-out: " + err.Error()}
	} else if out {
		return outcome{"SKIPPED", "opted out"}
	}
	var openids []string
	if err := d.db.WithContext(ctx).Raw("SELECT openid FROM wechat_accounts WHERE id = ?", account).Scan(&openids).Error; err != nil {
		return outcome{"", "account: " + err.Error()}
	}
	if len(openids) == 0 {
		return outcome{"SKIPPED", "no such account"}
	}
	// One accepted subscription is one message: take it before sending,
	// give it back if the send may be retried.
	take := d.db.WithContext(ctx).Exec(`UPDATE wechat_template_grants SET remaining = remaining - 1, updated_at = ?
		WHERE account_id = ? AND template_id = ? AND remaining > 0`, d.now(), account, tpl)
	if take.Error != nil {
		return outcome{"", "grant: " + take.Error.Error()}
	}
	if take.RowsAffected == 0 {
		return outcome{"SKIPPED", "template not accepted"}
	}
	err := d.wechat.Send(ctx, openids[0], tpl, m.page, m.wechatData())
	switch {
	case err == nil:
		return outcome{"SENT", ""}
	case errors.Is(err, ErrRefused):
		d.db.WithContext(ctx).Exec(`UPDATE wechat_template_grants SET remaining = 0, updated_at = ? WHERE account_id = ? AND template_id = ?`,
			d.now(), account, tpl)
		return outcome{"SKIPPED", err.Error()}
	case Transient(err):
		d.db.WithContext(ctx).Exec(`UPDATE wechat_template_grants SET remaining = least(remaining + 1, 50), updated_at = ?
			WHERE account_id = ? AND template_id = ?`, d.now(), account, tpl)
		return outcome{"", err.Error()}
	default:
		return outcome{"DEAD", err.Error()}
	}
}

func (d *Dispatcher) sendSMS(ctx context.Context, kind Kind, rk RecipientKind, resident uuid.UUID, m message) outcome {
	if d.sms == nil || d.phones == nil {
		return outcome{"SKIPPED", "SMS off"}
	}
	var phone string
	var ok bool
	var err error
	if rk == SMSContact {
		phone, ok, err = d.phones.FirstContactPhone(ctx, resident)
	} else {
		if out, oerr := d.optedOut(ctx, kind, resident, "SMS"); oerr != nil {
			return outcome{"", "opt-out: " + oerr.Error()}
		} else if out {
			return outcome{"SKIPPED", "opted out"}
		}
		phone, ok, err = d.phones.ResidentPhone(ctx, resident)
	}
	if err != nil {
		return outcome{"", "phone: lookup failed"}
	}
	if !ok {
		return outcome{"SKIPPED", "no phone"}
	}
	err = d.sms.Send(ctx, phone, string(kind), m.smsParams())
	switch {
	case err == nil:
		return outcome{"SENT", ""}
	case Transient(err):
		return outcome{"", err.Error()}
	default:
		return outcome{"DEAD", err.Error()}
	}
}

// Templates maps kinds to WeChat subscribe-message template ids.
type Templates map[Kind]string

// ParseTemplates reads WECHAT_TEMPLATES: "event:templateId,…", each event
// a Kind, each at most once.
func ParseTemplates(s string) (Templates, error) {
	t := Templates{}
	if strings.TrimSpace(s) == "" {
		return t, nil
	}
	known := map[Kind]bool{}
	for _, k := range Kinds {
		known[k] = true
	}
	for _, pair := range strings.Split(s, ",") {
		ev, id, ok := strings.Cut(strings.TrimSpace(pair), ":")
		ev, id = strings.TrimSpace(ev), strings.TrimSpace(id)
		if !ok || id == "" || len(id) > 128 || strings.ContainsAny(id, " \t\r\n") {
			return nil, fmt.Errorf("notify: WECHAT_TEMPLATES: %q is not event:templateId", pair)
		}
		k := Kind(ev)
		if !known[k] {
			return nil, fmt.Errorf("notify: WECHAT_TEMPLATES: unknown event %q", ev)
		}
		if _, dup := t[k]; dup {
			return nil, fmt.Errorf("notify: WECHAT_TEMPLATES: %s given twice", ev)
		}
		t[k] = id
	}
	return t, nil
}
