package voucher_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jinjiang/residents/internal/testenv"
)

// TestRedeemRace: 40 concurrent redemptions of 1,000 fen against 30,000 fen
// give exactly 30 successes and 10 INSUFFICIENT_BALANCE, balance 0.
func TestRedeemRace(t *testing.T) {
	f := newFixture(t, programSpec{})
	logsOnFail(t, f.e)
	rid := f.resident(t, testenv.ResidentSpec{})
	if n, _, fen, code := f.issue(t, f.period); n != 1 || fen != 30000 || code != "" {
		t.Fatalf("issue: %d %d %s", n, fen, code)
	}
	tokens := make([]string, 40)
	for i := range tokens {
		tokens[i] = f.token(t, rid)
	}
	var wg sync.WaitGroup
	results := make([]redeemed, 40)
	for i := range tokens {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = f.redeem(t, f.provTok, tokens[i], 1000, fmt.Sprintf("race-%d", i), "", "")
		}(i)
	}
	wg.Wait()
	ok, insufficient := 0, 0
	for _, r := range results {
		switch {
		case r.id != "" && r.code == "" && r.errCode == "":
			ok++
		case r.code == "INSUFFICIENT_BALANCE":
			insufficient++
		default:
			t.Errorf("unexpected outcome: %s", r.raw)
		}
	}
	if ok != 30 || insufficient != 10 {
		t.Fatalf("ok=%d insufficient=%d, want 30/10", ok, insufficient)
	}
	if b := f.balance(t, rid); b != 0 {
		t.Fatalf("balance %d, want 0", b)
	}
	var status string
	testenv.MustScan(t, f.e.DB, "SELECT status FROM vouchers WHERE resident_id = ?", testenv.Args(rid), &status)
	if status != "EXHAUSTED" {
		t.Fatalf("status %s", status)
	}
	if strings.Contains(f.e.Logs(), "deadlock") {
		t.Fatal("deadlock logged")
	}
}

func logsOnFail(t *testing.T, e *testenv.Env) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(e.Logs())
		}
	})
}
