package voucher_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/notify"
	"github.com/jinjiang/residents/internal/testenv"
	"github.com/jinjiang/residents/internal/voucher"
)

// family is a resident's bound account and three proxies: one with SPEND,
// one with VIEW only, one whose SPEND link was revoked.
type family struct{ own, spender, viewer, revoked uuid.UUID }

func newFamily(t *testing.T, e *testenv.Env, rid uuid.UUID) family {
	t.Helper()
	f := family{own: e.WechatAccount(t, &rid), spender: e.WechatAccount(t, nil), viewer: e.WechatAccount(t, nil), revoked: e.WechatAccount(t, nil)}
	e.ProxyLink(t, rid, f.spender, "SPEND")
	e.ProxyLink(t, rid, f.viewer, "VIEW")
	e.RevokeProxyLink(t, e.ProxyLink(t, rid, f.revoked, "SPEND", "VIEW"))
	return f
}

// receipts checks that each recipient got n receipts.
func (fam family) receipts(t *testing.T, e *testenv.Env, rid uuid.UUID, kind string, n int) {
	t.Helper()
	for _, c := range []struct {
		rk   string
		to   uuid.UUID
		want int
	}{{"WECHAT", fam.own, n}, {"WECHAT", fam.spender, n}, {"WECHAT", fam.viewer, 0}, {"WECHAT", fam.revoked, 0},
		{"SMS_RESIDENT", rid, n}, {"SMS_CONTACT", rid, 0}} {
		if got := e.Notifications(t, rid, kind, c.rk, c.to); got != c.want {
			t.Errorf("%s %s %s: %d, want %d", kind, c.rk, c.to, got, c.want)
		}
	}
}

