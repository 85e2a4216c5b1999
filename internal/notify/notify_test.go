package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/notify"
	"github.com/jinjiang/residents/internal/resident"
	"github.com/jinjiang/residents/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// fake is WeChat's token and subscribe-send endpoints and an SMS gateway
// in one server. sendFail and smsFail say how many sends answer 500 before
// the fake starts to succeed (-1: always).
type fake struct {
	*httptest.Server
	tokenCalls       atomic.Int64
	sendFail         atomic.Int64
	smsFail          atomic.Int64
	mu               sync.Mutex
	sent             map[string]int // openid -> subscribe messages sent
	sms              []map[string]any
	sendAttempts     atomic.Int64
	smsAttempts      atomic.Int64
	tokenDelay       time.Duration
	currentToken     atomic.Value
	tokensHandedOut  atomic.Int64
	rejectTokenUntil atomic.Int64
}

func newFake(t *testing.T) *fake {
	f := &fake{sent: map[string]int{}, tokenDelay: 100 * time.Millisecond}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/cgi-bin/token":
			f.tokenCalls.Add(1)
			if r.URL.Query().Get("grant_type") != "client_credential" || r.URL.Query().Get("secret") == "" {
				json.NewEncoder(w).Encode(map[string]any{"errcode": 40013})
				return
			}
			time.Sleep(f.tokenDelay)
			tok := "TOKEN-" + uuid.NewString()
			f.currentToken.Store(tok)
			json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": 7200})
		case "/cgi-bin/message/subscribe/send":
			f.sendAttempts.Add(1)
			if cur, _ := f.currentToken.Load().(string); cur == "" || r.URL.Query().Get("access_token") != cur {
				json.NewEncoder(w).Encode(map[string]any{"errcode": 40001, "errmsg": "invalid credential"})
				return
			}
			if n := f.sendFail.Load(); n != 0 {
				f.sendFail.Add(-1)
				http.Error(w, "boom", http.StatusBadGateway)
				return
			}
			var m struct {
				ToUser     string                       `json:"touser"`
				TemplateID string                       `json:"template_id"`
				Data       map[string]map[string]string `json:"data"`
			}
			json.NewDecoder(r.Body).Decode(&m)
			f.mu.Lock()
			f.sent[m.ToUser]++
			f.mu.Unlock()
			json.NewEncoder(w).Encode(map[string]any{"errcode": 0, "errmsg": "ok"})
		case "/send":
			f.smsAttempts.Add(1)
			if r.Header.Get("Authorization") != "Bearer sms-key" {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			if n := f.smsFail.Load(); n != 0 {
				f.smsFail.Add(-1)
				http.Error(w, "boom", http.StatusServiceUnavailable)
				return
			}
			b, _ := io.ReadAll(r.Body)
			var m map[string]any
			json.Unmarshal(b, &m)
			f.mu.Lock()
			f.sms = append(f.sms, m)
			f.mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// env starts an instance pointed at f with no background dispatcher: the
// tests drive dispatchers themselves.
func env(t *testing.T, f *fake) *testenv.Env {
	e := testenv.New(t, testenv.WithConfig(func(c *config.Config) {
		c.WechatAPIBase, c.SMSAPIBase, c.SMSAPIKey, c.NotifyPoll = f.URL, f.URL, "sms-key", 0
		c.WechatTemplates = "REDEMPTION_RECEIPT:tpl-receipt,ALARM_RECEIVED:tpl-alarm"
	}))
	// The package's tests share one database: what earlier tests left
	// queued is not this test's to send.
	if err := e.DB.Exec("UPDATE notifications SET status = 'SKIPPED' WHERE status = 'PENDING'").Error; err != nil {
		t.Fatal(err)
	}
	return e
}

// dispatcher is another instance's dispatcher on e's database and Redis.
func dispatcher(e *testenv.Env, f *fake, opt notify.Options) *notify.Dispatcher {
	tpl, _ := notify.ParseTemplates(e.Config.WechatTemplates)
	return notify.NewDispatcher(e.DB, notify.NewWechatSender(f.URL, "app", "secret", e.Redis, e.Config.RedisKeyPrefix),
		notify.NewSMSSender(f.URL, "sms-key"), tpl, e.App.Residents, e.Clock.Now,
		slog.New(slog.NewTextHandler(io.Discard, nil)), opt)
}

// account inserts a WeChat account bound to resident (nil: unbound) that
// accepted template n times.
func account(t *testing.T, e *testenv.Env, resident *uuid.UUID, template string, n int) (uuid.UUID, string) {
	t.Helper()
	id, openid := uuid.Must(uuid.NewV7()), "openid-"+uuid.NewString()
	if err := e.DB.Exec("INSERT INTO wechat_accounts (id, openid, resident_id, bound_at) VALUES (?, ?, ?, CASE WHEN ?::uuid IS NULL THEN NULL ELSE now() END)",
		id, openid, resident, resident).Error; err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		if err := e.DB.Exec("INSERT INTO wechat_template_grants VALUES (?, ?, ?, now())", id, template, n).Error; err != nil {
			t.Fatal(err)
		}
	}
	return id, openid
}

func proxy(t *testing.T, e *testenv.Env, res, acc uuid.UUID, scopes string) {
	t.Helper()
	if err := e.DB.Exec(`INSERT INTO resident_proxies (id, resident_id, account_id, relation, scopes, consent_method, consent_by,
		consent_evidence, consented_at, created_at) VALUES (?, ?, ?, 'CHILD', ?, 'COUNTER', ?, '身份证核验', now(), now())`,
		uuid.Must(uuid.NewV7()), res, acc, scopes, uuid.New()).Error; err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, e *testenv.Env, where string, args ...any) int64 {
	t.Helper()
	return countIn(t, e.DB, where, args...)
}

// countIn counts the notifications db sees (a transaction sees its own).
func countIn(t *testing.T, db *gorm.DB, where string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Table("notifications").Where(where, args...).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// An event's notifications are written in its transaction: rolled back,
// nothing is queued; committed, the resident's accounts, the proxies
// holding the kind's scope (and no others) and the resident's phone are.
func TestOutboxFollowsTheTransaction(t *testing.T) {
	f := newFake(t)
	e := env(t, f)
	r := e.InsertResident(t, testenv.ResidentSpec{Phone: "13800001111"})
	own, _ := account(t, e, &r.ID, "", 0)
	spender, _ := account(t, e, nil, "", 0)
	viewer, _ := account(t, e, nil, "", 0)
	proxy(t, e, r.ID, spender, "{VIEW,SPEND}")
	proxy(t, e, r.ID, viewer, "{VIEW}")
	ctx := context.Background()
	boom := errors.New("the mutation failed after enqueueing")
	err := database.Tx(ctx, e.DB, func(tx *gorm.DB) error {
		if err := notify.ForResident(ctx, tx, notify.RedemptionReceipt, r.ID, map[string]any{"amountFen": 1500}, e.Clock.Now()); err != nil {
			return err
		}
		if n := countIn(t, tx, "resident_id = ?", r.ID); n != 3 {
			t.Errorf("inside the transaction: %d rows, want 3", n)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if n := count(t, e, "resident_id = ?", r.ID); n != 0 {
		t.Fatalf("a rolled-back mutation left %d notifications", n)
	}
	if err := database.Tx(ctx, e.DB, func(tx *gorm.DB) error {
		return notify.ForResident(ctx, tx, notify.RedemptionReceipt, r.ID, map[string]any{"amountFen": 1500}, e.Clock.Now())
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kind string
		to   uuid.UUID
		want int64
	}{{"WECHAT", own, 1}, {"WECHAT", spender, 1}, {"WECHAT", viewer, 0}, {"SMS_RESIDENT", r.ID, 1}, {"SMS_CONTACT", r.ID, 0}} {
		if n := count(t, e, "recipient_kind = ? AND recipient_id = ?", c.kind, c.to); n != c.want {
			t.Errorf("%s %s: %d rows, want %d", c.kind, c.to, n, c.want)
		}
	}
}

// dispatchAll runs d until nothing is due at the clock's time.
func dispatchAll(t *testing.T, d *notify.Dispatcher) {
	t.Helper()
	for {
		n, err := d.DispatchOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// One claimed batch is recorded in one statement, each row with its own
// outcome: sent, skipped, or left due for a retry after its backoff. The
// same holds when every row is flushed on its own (FlushAfter elapsed).
func TestBatchOutcomesEachRecorded(t *testing.T) {
	for _, flush := range []time.Duration{0, time.Nanosecond} {
		t.Run(fmt.Sprint("flushAfter=", flush), func(t *testing.T) {
			f := newFake(t)
			e := env(t, f)
			e.Clock.Set(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
			ctx := context.Background()
			phones := []string{"13800003333", "13800004444", ""}
			ids := make([]uuid.UUID, len(phones))
			for i, p := range phones {
				ids[i] = e.InsertResident(t, testenv.ResidentSpec{Phone: p}).ID
				if err := database.Tx(ctx, e.DB, func(tx *gorm.DB) error {
					return notify.ForResident(ctx, tx, notify.VouchersExpiring, ids[i], nil, e.Clock.Now())
				}); err != nil {
					t.Fatal(err)
				}
			}
			// The batch's first SMS fails with a 503, the second is sent;
			// the third resident has no phone.
			f.smsFail.Store(1)
			d := dispatcher(e, f, notify.Options{Backoff: time.Minute, FlushAfter: flush})
			if n, err := d.DispatchOnce(ctx); err != nil || n != 3 {
				t.Fatalf("claimed %d (%v), want the 3 rows in one batch", n, err)
			}
			type row struct {
				Status    string
				Attempts  int
				LastError *string
				SentAt    *time.Time
				Due       time.Time
			}
			got := map[string]row{}
			for i, id := range ids {
				var r row
				testenv.MustScan(t, e.DB, "SELECT status, attempts, last_error, sent_at, next_attempt_at FROM notifications WHERE resident_id = ?",
					testenv.Args(id), &r.Status, &r.Attempts, &r.LastError, &r.SentAt, &r.Due)
				if r.Attempts != 1 {
					t.Fatalf("resident %d: %d attempts, want 1", i, r.Attempts)
				}
				got[r.Status] = r
			}
			now := e.Clock.Now()
			if r, ok := got["PENDING"]; !ok || r.LastError == nil || !strings.Contains(*r.LastError, "503") || !r.Due.Equal(now.Add(time.Minute)) {
				t.Fatalf("the failed send: %+v (%s), want PENDING with the 503, due after the backoff", got["PENDING"], deref(got["PENDING"].LastError))
			}
			if r, ok := got["SENT"]; !ok || r.LastError != nil || r.SentAt == nil || !r.SentAt.Equal(now) {
				t.Fatalf("the sent one: %+v, want SENT at %v without an error", got["SENT"], now)
			}
			if r, ok := got["SKIPPED"]; !ok || r.LastError == nil || *r.LastError != "no phone" || r.SentAt != nil {
				t.Fatalf("the one without a phone: %+v, want SKIPPED: no phone", got["SKIPPED"])
			}
			// The retry is taken again after its backoff, and sent.
			e.Clock.Advance(time.Minute)
			dispatchAll(t, d)
			if n := count(t, e, "resident_id = ANY(?) AND status = 'SENT'", database.UUIDs(ids)); n != 2 {
				t.Fatalf("%d sent after the retry, want 2", n)
			}
		})
	}
}

// 5xx answers are retried after a growing backoff; after MaxAttempts
// failures the message is dead-lettered and never tried again; a message
// whose gateway recovers is sent once.
func TestRetriedThenDeadLettered(t *testing.T) {
	f := newFake(t)
	e := env(t, f)
	e.Clock.Set(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	r := e.InsertResident(t, testenv.ResidentSpec{Phone: "13800002222"})
	ctx := context.Background()
	enqueue := func() {
		if err := database.Tx(ctx, e.DB, func(tx *gorm.DB) error {
			return notify.ForResident(ctx, tx, notify.VouchersExpiring, r.ID, nil, e.Clock.Now())
		}); err != nil {
			t.Fatal(err)
		}
	}
	d := dispatcher(e, f, notify.Options{MaxAttempts: 3, Backoff: time.Minute, MaxBackoff: time.Hour})
	f.smsFail.Store(-1) // always 503
	enqueue()
	dispatchAll(t, d)
	if got := f.smsAttempts.Load(); got != 1 {
		t.Fatalf("after the first pass %d SMS attempts, want 1", got)
	}
	// Not due before its backoff (1 minute after the first failure).
	e.Clock.Advance(30 * time.Second)
	dispatchAll(t, d)
	if got := f.smsAttempts.Load(); got != 1 {
		t.Fatalf("retried before the backoff: %d attempts", got)
	}
	e.Clock.Advance(31 * time.Second)
	dispatchAll(t, d)
	e.Clock.Advance(2*time.Minute + time.Second) // the second backoff doubles
	dispatchAll(t, d)
	if got := f.smsAttempts.Load(); got != 3 {
		t.Fatalf("%d SMS attempts, want 3", got)
	}
	var st struct {
		Status    string
		Attempts  int
		LastError string
	}
	testenv.MustScan(t, e.DB, "SELECT status, attempts, last_error FROM notifications WHERE resident_id = ?", testenv.Args(r.ID), &st.Status, &st.Attempts, &st.LastError)
	if st.Status != "DEAD" || st.Attempts != 3 || !strings.Contains(st.LastError, "503") {
		t.Fatalf("after 3 failures: %+v, want DEAD after 3 attempts with the 503", st)
	}
	e.Clock.Advance(24 * time.Hour)
	dispatchAll(t, d)
	if got := f.smsAttempts.Load(); got != 3 {
		var rows []map[string]any
		e.DB.Raw("SELECT kind, recipient_kind, status, attempts, last_error, next_attempt_at FROM notifications").Scan(&rows)
		t.Fatalf("a dead letter was tried again: %d attempts %v", got, rows)
	}

	// Two failures, then the gateway recovers: sent once, to the phone.
	f.smsFail.Store(2)
	enqueue()
	for i := 0; i < 4; i++ {
		dispatchAll(t, d)
		e.Clock.Advance(time.Hour)
	}
	if n := count(t, e, "resident_id = ? AND status = 'SENT'", r.ID); n != 1 {
		t.Fatalf("%d sent after recovery, want 1", n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sms) != 1 || f.sms[0]["phone"] != "13800002222" || f.sms[0]["template"] != "VOUCHERS_EXPIRING" {
		t.Fatalf("SMS sent: %v", f.sms)
	}
}

// Twenty concurrent sends, from two instances sharing Redis, fetch the
// access token once; a token WeChat rejects is dropped and fetched again.
func TestConcurrentSendsRefreshTokenOnce(t *testing.T) {
	f := newFake(t)
	e := env(t, f)
	ctx := context.Background()
	senders := []*notify.WechatSender{
		notify.NewWechatSender(f.URL, "app", "secret", e.Redis, e.Config.RedisKeyPrefix),
		notify.NewWechatSender(f.URL, "app", "secret", e.Redis, e.Config.RedisKeyPrefix),
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- senders[i%2].Send(ctx, "openid-x", "tpl", "", map[string]string{"thing1": "x"})
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.tokenCalls.Load(); n != 1 {
		t.Fatalf("20 concurrent sends fetched the token %d times, want 1", n)
	}
	if f.sent["openid-x"] != 20 {
		t.Fatalf("%d sent, want 20", f.sent["openid-x"])
	}
	// WeChat invalidates the token (another party refreshed it): the send
	// fails as retryable, and the next one fetches a fresh token.
	f.currentToken.Store("SOMEONE-ELSES")
	if err := senders[0].Send(ctx, "openid-x", "tpl", "", nil); !notify.Transient(err) {
		t.Fatalf("a rejected token: %v, want a transient failure", err)
	}
	if err := senders[1].Send(ctx, "openid-x", "tpl", "", nil); err != nil {
		t.Fatal(err)
	}
	if n := f.tokenCalls.Load(); n != 2 {
		t.Fatalf("token fetched %d times, want 2", n)
	}
}

// Two dispatchers draining one outbox at once send every message exactly
// once, and only to accounts that accepted the template (each acceptance
// is one message).
func TestTwoDispatchersNeverSendTwice(t *testing.T) {
	f := newFake(t)
	e := env(t, f)
	f.tokenDelay = 0
	ctx := context.Background()
	r := e.InsertResident(t, testenv.ResidentSpec{})
	const n = 120
	openids := map[string]bool{}
	for i := 0; i < n; i++ {
		acc, openid := account(t, e, nil, "tpl-receipt", 1)
		proxy(t, e, r.ID, acc, "{SPEND}")
		openids[openid] = true
	}
	noGrant, noGrantOpenid := account(t, e, nil, "", 0)
	proxy(t, e, r.ID, noGrant, "{SPEND}")
	if err := database.Tx(ctx, e.DB, func(tx *gorm.DB) error {
		return notify.ForResident(ctx, tx, notify.RedemptionReceipt, r.ID, map[string]any{"amountFen": 800}, e.Clock.Now())
	}); err != nil {
		t.Fatal(err)
	}
	a := dispatcher(e, f, notify.Options{Batch: 7})
	b := dispatcher(e, f, notify.Options{Batch: 7})
	var wg sync.WaitGroup
	for _, d := range []*notify.Dispatcher{a, b, a, b} {
		wg.Add(1)
		go func(d *notify.Dispatcher) { defer wg.Done(); dispatchAll(t, d) }(d)
	}
	wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	for openid := range openids {
		if f.sent[openid] != 1 {
			t.Errorf("%s got %d messages, want 1", openid, f.sent[openid])
		}
	}
	if f.sent[noGrantOpenid] != 0 {
		t.Errorf("an account that accepted no template got a message")
	}
	if got := count(t, e, "status = 'SENT' AND resident_id = ?", r.ID); got != n {
		t.Errorf("%d SENT, want %d", got, n)
	}
	if got := count(t, e, "status = 'SKIPPED' AND recipient_id = ?", noGrant); got != 1 {
		t.Errorf("the account without a grant: %d SKIPPED, want 1", got)
	}
	var left int64
	e.DB.Raw(`SELECT coalesce(sum(remaining), 0) FROM wechat_template_grants g
		JOIN resident_proxies p ON p.account_id = g.account_id WHERE p.resident_id = ?`, r.ID).Scan(&left)
	if left != 0 {
		t.Errorf("%d acceptances left, want every one used", left)
	}
}

// Alarms go by SMS to the first emergency contact and to ALARMS proxies,
// whatever their opt-outs; other kinds respect an opt-out.
func TestAlarmsIgnoreOptOuts(t *testing.T) {
	f := newFake(t)
	e := env(t, f)
	ctx := context.Background()
	r := e.InsertResident(t, testenv.ResidentSpec{Phone: "13800003333"})
	for i, p := range []string{"13900000002", "13900000001"} {
		enc, err := e.App.Keyring.Encrypt(p, resident.PurposeContactPhone)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.DB.Exec("INSERT INTO emergency_contacts (id, resident_id, name, relation, phone_enc, phone_masked, priority) VALUES (?,?,?,?,?,?,?)",
			uuid.Must(uuid.NewV7()), r.ID, "联系人", "子女", enc, "139****0000", 2-i).Error; err != nil {
			t.Fatal(err)
		}
	}
	acc, openid := account(t, e, nil, "tpl-alarm", 1)
	proxy(t, e, r.ID, acc, "{ALARMS}")
	for _, s := range []string{"WECHAT:" + acc.String(), "SMS:" + r.ID.String()} {
		ch, id, _ := strings.Cut(s, ":")
		e.DB.Exec("INSERT INTO notification_opt_outs VALUES (?, ?, now())", id, ch)
	}
	if err := database.Tx(ctx, e.DB, func(tx *gorm.DB) error {
		if err := notify.ForResident(ctx, tx, notify.AlarmReceived, r.ID, map[string]any{"at": e.Clock.Now()}, e.Clock.Now()); err != nil {
			return err
		}
		return notify.ForResident(ctx, tx, notify.ApplicationAccepted, r.ID, map[string]any{"item": "高龄津贴"}, e.Clock.Now())
	}); err != nil {
		t.Fatal(err)
	}
	dispatchAll(t, dispatcher(e, f, notify.Options{}))
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sent[openid] != 1 {
		t.Errorf("the ALARMS proxy got %d messages, want 1", f.sent[openid])
	}
	if len(f.sms) != 1 || f.sms[0]["phone"] != "13900000001" || f.sms[0]["template"] != "ALARM_RECEIVED" {
		t.Errorf("SMS: %v, want one alarm to the first contact", f.sms)
	}
	if got := count(t, e, "kind = 'APPLICATION_ACCEPTED' AND status = 'SKIPPED' AND last_error = 'opted out' AND resident_id = ?", r.ID); got != 1 {
		t.Errorf("the opted-out SMS of an application: %d skipped, want 1", got)
	}
}

// A visit's one-time code goes by SMS to the resident's own phone even
// when SMS are opted out (the worker asked for it at the door); once the
// row is sent its payload no longer holds the code, and no inbox shows it.
func TestVisitCodeSentThenForgotten(t *testing.T) {
	f := newFake(t)
	e := env(t, f)
	ctx := context.Background()
	r := e.InsertResident(t, testenv.ResidentSpec{Phone: "13800004444"})
	e.DB.Exec("INSERT INTO notification_opt_outs VALUES (?, 'SMS', now())", r.ID)
	if err := database.Tx(ctx, e.DB, func(tx *gorm.DB) error {
		return notify.Enqueue(ctx, tx, notify.VisitCode, notify.SMSResident, []uuid.UUID{r.ID},
			map[string]any{"residentId": r.ID, "orderId": uuid.New(), "code": "407215", "expiresAt": e.Clock.Now().Add(5 * time.Minute)}, e.Clock.Now())
	}); err != nil {
		t.Fatal(err)
	}
	dispatchAll(t, dispatcher(e, f, notify.Options{}))
	f.mu.Lock()
	sms := f.sms
	f.mu.Unlock()
	if len(sms) != 1 || sms[0]["phone"] != "13800004444" || sms[0]["template"] != "VISIT_CODE" ||
		!strings.Contains(fmt.Sprint(sms[0]["params"]), "407215") {
		t.Fatalf("SMS: %v, want the code to the resident's phone", sms)
	}
	if got := count(t, e, "kind = 'VISIT_CODE' AND status = 'SENT' AND resident_id = ? AND payload->>'code' IS NULL", r.ID); got != 1 {
		t.Fatalf("%d sent rows without their code, want 1", got)
	}
}

func FuzzParseTemplates(f *testing.F) {
	f.Add("REDEMPTION_RECEIPT:abc,ALARM_RECEIVED:def")
	f.Add("")
	f.Add("X:y,,")
	f.Fuzz(func(t *testing.T, s string) {
		tpl, err := notify.ParseTemplates(s)
		if err != nil {
			return
		}
		for k, id := range tpl {
			if id == "" || strings.ContainsAny(id, " ,") || !strings.Contains(s, string(k)+":") && !strings.Contains(s, string(k)) {
				t.Fatalf("%q parsed to %s=%q", s, k, id)
			}
		}
	})
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
