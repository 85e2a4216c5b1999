package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// Inbox is the people's side of the outbox: what a resident's account was
// sent, the delivery status staff read (masked), the subscriptions the
// mini-program reports and the opt-outs.
type Inbox struct {
	db        *gorm.DB
	now       func() time.Time
	templates Templates
}

// NewInbox returns the inbox service.
func NewInbox(db *gorm.DB, now func() time.Time, templates Templates) *Inbox {
	return &Inbox{db: db, now: now, templates: templates}
}

// Notification is one message as its reader sees it.
type Notification struct {
	ID            uuid.UUID
	Kind          Kind
	Title         string
	Note          string
	Channel       string // WECHAT or SMS
	Status        string
	Attempts      int
	CreatedAt     time.Time
	SentAt        *time.Time
	LastError     *string
	ResidentID    *uuid.UUID
	RecipientKind RecipientKind
}

type inboxRow struct {
	ID            uuid.UUID
	Kind          string
	RecipientKind string
	ResidentID    *uuid.UUID
	Payload       []byte
	Status        string
	Attempts      int
	CreatedAt     time.Time
	SentAt        *time.Time
	LastError     *string
}

func (r inboxRow) notification() *Notification {
	var p map[string]any
	_ = json.Unmarshal(r.Payload, &p)
	if Kind(r.Kind).Secret() {
		// Staff reading deliveries never see a one-time code, even before
		// it is sent (the dispatcher removes it then).
		delete(p, "code")
	}
	m := render(Kind(r.Kind), p)
	ch := "WECHAT"
	if r.RecipientKind != string(Wechat) {
		ch = "SMS"
	}
	return &Notification{ID: r.ID, Kind: Kind(r.Kind), Title: m.title, Note: m.note, Channel: ch, Status: r.Status,
		Attempts: r.Attempts, CreatedAt: r.CreatedAt, SentAt: r.SentAt, LastError: r.LastError, ResidentID: r.ResidentID,
		RecipientKind: RecipientKind(r.RecipientKind)}
}

const inboxColumns = "id, kind, recipient_kind, resident_id, payload, status, attempts, created_at, sent_at, last_error"

// Mine is what was addressed to the signed-in WeChat account (its own
// record's notices and those of the residents it is a proxy for), and the
// SMS to its own resident, newest first, at most limit.
func (b *Inbox) Mine(ctx context.Context, limit int) ([]*Notification, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	if v.Kind != auth.SubjectWechat {
		return nil, problem.Forbidden("notifications are read by mini-program accounts")
	}
	limit = max(1, min(limit, 100))
	var rows []inboxRow
	q := b.db.WithContext(ctx).Table("notifications").Select(inboxColumns)
	if v.ResidentID != nil {
		q = q.Where("(recipient_kind = 'WECHAT' AND recipient_id = ?) OR (recipient_kind = 'SMS_RESIDENT' AND recipient_id = ?)", v.ID, *v.ResidentID)
	} else {
		q = q.Where("recipient_kind = 'WECHAT' AND recipient_id = ?", v.ID)
	}
	if err := q.Order("created_at DESC, id DESC").Limit(limit).Scan(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("notify: mine: %w", err))
	}
	return inbox(rows), nil
}

// Deliveries lists a resident's notifications with their delivery status,
// for staff allowed ReadNotificationDeliveries on the resident. No phone
// or account identifier is shown; the error is cut to its first words.
func (b *Inbox) Deliveries(ctx context.Context, resident uuid.UUID, orgPath string, limit int) ([]*Notification, error) {
	if _, err := policy.RequireOn(ctx, policy.ReadNotificationDeliveries, policy.Subject{ID: resident, OrgPath: orgPath}); err != nil {
		return nil, err
	}
	limit = max(1, min(limit, 100))
	var rows []inboxRow
	if err := b.db.WithContext(ctx).Table("notifications").Select(inboxColumns).Where("resident_id = ?", resident).
		Order("created_at DESC, id DESC").Limit(limit).Scan(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("notify: deliveries: %w", err))
	}
	out := inbox(rows)
	for _, n := range out {
		if n.LastError != nil {
			e := *n.LastError
			if len(e) > 80 {
				e = e[:80]
			}
			n.LastError = &e
		}
	}
	return out, nil
}

func inbox(rows []inboxRow) []*Notification {
	out := make([]*Notification, len(rows))
	for i, r := range rows {
		out[i] = r.notification()
	}
	return out
}

