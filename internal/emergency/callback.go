package emergency

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/periodic"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/resident"
)

// outboundNumberAAD binds the numbers waiting in the outbound outbox to
// their column.
const outboundNumberAAD = "emergency_outbound.number"

// Numbers is what the alarm center needs of the registry: the full number
// of a resident or of one of their contacts (resident.Service answers).
type Numbers interface {
	CallbackNumber(ctx context.Context, residentID uuid.UUID, contactID *uuid.UUID) (*resident.Number, error)
}

// Webhook is where outbound-call requests go: the telephony system's URL,
// the HMAC key that signs them and the HTTP client that sends them.
type Webhook struct {
	URL    string
	Secret []byte
	Client *http.Client
}

// AlarmCenter is the wiring of the second round: the registry's numbers,
// the per-operator reveal throttle (EMERGENCY_REVEALS_PER_HOUR) and the
// telephony webhook.
type AlarmCenter struct {
	Numbers Numbers
	Reveals *auth.Throttle
	Webhook Webhook
}

// SetAlarmCenter wires the call-back dependencies (at start-up).
func (s *Service) SetAlarmCenter(a AlarmCenter) {
	if a.Webhook.Client == nil {
		a.Webhook.Client = &http.Client{Timeout: 10 * time.Second}
	}
	s.alarm = a
}

// RevealWindow is the reveal throttle's window.
const RevealWindow = time.Hour

// CallbackRequest names whom an operator wants to reach during a call.
type CallbackRequest struct {
	CallID    uuid.UUID
	Target    CallbackTarget
	ContactID *uuid.UUID
}

// OutboundCall is an outbound call the telephony system was asked to place.
type OutboundCall struct {
	ID           uuid.UUID
	CallID       uuid.UUID
	Target       CallbackTarget
	Whom         string
	NumberMasked string
	RequestedAt  time.Time
	Status       string
	Attempts     int
	DeliveredAt  *time.Time
}

type outboundRow struct {
	ID            uuid.UUID
	CallID        uuid.UUID
	Target        string
	ContactName   *string
	NumberEnc     string
	NumberMasked  string
	RequestedBy   uuid.UUID
	RequestedAt   time.Time
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	DeliveredAt   *time.Time
	LastError     *string
}

func (outboundRow) TableName() string { return "emergency_outbound_calls" }

func (r outboundRow) outbound() *OutboundCall {
	return &OutboundCall{ID: r.ID, CallID: r.CallID, Target: CallbackTarget(r.Target), Whom: deref(r.ContactName),
		NumberMasked: r.NumberMasked, RequestedAt: r.RequestedAt, Status: r.Status, Attempts: r.Attempts, DeliveredAt: r.DeliveredAt}
}

// openCallFor loads the call inside tx (locked) and checks it is open and
// about a known resident: calling back and revealing numbers are for the
// call being handled, not for browsing the registry.
func openCallFor(ctx context.Context, tx *gorm.DB, id uuid.UUID) (*callRow, error) {
	var rows []callRow
	if err := tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("emergency: call: %w", database.Classify(err))
	}
	if len(rows) == 0 {
		return nil, problem.New(problem.NotFound, "未找到该呼叫 (call not found)", "input", "callId")
	}
	if Status(rows[0].Status) == Closed {
		return nil, problem.New(problem.InvalidTransition, "呼叫已结束，不能再回拨或查看号码 (the call is closed)", "input", "callId")
	}
	if rows[0].ResidentID == nil {
		return nil, problem.New(problem.Invalid, "来电人不明，无法回拨 (the caller is not a known resident)", "input", "callId")
	}
	return &rows[0], nil
}

