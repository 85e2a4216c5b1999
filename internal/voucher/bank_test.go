package voucher_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/testenv"
	"github.com/jinjiang/residents/internal/voucher"
)

// TestBank is a randomized test in the Jepsen spirit: workers issue,
// redeem, retry with the same keys, reverse, expire and read at random for
// a fixed time; then the books must balance.
func TestBank(t *testing.T) {
	f := newFixture(t, programSpec{rules: []map[string]any{{"amountFen": 5000}}, carry: 1})
	logsOnFail(t, f.e)
	var residents []uuid.UUID
	for i := 0; i < 6; i++ {
		residents = append(residents, f.resident(t, testenv.ResidentSpec{}))
	}
	cur := civil.MonthOf(civil.DateOf(time.Now()))
	periods := []string{cur.AddMonths(-3).String(), cur.AddMonths(-1).String(), cur.String()}

	type sent struct {
		token, key, id string
		amount         int64
	}
	var (
		mu    sync.Mutex
		done  []sent
		deadl = time.Now().Add(4 * time.Second)
		wg    sync.WaitGroup
	)
	okBusiness := map[string]bool{"": true, "INSUFFICIENT_BALANCE": true, "INVALID_TRANSITION": true}
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for i := 0; time.Now().Before(deadl); i++ {
				switch op := rng.IntN(10); {
				case op == 0:
					f.issue(t, periods[rng.IntN(len(periods))])
				case op <= 4:
					rid := residents[rng.IntN(len(residents))]
					s := sent{token: f.token(t, rid), key: fmt.Sprintf("w%d-%d", w, i), amount: int64(100 + rng.IntN(4000))}
					r := f.redeem(t, f.provTok, s.token, s.amount, s.key, "", "")
					if r.errCode != "" || !okBusiness[r.code] {
						t.Errorf("redeem: %s", r.raw)
					}
					s.id = r.id
					mu.Lock()
					done = append(done, s)
					mu.Unlock()
				case op <= 6:
					mu.Lock()
					if len(done) == 0 {
						mu.Unlock()
						continue
					}
					s := done[rng.IntN(len(done))]
					mu.Unlock()
					r := f.redeem(t, f.provTok, s.token, s.amount, s.key, "", "")
					if r.errCode != "" || !okBusiness[r.code] {
						t.Errorf("retry: %s", r.raw)
					}
					if s.id != "" && r.id != s.id {
						t.Errorf("retry of %s returned %q: %s", s.key, r.id, r.raw)
					}
				case op == 7:
					mu.Lock()
					var id string
					if len(done) > 0 {
						id = done[rng.IntN(len(done))].id
					}
					mu.Unlock()
					if id == "" {
						continue
					}
					r := f.e.Do(t, f.admin, `mutation($id:ID!){reverseRedemption(input:{redemptionId:$id,reason:"bank"}){redemption{status} userErrors{code}}}`, map[string]any{"id": id})
					if r.ErrorCode() != "" || !okBusiness[r.Str("reverseRedemption.userErrors.0.code")] {
						t.Errorf("reverse: %s", r.Raw)
					}
				case op == 8:
					if _, err := f.e.App.Vouchers.ExpireVouchers(t.Context()); err != nil {
						t.Errorf("expire: %v", err)
					}
				default:
					r := f.e.Do(t, f.admin, `mutation($p:ID!,$r:ID!){enrollResident(programId:$p,residentId:$r){resident{voucherBalanceFen vouchers{id balanceFen ledger{amountFen balanceAfterFen}}}}}`,
						map[string]any{"p": f.program, "r": residentGID(residents[rng.IntN(len(residents))])})
					if r.ErrorCode() != "" {
						t.Errorf("read: %s", r.Raw)
					}
				}
			}
		}(w)
	}
	wg.Wait()

	books, bad, err := voucher.CheckBooks(t.Context(), f.e.DB)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
	reds := books.Redemptions
	issued, spent, remaining, expired := books.IssuedFen, books.SpentFen, books.RemainingFen, books.ExpiredFen
	var nRev int
	testenv.MustScan(t, f.e.DB, "SELECT count(*) FROM redemptions WHERE status = 'REVERSED'", nil, &nRev)
	t.Logf("bank: %d redemptions (%d reversed), issued %d, spent %d, remaining %d, expired %d", reds, nRev, issued, spent, remaining, expired)
	if reds == 0 || issued == 0 {
		t.Error("the run did nothing")
	}
}

// TestCheckBooksFindsWhatIsWrong: the reconciliation is only worth running
// if it fails when the books are off.
func TestCheckBooksFindsWhatIsWrong(t *testing.T) {
	f := newFixture(t, programSpec{})
	rid := f.resident(t, testenv.ResidentSpec{})
	f.issue(t, f.period)
	if r := f.redeem(t, f.provTok, f.token(t, rid), 1000, "books", "", ""); r.id == "" {
		t.Fatalf("redeem: %s", r.raw)
	}
	check := func() []string {
		t.Helper()
		_, bad, err := voucher.CheckBooks(t.Context(), f.e.DB)
		if err != nil {
			t.Fatal(err)
		}
		return bad
	}
	if bad := check(); len(bad) != 0 {
		t.Fatalf("clean books reported: %v", bad)
	}
	mustExec(t, f.e, "ALTER TABLE voucher_ledger DISABLE TRIGGER USER")
	mustExec(t, f.e, "ALTER TABLE vouchers DISABLE TRIGGER USER")
	defer mustExec(t, f.e, "ALTER TABLE voucher_ledger ENABLE TRIGGER USER")
	defer mustExec(t, f.e, "ALTER TABLE vouchers ENABLE TRIGGER USER")
	if err := f.e.DB.Exec("UPDATE vouchers SET balance_fen = balance_fen + 1 WHERE resident_id = ?", rid).Error; err != nil {
		t.Fatal(err)
	}
	if bad := check(); len(bad) != 2 { // the voucher differs from its ledger; money in != money out
		t.Fatalf("a voucher one fen richer than its ledger: %v", bad)
	}
	mustExec(t, f.e, "UPDATE vouchers SET balance_fen = balance_fen - 1 WHERE resident_id = ?", rid)
	if err := f.e.DB.Exec("UPDATE redemptions SET amount_fen = amount_fen + 1 WHERE resident_id = ?", rid).Error; err != nil {
		t.Fatal(err)
	}
	if bad := check(); len(bad) != 2 { // its ledger entries took less; completed redemptions != spent
		t.Fatalf("a redemption one fen more than it drew: %v", bad)
	}
	mustExec(t, f.e, "UPDATE redemptions SET amount_fen = amount_fen - 1 WHERE resident_id = ?", rid)
	// The key goes and comes back: later tests check the package's books.
	var key string
	// This redemption's key (a -count rerun has another provider's 'books').
	const mine = "idempotency_key = 'books' AND redemption_id IN (SELECT id FROM redemptions WHERE resident_id = ?)"
	testenv.MustScan(t, f.e.DB, "SELECT to_jsonb(k)::text FROM redemption_keys k WHERE "+mine, testenv.Args(rid), &key)
	if err := f.e.DB.Exec("DELETE FROM redemption_keys WHERE "+mine, rid).Error; err != nil {
		t.Fatal(err)
	}
	if bad := check(); len(bad) != 1 {
		t.Fatalf("a redemption without its key: %v", bad)
	}
	mustExec(t, f.e, "INSERT INTO redemption_keys SELECT * FROM jsonb_populate_record(null::redemption_keys, ?::jsonb)", key)
	if bad := check(); len(bad) != 0 {
		t.Fatalf("books after the key came back: %v", bad)
	}
}
