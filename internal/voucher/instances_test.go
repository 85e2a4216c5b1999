package voucher_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/testenv"
)

// TestThreeInstancesShareTokensAndExpiry: three server instances on one
// database and one Redis keyspace. A token made on one is redeemed on
// another and refused on the third; the expiry job started on all three at
// once expires each voucher exactly once (the advisory lock keeps it on
// one instance at a time).
func TestThreeInstancesShareTokensAndExpiry(t *testing.T) {
	prefix := fmt.Sprintf("three-v%d:", time.Now().UnixNano())
	f := newFixture(t, programSpec{}, testenv.SharedPrefix(prefix))
	nodes := []*testenv.Env{f.e, testenv.New(t, testenv.SharedPrefix(prefix)), testenv.New(t, testenv.SharedPrefix(prefix))}
	rid := f.resident(t, testenv.ResidentSpec{})
	f.issue(t, f.period)

	tok := f.token(t, rid) // made on node 0
	one := &fixture{e: nodes[1], today: f.today}
	if r := one.redeem(t, f.provTok, tok, 500, "three-1", "", ""); r.id == "" {
		t.Fatalf("redeem on node 1 with a token made on node 0: %s", r.raw)
	}
	two := &fixture{e: nodes[2], today: f.today}
	if r := two.redeem(t, f.provTok, tok, 500, "three-2", "", ""); r.code != "TOKEN_USED" {
		t.Fatalf("the same token on node 2: %s", r.raw)
	}
	if r := two.redeem(t, f.provTok, tok, 500, "three-1", "", ""); r.id == "" {
		t.Fatalf("node 2 replays node 1's key: %s", r.raw)
	}

	past := civil.MonthOf(civil.DateOf(time.Now())).AddMonths(-3).String()
	for i := 0; i < 30; i++ {
		f.resident(t, testenv.ResidentSpec{})
	}
	issued, _, _, code := f.issue(t, past)
	if code != "" || issued < 31 {
		t.Fatalf("issue %s: %d %s", past, issued, code)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := n.App.Vouchers.ExpireVouchers(t.Context())
			if err != nil {
				t.Errorf("expire: %v", err)
			}
			mu.Lock()
			total += got
			mu.Unlock()
		}()
	}
	wg.Wait()
	var expired, entries, twice int
	testenv.MustScan(t, f.e.DB, "SELECT count(*) FROM vouchers WHERE program_id = ? AND period = ? AND status = 'EXPIRED'", testenv.Args(f.progID, past), &expired)
	testenv.MustScan(t, f.e.DB, `SELECT count(*) FROM voucher_ledger l JOIN vouchers v ON v.id = l.voucher_id
		WHERE v.program_id = ? AND v.period = ? AND l.kind = 'EXPIRE'`, testenv.Args(f.progID, past), &entries)
	// This program's vouchers of that period only: elsewhere in the package a
	// reversal after expiry rightly writes a voucher's second EXPIRE entry.
	testenv.MustScan(t, f.e.DB, `SELECT count(*) FROM (SELECT l.voucher_id FROM voucher_ledger l JOIN vouchers v ON v.id = l.voucher_id
		WHERE v.program_id = ? AND v.period = ? AND l.kind = 'EXPIRE' GROUP BY l.voucher_id HAVING count(*) > 1) x`,
		testenv.Args(f.progID, past), &twice)
	if expired != issued || entries != issued || total != issued || twice != 0 {
		t.Fatalf("issued %d for %s: %d expired, %d EXPIRE entries, the three jobs reported %d, %d vouchers expired twice",
			issued, past, expired, entries, total, twice)
	}
}