// number finds the number of the request's target.
func (s *Service) number(ctx context.Context, residentID uuid.UUID, target CallbackTarget, contactID *uuid.UUID) (*resident.Number, error) {
	switch target {
	case TargetResident:
		contactID = nil
	case TargetContact:
		if contactID == nil {
			return nil, problem.New(problem.Invalid, "请选择紧急联系人 (contactId is required for a contact)", "input", "contactId")
		}
	default:
		return nil, problem.New(problem.Invalid, "未知的回拨对象 (unknown target)", "input", "target")
	}
	if s.alarm.Numbers == nil {
		return nil, fmt.Errorf("emergency: no registry wired for call-back numbers")
	}
	n, err := s.alarm.Numbers.CallbackNumber(ctx, residentID, contactID)
	if err != nil {
		return nil, err
	}
	if n == nil {
		if contactID != nil {
			return nil, problem.New(problem.NotFound, "该居民没有这位紧急联系人 (no such contact of this resident)", "input", "contactId")
		}
		return nil, problem.New(problem.NotFound, "该居民未登记电话 (the resident has no phone number)", "input", "target")
	}
	return n, nil
}

// RequestOutboundCall asks the telephony system to call the resident of an
// open call, or one of their contacts. The request is written to the
// outbox in the transaction of the call's event and audit entry, and the
// sender delivers it to the telephony webhook (RunOutbound); the number
// never reaches the operator.
func (s *Service) RequestOutboundCall(ctx context.Context, in CallbackRequest) (*OutboundCall, error) {
	v, err := policy.Require(ctx, policy.RequestOutboundCall)
	if err != nil {
		return nil, err
	}
	var out *OutboundCall
	var path string
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		c, err := openCallFor(ctx, tx, in.CallID)
		if err != nil {
			return err
		}
		if ok, _ := policy.On(v, policy.RequestOutboundCall, policy.Subject{ID: *c.ResidentID, OrgPath: c.OrgPath}); !ok {
			return policy.OutOfJurisdiction("input", "callId")
		}
		n, err := s.number(ctx, *c.ResidentID, in.Target, in.ContactID)
		if err != nil {
			return err
		}
		enc, err := s.keys.Encrypt(n.Plain, outboundNumberAAD)
		if err != nil {
			return fmt.Errorf("emergency: encrypt outbound number: %w", err)
		}
		now := s.now()
		row := outboundRow{ID: uuid.Must(uuid.NewV7()), CallID: c.ID, Target: string(in.Target), ContactName: &n.Whom,
			NumberEnc: enc, NumberMasked: n.Masked, RequestedBy: v.ID, RequestedAt: now, Status: "PENDING", NextAttemptAt: now}
		if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
			return fmt.Errorf("emergency: outbound call: %w", database.Classify(err))
		}
		detail := n.Whom + " " + n.Masked
		if err := appendEvent(ctx, tx, c.ID, now, EventCallbackRequested, &v.ID, v.DisplayName, &detail, nil); err != nil {
			return err
		}
		if err := touchCall(ctx, tx, c.ID, now); err != nil {
			return err
		}
		out, path = row.outbound(), c.OrgPath
		return audit.Record(ctx, tx, audit.ActionRequestOutboundCall, audit.EntityEmergencyCall, &c.ID,
			map[string]any{"target": in.Target, "contactId": in.ContactID, "outboundId": row.ID})
	})
	if err != nil {
		return nil, err
	}
	s.hub.publish(ctx, out.CallID, path)
	s.kickOutbound()
	return out, nil
}

