package voucher_test

import (
	"github.com/google/uuid"

	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/testenv"
)

func TestRedeemPaths(t *testing.T) {
	f := newFixture(t, programSpec{carry: 1})
	logsOnFail(t, f.e)
	prev := civil.MonthOf(civil.DateOf(time.Now())).AddMonths(-1).String()
	// Each subtest has a resident of its own, with last month's and this
	// month's vouchers (30,000 fen each; last month's still valid), so that
	// any one of them runs alone: go test -run 'TestRedeemPaths/<name>'.
	holder := func(t *testing.T) uuid.UUID {
		t.Helper()
		rid := f.resident(t, testenv.ResidentSpec{})
		for _, p := range []string{prev, f.period} {
			if n, _, _, code := f.issue(t, p); n != 1 || code != "" {
				t.Fatalf("issue %s: %d issued, %q", p, n, code)
			}
		}
		return rid
	}

	t.Run("validation", func(t *testing.T) {
		rid := holder(t)
		tok := f.token(t, rid)
		cases := []struct {
			amount          int64
			date, cat, code string
		}{
			{0, "", "", "INVALID"},
			{100, civil.DateOf(time.Now()).AddDays(2).String(), "", "INVALID"},
			{100, "", "DAY_CARE", "CATEGORY_NOT_ALLOWED"}, // not the provider's
			{100, "", "NURSING", "CATEGORY_NOT_ALLOWED"},  // not the program's
		}
		for i, c := range cases {
			r := f.redeem(t, f.provTok, tok, c.amount, fmt.Sprintf("v-%d", i), c.date, c.cat)
			if r.code != c.code {
				t.Errorf("case %d: got %q want %s: %s", i, r.code, c.code, r.raw)
			}
		}
		if r := f.redeem(t, f.provTok, "no-such-token", 100, "v-x", "", ""); r.code != "TOKEN_EXPIRED" {
			t.Errorf("unknown token: %s", r.raw)
		}
		// none of the failures consumed the token
		if r := f.redeem(t, f.provTok, tok, 100, "v-ok", "", ""); r.id == "" {
			t.Fatalf("token unusable after failures: %s", r.raw)
		}
	})

	t.Run("earliest expiry first across vouchers, insufficient keeps token", func(t *testing.T) {
		rid := holder(t)
		// 100 fen from last month's voucher first, so that the reversal
		// below must give back what was drawn, not the face value.
		if r := f.redeem(t, f.provTok, f.token(t, rid), 100, "first-100", "", ""); r.id == "" {
			t.Fatalf("redeem: %s", r.raw)
		}
		before := f.balance(t, rid)
		tok := f.token(t, rid)
		if r := f.redeem(t, f.provTok, tok, before+1, "big", "", ""); r.code != "INSUFFICIENT_BALANCE" {
			t.Fatalf("want INSUFFICIENT_BALANCE: %s", r.raw)
		}
		if f.balance(t, rid) != before {
			t.Fatal("balance changed on failure")
		}
		r := f.redeem(t, f.provTok, tok, 35000, "split", "", "")
		if r.id == "" || r.remaining != before-35000 {
			t.Fatalf("split redeem: %s", r.raw)
		}
		var prevBal, curBal int64
		testenv.MustScan(t, f.e.DB, "SELECT balance_fen FROM vouchers WHERE resident_id = ? AND period = ?", testenv.Args(rid, prev), &prevBal)
		testenv.MustScan(t, f.e.DB, "SELECT balance_fen FROM vouchers WHERE resident_id = ? AND period = ?", testenv.Args(rid, f.period), &curBal)
		if prevBal != 0 || curBal != 30000*2-100-35000 {
			t.Fatalf("draw order wrong: prev %d cur %d", prevBal, curBal)
		}
		var draws int
		testenv.MustScan(t, f.e.DB, "SELECT count(*) FROM voucher_ledger l JOIN redemptions r ON r.id = l.redemption_id WHERE l.kind = 'REDEEM' AND r.amount_fen = 35000 AND r.resident_id = ?", testenv.Args(rid), &draws)
		if draws != 2 {
			t.Fatalf("draws %d", draws)
		}

		t.Run("replay after consumption, mismatch, used token", func(t *testing.T) {
			again := f.redeem(t, f.provTok, tok, 35000, "split", "", "")
			if again.id != r.id || again.remaining != r.remaining {
				t.Fatalf("replay differs: %s", again.raw)
			}
			if m := f.redeem(t, f.provTok, tok, 999, "split", "", ""); m.code != "IDEMPOTENCY_MISMATCH" {
				t.Fatalf("mismatch: %s", m.raw)
			}
			if u := f.redeem(t, f.provTok, tok, 100, "other-key", "", ""); u.code != "TOKEN_USED" {
				t.Fatalf("used: %s", u.raw)
			}
		})

		t.Run("reverse restores exactly, once", func(t *testing.T) {
			b := f.balance(t, rid)
			rev := f.e.MustDo(t, f.provTok, `mutation($id:ID!){reverseRedemption(input:{redemptionId:$id,reason:"录入错误"}){redemption{status reverseReason} remainingBalanceFen userErrors{code}}}`,
				map[string]any{"id": r.id})
			if rev.Str("reverseRedemption.redemption.status") != "REVERSED" || f.balance(t, rid) != b+35000 {
				t.Fatalf("reverse: %s", rev.Raw)
			}
			var prevBal int64
			testenv.MustScan(t, f.e.DB, "SELECT balance_fen FROM vouchers WHERE resident_id = ? AND period = ?", testenv.Args(rid, prev), &prevBal)
			if prevBal != 29900 {
				t.Fatalf("prev voucher not restored: %d", prevBal)
			}
			rev = f.e.MustDo(t, f.admin, `mutation($id:ID!){reverseRedemption(input:{redemptionId:$id,reason:"again"}){userErrors{code}}}`, map[string]any{"id": r.id})
			if rev.Str("reverseRedemption.userErrors.0.code") != "INVALID_TRANSITION" {
				t.Fatalf("second reversal: %s", rev.Raw)
			}
		})
	})

	// The process may die after the redemption commits and before Redis
	// hears the token was used. The database still refuses it: the token is
	// consumed by the redemption row, not by Redis.
	t.Run("token used in the database but live in Redis", func(t *testing.T) {
		rid := holder(t)
		tok := f.token(t, rid)
		key := f.e.Config.RedisKeyPrefix + "voucher:token:" + tok
		live, err := f.e.Redis.Get(context.Background(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		r := f.redeem(t, f.provTok, tok, 300, "lost-marker", "", "")
		if r.id == "" {
			t.Fatalf("redeem: %s", r.raw)
		}
		if err := f.e.Redis.Set(context.Background(), key, live, time.Minute).Err(); err != nil { // the 'used' marker lost
			t.Fatal(err)
		}
		before := f.balance(t, rid)
		if u := f.redeem(t, f.provTok, tok, 300, "lost-marker-2", "", ""); u.code != "TOKEN_USED" {
			t.Fatalf("second use with the Redis marker lost: %s", u.raw)
		}
		if again := f.redeem(t, f.provTok, tok, 300, "lost-marker", "", ""); again.id != r.id {
			t.Fatalf("replay: %s", again.raw)
		}
		if after := f.balance(t, rid); after != before {
			t.Fatalf("balance moved %d -> %d", before, after)
		}
	})

	t.Run("one token, two keys at once: exactly one pays", func(t *testing.T) {
		rid := holder(t)
		tok := f.token(t, rid)
		before := f.balance(t, rid)
		var wg sync.WaitGroup
		res := make([]redeemed, 8)
		for i := range res {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				res[i] = f.redeem(t, f.provTok, tok, 200, fmt.Sprintf("race-%d", i), "", "")
			}(i)
		}
		wg.Wait()
		paid := 0
		for _, r := range res {
			switch {
			case r.id != "":
				paid++
			case r.code != "TOKEN_USED":
				t.Errorf("loser: %s", r.raw)
			}
		}
		if paid != 1 || f.balance(t, rid) != before-200 {
			t.Fatalf("%d paid, balance %d -> %d", paid, before, f.balance(t, rid))
		}
	})

	t.Run("concurrent sends of one key execute once", func(t *testing.T) {
		rid := holder(t)
		tok := f.token(t, rid)
		var wg sync.WaitGroup
		ids := make([]string, 10)
		for i := range ids {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := f.redeem(t, f.provTok, tok, 500, "same-key", "", "")
				ids[i] = r.id
				if r.id == "" {
					t.Errorf("send %d: %s", i, r.raw)
				}
			}(i)
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("different results: %v", ids)
			}
		}
		var n int
		testenv.MustScan(t, f.e.DB, "SELECT count(*) FROM redemption_keys WHERE idempotency_key = 'same-key' AND provider_id = ?", testenv.Args(mustUUID(t, f.provider)), &n)
		if n != 1 {
			t.Fatalf("%d key rows", n)
		}
	})

	t.Run("reversal rights", func(t *testing.T) {
		rid := holder(t)
		r := f.redeem(t, f.provTok, f.token(t, rid), 100, "rights", "", "")
		_, other, _ := registerProvider(t, f.e, f.admin, []string{"MEAL"})
		rev := f.e.MustDo(t, other, `mutation($id:ID!){reverseRedemption(input:{redemptionId:$id,reason:"x"}){userErrors{code}}}`, map[string]any{"id": r.id})
		if rev.Str("reverseRedemption.userErrors.0.code") != "NOT_FOUND" {
			t.Fatalf("other provider: %s", rev.Raw)
		}
		f.e.Clock.Set(time.Now().Add(8 * 24 * time.Hour))
		defer f.e.Clock.Set(time.Now())
		later := f.e.Login(t, f.provUser, "provider-password-1")
		rev = f.e.MustDo(t, later, `mutation($id:ID!){reverseRedemption(input:{redemptionId:$id,reason:"x"}){userErrors{code}}}`, map[string]any{"id": r.id})
		if rev.Str("reverseRedemption.userErrors.0.code") != "INVALID_TRANSITION" {
			t.Fatalf("after 7 days: %s", rev.Raw)
		}
		rev = f.e.MustDo(t, f.e.Admin(t), `mutation($id:ID!){reverseRedemption(input:{redemptionId:$id,reason:"x"}){redemption{status} userErrors{code}}}`, map[string]any{"id": r.id})
		if rev.Str("reverseRedemption.redemption.status") != "REVERSED" {
			t.Fatalf("admin any time: %s", rev.Raw)
		}
	})

	t.Run("suspended provider cannot redeem", func(t *testing.T) {
		rid := holder(t)
		pg, ptok, _ := registerProvider(t, f.e, f.admin, []string{"MEAL"})
		f.e.MustDo(t, f.admin, `mutation($id:ID!){setProviderStatus(id:$id,status:SUSPENDED){provider{status}}}`, map[string]any{"id": pg})
		if r := f.redeem(t, ptok, f.token(t, rid), 100, "susp", "", ""); r.errCode != "FORBIDDEN" {
			t.Fatalf("suspended: %s", r.raw)
		}
	})

	// A confirmation holds the provider-month lock exclusively while it
	// writes; a redemption that waited for the lock must see the
	// confirmation that released it (redeemSQL's settlement check runs with
	// a snapshot taken after the lock was granted), and leave nothing.
	t.Run("a redemption that waited for a confirmation refuses", func(t *testing.T) {
		rid := holder(t)
		pg, ptok, _ := registerProvider(t, f.e, f.admin, []string{"MEAL"})
		pid := mustUUID(t, pg)
		tok := f.token(t, rid)
		before := f.balance(t, rid)
		ctx := t.Context()
		conn, err := database.SQL(f.e.DB).Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var adminID uuid.UUID
		if err := conn.QueryRowContext(ctx, "SELECT id FROM users WHERE username = 'admin'").Scan(&adminID); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"BEGIN", "SELECT pg_advisory_xact_lock(hashtextextended('settle:" + pid.String() + ":" + f.period + "', 20))"} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO settlements (provider_id, month, redemption_count, total_fen, confirmed_at, confirmed_by)
			VALUES ($1, $2, 0, 0, now(), $3)`, pid, f.period, adminID); err != nil {
			t.Fatal(err)
		}
		done := make(chan redeemed, 1)
		go func() { done <- f.redeem(t, ptok, tok, 100, "waits-for-confirm", "", "MEAL") }()
		for waiting := 0; waiting == 0; {
			select {
			case r := <-done:
				t.Fatalf("the redemption did not wait for the confirmation's lock: %s", r.raw)
			case <-time.After(10 * time.Millisecond):
			}
			if err := f.e.DB.Raw("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").Row().Scan(&waiting); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
			t.Fatal(err)
		}
		if r := <-done; r.code != "SETTLED" {
			t.Fatalf("a redemption that waited for the confirmation: %s", r.raw)
		}
		var keys int64
		testenv.MustScan(t, f.e.DB, "SELECT count(*) FROM redemption_keys WHERE idempotency_key = 'waits-for-confirm'", nil, &keys)
		if keys != 0 || f.balance(t, rid) != before {
			t.Fatalf("the refused redemption left %d keys, balance %d → %d", keys, before, f.balance(t, rid))
		}
	})

	t.Run("settlement freezes the month", func(t *testing.T) {
		// A provider of its own: confirming freezes the provider's month.
		rid := holder(t)
		provider, provTok, _ := registerProvider(t, f.e, f.admin, []string{"MEAL", "CLEANING"})
		r := f.redeem(t, provTok, f.token(t, rid), 700, "settle-1", "", "CLEANING")
		st := f.e.MustDo(t, provTok, `query($p:ID!,$m:String!){settlement(providerId:$p,month:$m){status totalFen redemptionCount lines{category totalFen program{code}}}}`,
			map[string]any{"p": provider, "m": f.period})
		if st.Str("settlement.status") != "OPEN" || st.Get("settlement.redemptionCount") == float64(0) {
			t.Fatalf("settlement: %s", st.Raw)
		}
		total := st.Get("settlement.totalFen")
		c := f.e.MustDo(t, f.admin, `mutation($p:ID!,$m:String!){confirmSettlement(providerId:$p,month:$m){settlement{status totalFen} userErrors{code}}}`,
			map[string]any{"p": provider, "m": f.period})
		if c.Str("confirmSettlement.settlement.status") != "CONFIRMED" || c.Get("confirmSettlement.settlement.totalFen") != total {
			t.Fatalf("confirm: %s", c.Raw)
		}
		c = f.e.MustDo(t, f.admin, `mutation($p:ID!,$m:String!){confirmSettlement(providerId:$p,month:$m){userErrors{code}}}`,
			map[string]any{"p": provider, "m": f.period})
		if c.Str("confirmSettlement.userErrors.0.code") != "INVALID_TRANSITION" {
			t.Fatalf("second confirm: %s", c.Raw)
		}
		if x := f.redeem(t, provTok, f.token(t, rid), 100, "after-settle", "", ""); x.code != "SETTLED" {
			t.Fatalf("redeem in settled month: %s", x.raw)
		}
		rev := f.e.MustDo(t, f.admin, `mutation($id:ID!){reverseRedemption(input:{redemptionId:$id,reason:"x"}){userErrors{code}}}`, map[string]any{"id": r.id})
		if rev.Str("reverseRedemption.userErrors.0.code") != "SETTLED" {
			t.Fatalf("reverse in settled month: %s", rev.Raw)
		}
		// other providers cannot read it; the CSV export follows the same rule
		_, other, _ := registerProvider(t, f.e, f.admin, []string{"MEAL"})
		if x := f.e.Do(t, other, `query($p:ID!,$m:String!){settlement(providerId:$p,month:$m){status}}`,
			map[string]any{"p": provider, "m": f.period}); x.ErrorCode() != "FORBIDDEN" {
			t.Fatalf("other provider read settlement: %s", x.Raw)
		}
		csv := func(tok string) (int, string) {
			req, err := http.NewRequest("GET", f.e.Server.URL+"/exports/settlement.csv?providerId="+provider+"&month="+f.period, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := f.e.Server.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, string(b)
		}
		// Excel on Chinese Windows: a UTF-8 byte-order mark, Chinese category names.
		if code, body := csv(provTok); code != 200 || !strings.HasPrefix(body, "\ufeff服务商,") || !strings.Contains(body, "助洁") || !strings.Contains(body, "合计") {
			t.Fatalf("csv: %d %s", code, body)
		}
		if code, _ := csv(other); code != 403 {
			t.Fatalf("csv other provider: %d", code)
		}
		if code, _ := csv(""); code != 401 {
			t.Fatalf("csv anonymous: %d", code)
		}
		if code, _ := csv(f.e.As(t, "auditor")); code != 200 {
			t.Fatalf("csv auditor: %d", code)
		}
	})
}

// TestRedeemAudit: a redemption leaves exactly one audit entry, written by
// the statement that takes the idempotency key; a replay of the key and a
// refused redemption leave none.
func TestRedeemAudit(t *testing.T) {
	f := newFixture(t, programSpec{})
	rid := f.resident(t, testenv.ResidentSpec{})
	f.issue(t, f.period)
	entries := func() (n int) {
		t.Helper()
		if err := f.e.DB.Raw("SELECT count(*) FROM audit_log WHERE action = 'redeemVoucher'").Row().Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := entries()
	if r := f.redeem(t, f.provTok, f.token(t, rid), 1_000_000, "audit-refused", "", ""); r.code != "INSUFFICIENT_BALANCE" {
		t.Fatalf("want INSUFFICIENT_BALANCE: %s", r.raw)
	}
	if n := entries(); n != before {
		t.Fatalf("a refused redemption left %d audit entries", n-before)
	}
	tok := f.token(t, rid)
	r := f.redeem(t, f.provTok, tok, 1234, "audit-ok", "", "")
	if r.id == "" {
		t.Fatalf("redeem: %s", r.raw)
	}
	if again := f.redeem(t, f.provTok, tok, 1234, "audit-ok", "", ""); again.id != r.id {
		t.Fatalf("replay: %s", again.raw)
	}
	if n := entries(); n != before+1 {
		t.Fatalf("want one audit entry for a redemption and its replay, got %d", n-before)
	}
	var (
		entity, actorKind, requestID, detail string
		entityID                             uuid.UUID
		byProvider                           bool
	)
	if err := f.e.DB.Raw(`SELECT entity, entity_id, actor_id = (SELECT id FROM users WHERE username = ?), actor_kind, request_id, detail::text
		FROM audit_log WHERE action = 'redeemVoucher' ORDER BY id DESC LIMIT 1`, f.provUser).
		Row().Scan(&entity, &entityID, &byProvider, &actorKind, &requestID, &detail); err != nil {
		t.Fatal(err)
	}
	if entity != "Redemption" || entityID != mustUUID(t, r.id) || !byProvider || actorKind != "USER" ||
		requestID == "" || detail != `{"amountFen": 1234}` {
		t.Fatalf("audit entry: %s %s by the provider %v (%s) request %q detail %s", entity, entityID, byProvider, actorKind, requestID, detail)
	}
}