// ReportGrants records what wx.requestSubscribeMessage answered: each
// accepted template allows one more message, each rejected one none. Only
// templates this service uses are kept.
func (b *Inbox) ReportGrants(ctx context.Context, accepted, rejected []string) error {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return err
	}
	if v.Kind != auth.SubjectWechat {
		return problem.Forbidden("subscriptions are reported by mini-program accounts")
	}
	known := map[string]bool{}
	for _, id := range b.templates {
		known[id] = true
	}
	for _, l := range [][]string{accepted, rejected} {
		if len(l) > 20 {
			return problem.New(problem.Invalid, "模板过多 (too many templates)", "input", "accepted")
		}
		for _, id := range l {
			if !known[id] {
				return problem.New(problem.Invalid, "未知的订阅消息模板 (unknown template)", "input", "accepted")
			}
		}
	}
	now := b.now()
	return database.Tx(ctx, b.db, func(tx *gorm.DB) error {
		for _, id := range accepted {
			if err := tx.WithContext(ctx).Exec(`INSERT INTO wechat_template_grants (account_id, template_id, remaining, updated_at)
				VALUES (?, ?, 1, ?) ON CONFLICT (account_id, template_id)
				DO UPDATE SET remaining = least(wechat_template_grants.remaining + 1, 50), updated_at = EXCLUDED.updated_at`, v.ID, id, now).Error; err != nil {
				return database.Classify(fmt.Errorf("notify: grants: %w", err))
			}
		}
		for _, id := range rejected {
			if err := tx.WithContext(ctx).Exec(`UPDATE wechat_template_grants SET remaining = 0, updated_at = ?
				WHERE account_id = ? AND template_id = ?`, now, v.ID, id).Error; err != nil {
				return database.Classify(fmt.Errorf("notify: grants: %w", err))
			}
		}
		return audit.Record(ctx, tx, audit.ActionReportSubscribeGrants, audit.EntityWechatAccount, &v.ID,
			map[string]any{"accepted": accepted, "rejected": rejected})
	})
}

// SetOptOut turns a channel off (or on again) for the signed-in account:
// WECHAT for the account itself, SMS for its own resident's phone. Alarms
// are sent whatever is set here.
func (b *Inbox) SetOptOut(ctx context.Context, channel string, optOut bool) error {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return err
	}
	if v.Kind != auth.SubjectWechat {
		return problem.Forbidden("opt-outs are set by mini-program accounts")
	}
	subject := v.ID
	switch channel {
	case "WECHAT":
	case "SMS":
		if v.ResidentID == nil {
			return problem.New(problem.Invalid, "短信只发给已绑定的居民本人 (SMS goes to a bound resident's own phone)", "input", "channel")
		}
		subject = *v.ResidentID
	default:
		return problem.New(problem.Invalid, "渠道无效 (unknown channel)", "input", "channel")
	}
	return database.Tx(ctx, b.db, func(tx *gorm.DB) error {
		var err error
		if optOut {
			err = tx.WithContext(ctx).Exec(`INSERT INTO notification_opt_outs (subject_id, channel, at) VALUES (?, ?, ?)
				ON CONFLICT DO NOTHING`, subject, channel, b.now()).Error
		} else {
			err = tx.WithContext(ctx).Exec("DELETE FROM notification_opt_outs WHERE subject_id = ? AND channel = ?", subject, channel).Error
		}
		if err != nil {
			return database.Classify(fmt.Errorf("notify: opt-out: %w", err))
		}
		return audit.Record(ctx, tx, audit.ActionSetNotificationOptOut, audit.EntityWechatAccount, &v.ID,
			map[string]any{"channel": channel, "optOut": optOut})
	})
}

// OptOuts answers the channels the signed-in account has turned off.
func (b *Inbox) OptOuts(ctx context.Context) ([]string, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	ids := []uuid.UUID{v.ID}
	if v.ResidentID != nil {
		ids = append(ids, *v.ResidentID)
	}
	var out []string
	if err := b.db.WithContext(ctx).Raw(`SELECT channel FROM notification_opt_outs WHERE
		(subject_id = ? AND channel = 'WECHAT') OR (subject_id = ? AND channel = 'SMS') ORDER BY channel`, ids[0], ids[len(ids)-1]).Scan(&out).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("notify: opt-outs: %w", err))
	}
	return out, nil
}