// TestReceiptsCommitWithTheRedemption: the receipt is written by the
// redemption statement: a refused redemption queues none, a paid one
// exactly one per recipient (the resident's accounts and phone, its SPEND
// proxies), a replay of its key none more; a visit's payment inside a
// transaction that rolls back queues none, and one that commits does.
func TestReceiptsCommitWithTheRedemption(t *testing.T) {
	f := newFixture(t, programSpec{})
	e := f.e
	logsOnFail(t, e)
	rid := f.resident(t, testenv.ResidentSpec{Phone: "13800007777"})
	f.issue(t, f.period)
	fam := newFamily(t, e, rid)

	if r := f.redeem(t, f.provTok, f.token(t, rid), 40000, "too-much-"+uuid.NewString(), "", ""); r.code != "INSUFFICIENT_BALANCE" {
		t.Fatalf("over the balance: %s", r.raw)
	}
	if n := e.Notifications(t, rid, "", "", uuid.Nil); n != 0 {
		t.Fatalf("a refused redemption queued %d notices", n)
	}
	key := "meal-" + uuid.NewString()
	tok := f.token(t, rid)
	r := f.redeem(t, f.provTok, tok, 1500, key, "", "")
	if r.id == "" {
		t.Fatalf("redeem: %s", r.raw)
	}
	fam.receipts(t, e, rid, "REDEMPTION_RECEIPT", 1)
	var redemption string
	var amount float64
	testenv.MustScan(t, e.DB, `SELECT payload->>'redemptionId', (payload->>'amountFen')::float8 FROM notifications
		WHERE resident_id = ? AND recipient_id = ?`, testenv.Args(rid, fam.spender), &redemption, &amount)
	if redemption != mustUUID(t, r.id).String() || amount != 1500 {
		t.Errorf("the receipt says %s %v, want %s 1500", redemption, amount, r.id)
	}
	if again := f.redeem(t, f.provTok, tok, 1500, key, "", ""); again.id != r.id {
		t.Fatalf("replay: %s", again.raw)
	}
	fam.receipts(t, e, rid, "REDEMPTION_RECEIPT", 1)

	// A visit's payment (internal/homecare) goes through the same
	// statement inside the caller's transaction.
	pay := voucher.VisitPayment{OrderID: uuid.Must(uuid.NewV7()), ProviderID: mustUUID(t, f.provider), ResidentID: rid, ProgramID: f.progID,
		Category: voucher.Category("MEAL"), AmountFen: 800, ServiceDate: civil.DateOf(e.Clock.Now())}
	ctx := context.Background()
	boom := errors.New("the visit's confirmation failed after paying")
	err := database.Tx(ctx, e.DB, func(tx *gorm.DB) error {
		if _, err := e.App.Vouchers.RedeemVisitTx(ctx, tx, pay); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	fam.receipts(t, e, rid, "REDEMPTION_RECEIPT", 1)
	if err := database.Tx(ctx, e.DB, func(tx *gorm.DB) error {
		_, err := e.App.Vouchers.RedeemVisitTx(ctx, tx, pay)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	fam.receipts(t, e, rid, "REDEMPTION_RECEIPT", 2)
}

// fakeGateways is WeChat's token and subscribe-send endpoints and an SMS
// gateway that accept everything, counting what they were sent.
type fakeGateways struct {
	*httptest.Server
	mu     sync.Mutex
	wechat int
	sms    int
}

func newGateways(t *testing.T) *fakeGateways {
	g := &fakeGateways{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		g.mu.Lock()
		defer g.mu.Unlock()
		switch r.URL.Path {
		case "/cgi-bin/token":
			io.WriteString(w, `{"access_token":"tok","expires_in":7200}`)
		case "/cgi-bin/message/subscribe/send":
			g.wechat++
			io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
		case "/send":
			g.sms++
			w.WriteHeader(http.StatusAccepted)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(g.Close)
	return g
}

// TestExpiryNotices: the notice job tells the holders of a voucher with
// money left that expires within seven days (the resident's accounts and
// phone, its SPEND proxies), once per voucher and recipient: the next
// pass, and a pass run at the same time by another instance, add none.
// Vouchers expiring later, spent, or already expired are not told about;
// a recipient who opted out of a channel is skipped when sending.
func TestExpiryNotices(t *testing.T) {
	f := newFixture(t, programSpec{})
	e := f.e
	logsOnFail(t, e)
	soon, later, spent := f.resident(t, testenv.ResidentSpec{Phone: "13800006661"}), f.resident(t, testenv.ResidentSpec{}),
		f.resident(t, testenv.ResidentSpec{})
	quiet := f.resident(t, testenv.ResidentSpec{Phone: "13800006662"})
	f.issue(t, f.period)
	fam := newFamily(t, e, soon)
	quietOwn := e.WechatAccount(t, &quiet)
	today := civil.DateOf(e.Clock.Now())
	for _, c := range []struct {
		rid  uuid.UUID
		days int
	}{{soon, 3}, {later, voucher.ExpiryNoticeDays + 1}, {spent, 2}, {quiet, voucher.ExpiryNoticeDays}} {
		mustExec(t, e, "UPDATE vouchers SET valid_from = ?, valid_until = ? WHERE resident_id = ?", today.AddDays(-20), today.AddDays(c.days), c.rid)
	}
	// Spent through the engine, not by rewriting the row: the package's
	// books (TestBank, CheckBooks) must still balance on a second -count run.
	var all int64
	testenv.MustScan(t, e.DB, "SELECT sum(balance_fen) FROM vouchers WHERE resident_id = ?", testenv.Args(spent), &all)
	if r := f.redeem(t, f.provTok, f.token(t, spent), all, "notices-spent", "", ""); r.id == "" {
		t.Fatalf("spend the whole balance: %s", r.raw)
	}
	// The quiet resident turned both channels off.
	mustExec(t, e, "INSERT INTO notification_opt_outs (subject_id, channel, at) VALUES (?, 'WECHAT', now()), (?, 'SMS', now())", quietOwn, quiet)

	// Two instances' passes at once, then another pass.
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.App.Vouchers.NoticeExpiring(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, err := e.App.Vouchers.NoticeExpiring(ctx); err != nil {
		t.Fatal(err)
	}
	fam.receipts(t, e, soon, "VOUCHERS_EXPIRING", 1)
	for _, rid := range []uuid.UUID{later, spent} {
		if n := e.Notifications(t, rid, "VOUCHERS_EXPIRING", "", uuid.Nil); n != 0 {
			t.Errorf("%d expiry notices about a voucher not expiring with money left", n)
		}
	}
	if n := e.Notifications(t, quiet, "VOUCHERS_EXPIRING", "", uuid.Nil); n != 2 {
		t.Errorf("%d notices queued for the resident who opted out, want 2 (skipped when sent)", n)
	}
	var noticed int
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM vouchers WHERE resident_id IN (?, ?) AND expiry_noticed_at IS NOT NULL",
		testenv.Args(soon, quiet), &noticed)
	if noticed != 2 {
		t.Errorf("%d vouchers marked noticed, want 2", noticed)
	}

	// Sending: the opted-out channels are skipped, the others sent.
	g := newGateways(t)
	mustExec(t, e, "INSERT INTO wechat_template_grants VALUES (?, 'tpl-expiring', 5, now()), (?, 'tpl-expiring', 5, now())", fam.own, quietOwn)
	d := notify.NewDispatcher(e.DB, notify.NewWechatSender(g.URL, "app", "secret", e.Redis, e.Config.RedisKeyPrefix),
		notify.NewSMSSender(g.URL, "key"), notify.Templates{notify.VouchersExpiring: "tpl-expiring"}, e.App.Residents,
		func() time.Time { return e.Clock.Now().Add(time.Minute) }, slog.New(slog.NewTextHandler(io.Discard, nil)), notify.Options{})
	for {
		n, err := d.DispatchOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	var skipped, sent int
	testenv.MustScan(t, e.DB, `SELECT count(*) FILTER (WHERE status = 'SKIPPED' AND last_error = 'opted out'),
		count(*) FILTER (WHERE status = 'SENT') FROM notifications WHERE kind = 'VOUCHERS_EXPIRING' AND resident_id = ?`, testenv.Args(quiet), &skipped, &sent)
	if skipped != 2 || sent != 0 {
		t.Errorf("the opted-out resident's notices: %d skipped, %d sent; want 2 and 0", skipped, sent)
	}
	testenv.MustScan(t, e.DB, `SELECT count(*) FILTER (WHERE status = 'SENT') FROM notifications
		WHERE kind = 'VOUCHERS_EXPIRING' AND resident_id = ? AND recipient_id IN (?, ?)`, testenv.Args(soon, fam.own, soon), &sent)
	if sent != 2 {
		t.Errorf("%d of the own account's and the phone's notices sent, want 2", sent)
	}
}