// RevealNumber shows one full number of the resident of an open call, or
// of one of their contacts, to the operator: with a reason, counted
// against the operator's hourly allowance (EMERGENCY_REVEALS_PER_HOUR,
// every attempt counts) and audited with the reason and whose number it
// was, never the number.
func (s *Service) RevealNumber(ctx context.Context, in CallbackRequest, reason string) (string, error) {
	v, err := policy.Require(ctx, policy.RevealContactNumber)
	if err != nil {
		return "", err
	}
	reason = strings.TrimSpace(reason)
	if utf8.RuneCountInString(reason) < 2 || utf8.RuneCountInString(reason) > 500 {
		return "", problem.New(problem.Invalid, "请填写查看号码的理由（2 至 500 字）(a reason of 2 to 500 characters)", "input", "reason")
	}
	if s.alarm.Reveals != nil {
		ok, err := s.alarm.Reveals.Reserve(ctx, "reveal:"+v.ID.String())
		if err != nil {
			return "", err
		}
		if !ok {
			if err := audit.Record(ctx, s.db.WithContext(ctx), audit.ActionRevealContactNumber, audit.EntityEmergencyCall, &in.CallID,
				map[string]any{"outcome": "rate_limited"}); err != nil {
				return "", err
			}
			return "", problem.New(problem.TooManyAttempts, "查看完整号码过于频繁，请稍后再试或改用系统回拨 (too many numbers revealed; try later or use requestOutboundCall)")
		}
	}
	var plain, path string
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		c, err := openCallFor(ctx, tx, in.CallID)
		if err != nil {
			return err
		}
		if ok, _ := policy.On(v, policy.RevealContactNumber, policy.Subject{ID: *c.ResidentID, OrgPath: c.OrgPath}); !ok {
			return policy.OutOfJurisdiction("input", "callId")
		}
		n, err := s.number(ctx, *c.ResidentID, in.Target, in.ContactID)
		if err != nil {
			return err
		}
		now := s.now()
		detail := n.Whom + " " + n.Masked + "：" + reason
		if err := appendEvent(ctx, tx, c.ID, now, EventNumberRevealed, &v.ID, v.DisplayName, &detail, nil); err != nil {
			return err
		}
		if err := touchCall(ctx, tx, c.ID, now); err != nil {
			return err
		}
		plain, path = n.Plain, c.OrgPath
		return audit.Record(ctx, tx, audit.ActionRevealContactNumber, audit.EntityEmergencyCall, &c.ID,
			map[string]any{"target": in.Target, "contactId": in.ContactID, "reason": reason})
	})
	if err != nil {
		return "", err
	}
	s.hub.publish(ctx, in.CallID, path)
	return plain, nil
}

// ContactAttempt is an attempt to reach someone about a call.
type ContactAttempt struct {
	CallID  uuid.UUID
	Whom    string
	At      *time.Time
	Outcome ContactOutcome
	Note    *string
}

var contactOutcomes = map[ContactOutcome]bool{ContactAnswered: true, ContactNoAnswer: true, ContactBusy: true, ContactWrongNumber: true}

// RecordContactAttempt appends a contact attempt to a call's trail: whom,
// when (default now, never in the future), the outcome and a note. It is
// allowed on open and closed calls alike (the family may be reached after
// the call was closed), by whoever handles calls.
func (s *Service) RecordContactAttempt(ctx context.Context, in ContactAttempt) (*Call, error) {
	v, err := policy.Require(ctx, policy.HandleEmergencyCall)
	if err != nil {
		return nil, err
	}
	whom := strings.TrimSpace(in.Whom)
	if whom == "" || utf8.RuneCountInString(whom) > 64 {
		return nil, problem.New(problem.Invalid, "请填写联系对象（1 至 64 字）(whom must be 1 to 64 characters)", "input", "whom")
	}
	if !contactOutcomes[in.Outcome] {
		return nil, problem.New(problem.Invalid, "未知的联系结果 (unknown outcome)", "input", "outcome")
	}
	note := strings.TrimSpace(deref(in.Note))
	if utf8.RuneCountInString(note) > 1000 {
		return nil, problem.New(problem.Invalid, "备注不能超过 1000 字 (note must be at most 1000 characters)", "input", "note")
	}
	now := s.now()
	at, err := reportedTime(in.At, now, "at")
	if err != nil {
		return nil, err
	}
	var out *callRow
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		c, err := callByID(ctx, tx, in.CallID)
		if err != nil {
			return err
		}
		if c == nil {
			return problem.New(problem.NotFound, "未找到该呼叫 (call not found)", "input", "callId")
		}
		if ok, _ := policy.On(v, policy.HandleEmergencyCall, policy.Subject{OrgPath: c.OrgPath}); !ok {
			return policy.OutOfJurisdiction("input", "callId")
		}
		if at.Before(c.ReceivedAt) {
			at = c.ReceivedAt
		}
		o := string(in.Outcome)
		row := eventRow{ID: uuid.Must(uuid.NewV7()), CallID: c.ID, At: at, Kind: EventContactAttempt, ActorID: &v.ID,
			ContactWhom: &whom, ContactOutcome: &o}
		if v.DisplayName != "" {
			row.ActorName = &v.DisplayName
		}
		if note != "" {
			row.Detail = &note
		}
		if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
			return fmt.Errorf("emergency: contact attempt: %w", database.Classify(err))
		}
		if err := touchCall(ctx, tx, c.ID, now); err != nil {
			return err
		}
		if out, err = callByID(ctx, tx, c.ID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.ActionRecordContactAttempt, audit.EntityEmergencyCall, &c.ID, map[string]any{"outcome": o})
	})
	if err != nil {
		return nil, err
	}
	s.hub.publish(ctx, out.ID, out.OrgPath)
	return out.call(), nil
}

