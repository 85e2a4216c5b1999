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

	db := f.e.DB
	var bad int
	db.Raw(`SELECT count(*) FROM vouchers v WHERE v.balance_fen <> (SELECT coalesce(sum(amount_fen),0) FROM voucher_ledger l WHERE l.voucher_id = v.id)
		OR v.balance_fen < 0`).Row().Scan(&bad)
	if bad != 0 {
		t.Errorf("%d vouchers whose balance differs from their ledger", bad)
	}
	db.Raw(`SELECT count(*) FROM voucher_ledger l WHERE l.balance_after_fen <> (SELECT sum(amount_fen) FROM voucher_ledger x WHERE x.voucher_id = l.voucher_id AND x.id <= l.id)`).Row().Scan(&bad)
	if bad != 0 {
		t.Errorf("%d ledger entries with a wrong balance_after", bad)
	}
	var keys, reds, distinct int
	db.Raw("SELECT count(*), count(DISTINCT redemption_id) FROM redemption_keys").Row().Scan(&keys, &distinct)
	db.Raw("SELECT count(*) FROM redemptions").Row().Scan(&reds)
	if keys != reds || distinct != reds {
		t.Errorf("keys %d, distinct %d, redemptions %d", keys, distinct, reds)
	}
	var issued, spent, remaining, expired int64
	db.Raw(`SELECT coalesce(sum(amount_fen) FILTER (WHERE kind = 'ISSUE'),0), -coalesce(sum(amount_fen) FILTER (WHERE kind IN ('REDEEM','REVERSE')),0),
		-coalesce(sum(amount_fen) FILTER (WHERE kind = 'EXPIRE'),0) FROM voucher_ledger`).Row().Scan(&issued, &spent, &expired)
	db.Raw("SELECT coalesce(sum(balance_fen),0) FROM vouchers").Row().Scan(&remaining)
	if issued != spent+remaining+expired {
		t.Errorf("issued %d != spent %d + remaining %d + expired %d", issued, spent, remaining, expired)
	}
	var completed, drawn int64
	db.Raw("SELECT coalesce(sum(amount_fen),0) FROM redemptions WHERE status = 'COMPLETED'").Row().Scan(&completed)
	db.Raw("SELECT coalesce(sum(d.amount_fen),0) FROM redemption_draws d JOIN redemptions r ON r.id = d.redemption_id WHERE r.status = 'COMPLETED'").Row().Scan(&drawn)
	if completed != spent || drawn != spent {
		t.Errorf("completed %d, drawn %d, spent by ledger %d", completed, drawn, spent)
	}
	var nRev int
	db.Raw("SELECT count(*) FROM redemptions WHERE status = 'REVERSED'").Row().Scan(&nRev)
	t.Logf("bank: %d redemptions (%d reversed), issued %d, spent %d, remaining %d, expired %d", reds, nRev, issued, spent, remaining, expired)
	if reds == 0 || issued == 0 {
		t.Error("the run did nothing")
	}
}