// OutboundCallsByCalls lists the outbound calls requested on calls (for
// the EmergencyCall.outboundCalls loader; the calls were authorized when
// read, and the numbers are masked).
func (s *Service) OutboundCallsByCalls(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]*OutboundCall, error) {
	var rows []outboundRow
	if err := s.db.WithContext(ctx).Omit("NumberEnc").Where("call_id = ANY(?)", database.UUIDs(ids)).Order("requested_at, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("emergency: outbound calls: %w", database.Classify(err))
	}
	out := make(map[uuid.UUID][]*OutboundCall, len(ids))
	for _, r := range rows {
		out[r.CallID] = append(out[r.CallID], r.outbound())
	}
	return out, nil
}

func touchCall(ctx context.Context, tx *gorm.DB, id uuid.UUID, now time.Time) error {
	if err := tx.WithContext(ctx).Model(&callRow{}).Where("id = ?", id).Update("updated_at", now).Error; err != nil {
		return fmt.Errorf("emergency: touch call: %w", database.Classify(err))
	}
	return nil
}

// --- the outbound sender ------------------------------------------------------

// outboundBatch is how many requests one pass of the sender claims.
const outboundBatch = 20

// outboundMaxAttempts is how many deliveries are tried before a request
// fails (and its call's trail says so).
const outboundMaxAttempts = 8

// outboundBackoff is the wait before attempt n+1 (n ≥ 1): 5 s doubling,
// at most 5 minutes. A call-back is urgent; a telephony system that stays
// down longer is an incident the CALLBACK_FAILED event shows the operator.
func outboundBackoff(n int) time.Duration {
	d := 5 * time.Second << min(n-1, 6)
	return min(d, 5*time.Minute)
}

// OutboundPayload is the JSON body POSTed to TELEPHONY_WEBHOOK_URL.
type OutboundPayload struct {
	ID             uuid.UUID `json:"id"`
	CallID         uuid.UUID `json:"callId"`
	ExternalCallID string    `json:"externalCallId"`
	Target         string    `json:"target"`
	Number         string    `json:"number"`
	RequestedAt    time.Time `json:"requestedAt"`
}

// Sign is the X-Signature header of a webhook body sent at unix time ts:
// "t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<body>")>" (the timestamp
// inside the MAC lets the receiver refuse replays).
func Sign(secret []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

func (s *Service) kickOutbound() {
	select {
	case s.outboundKick <- struct{}{}:
	default:
	}
}

// RunOutbound delivers pending outbound-call requests to the telephony
// webhook every interval, and at once after a request, until ctx ends.
// Rows are claimed FOR UPDATE SKIP LOCKED, so any number of instances
// share the work and none sends a request twice at the same time (the
// receiver deduplicates by the payload id when a retry follows a lost
// answer).
func (s *Service) RunOutbound(ctx context.Context, interval time.Duration) {
	periodic.Every(ctx, interval, false, s.outboundKick, func(ctx context.Context) {
		if _, err := s.DeliverOutbound(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("emergency: outbound delivery failed", "err", err.Error())
		}
	})
}

// DeliverOutbound makes one pass over the due requests; it returns how
// many were delivered. Without a webhook URL nothing is sent.
func (s *Service) DeliverOutbound(ctx context.Context) (int, error) {
	if s.alarm.Webhook.URL == "" {
		return 0, nil
	}
	delivered := 0
	var changed []change
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		delivered, changed = 0, nil
		var rows []outboundRow
		if err := tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"}).
			Where("status = 'PENDING' AND next_attempt_at <= ?", s.now()).Order("next_attempt_at, id").Limit(outboundBatch).
			Find(&rows).Error; err != nil {
			return fmt.Errorf("emergency: claim outbound: %w", database.Classify(err))
		}
		for _, r := range rows {
			ok, ch, err := s.deliverOne(ctx, tx, r)
			if err != nil {
				return err
			}
			if ok {
				delivered++
			}
			if ch != nil {
				changed = append(changed, *ch)
			}
		}
		return nil
	})
	if err == nil {
		for _, c := range changed {
			s.hub.publish(ctx, c.ID, c.Path)
		}
	}
	return delivered, err
}

// deliverOne sends one request and records the attempt; the call change
// to publish after the commit is returned when its trail grew.
func (s *Service) deliverOne(ctx context.Context, tx *gorm.DB, r outboundRow) (bool, *change, error) {
	c, err := callByID(ctx, tx, r.CallID)
	if err != nil || c == nil {
		return false, nil, err
	}
	number, err := s.keys.Decrypt(r.NumberEnc, outboundNumberAAD)
	if err != nil {
		return false, nil, fmt.Errorf("emergency: decrypt outbound number: %w", err)
	}
	body, _ := json.Marshal(OutboundPayload{ID: r.ID, CallID: r.CallID, ExternalCallID: c.ExternalCallID, Target: r.Target,
		Number: number, RequestedAt: r.RequestedAt})
	sendErr := s.post(ctx, body)
	now := s.now()
	r.Attempts++
	upd := map[string]any{"attempts": r.Attempts}
	var event, detail string
	if sendErr == nil {
		upd["status"], upd["delivered_at"], upd["last_error"] = "DELIVERED", now, nil
		event, detail = EventCallbackDelivered, deref(r.ContactName)+" "+r.NumberMasked
	} else {
		msg := sendErr.Error()
		upd["last_error"] = msg
		if r.Attempts >= outboundMaxAttempts {
			upd["status"] = "FAILED"
			event, detail = EventCallbackFailed, deref(r.ContactName)+" "+r.NumberMasked+"：呼叫系统未接收回拨请求"
		} else {
			upd["next_attempt_at"] = now.Add(outboundBackoff(r.Attempts))
		}
		s.log.Warn("emergency: outbound call not delivered", "outbound_id", r.ID, "attempt", r.Attempts, "err", msg)
	}
	if err := tx.WithContext(ctx).Model(&outboundRow{}).Where("id = ?", r.ID).Updates(upd).Error; err != nil {
		return false, nil, fmt.Errorf("emergency: outbound status: %w", database.Classify(err))
	}
	if event == "" {
		return false, nil, nil
	}
	if err := appendEvent(ctx, tx, r.CallID, now, event, nil, "", &detail, nil); err != nil {
		return false, nil, err
	}
	return sendErr == nil, &change{ID: r.CallID, Path: c.OrgPath}, nil
}

// post sends one request; any answer but 2xx is a failure. The error
// never holds the body (it has the number).
func (s *Service) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.alarm.Webhook.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature", Sign(s.alarm.Webhook.Secret, time.Now().Unix(), body))
	resp, err := s.alarm.Webhook.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return nil
}
