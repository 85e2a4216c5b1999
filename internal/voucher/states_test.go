package voucher_test

import (
	"testing"

	"github.com/jinjiang/residents/internal/testenv"
	"github.com/jinjiang/residents/internal/voucher"
)

// TestStatusMovesInTable records every status the database writes to a
// voucher or a redemption while issuance, redemption (partly and to zero),
// reversal (onto an exhausted and an expired voucher) and the
// expiry job run, and checks each move is one the state machine lists.
// Those statements are SQL (issueChunkSQL, redeem.sql, expireSQL) or Go
// (restoreDraws, ReverseRedemption); a move the SQL starts making that the
// table does not know fails here.
func TestStatusMovesInTable(t *testing.T) {
	f := newFixture(t, programSpec{carry: 1})
	logsOnFail(t, f.e)
	for _, q := range []string{
		`CREATE TABLE test_status_moves (tbl text NOT NULL, old text, new text NOT NULL)`,
		`CREATE FUNCTION test_status_move() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
		  INSERT INTO test_status_moves VALUES (TG_TABLE_NAME, CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, NEW.status);
		  RETURN NULL;
		END $$`,
		`CREATE TRIGGER test_status_move AFTER INSERT OR UPDATE ON vouchers FOR EACH ROW EXECUTE FUNCTION test_status_move()`,
		`CREATE TRIGGER test_status_move AFTER INSERT OR UPDATE ON redemptions FOR EACH ROW EXECUTE FUNCTION test_status_move()`,
	} {
		if err := f.e.DB.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, q := range []string{"DROP TRIGGER test_status_move ON vouchers", "DROP TRIGGER test_status_move ON redemptions",
			"DROP FUNCTION test_status_move", "DROP TABLE test_status_moves"} {
			if err := f.e.DB.Exec(q).Error; err != nil {
				t.Error(err)
			}
		}
	})

	rid := f.resident(t, testenv.ResidentSpec{})
	// January's voucher is valid through February (carry 1), so a
	// redemption dated in January draws it first and the expiry job ends it.
	f.issue(t, "2026-01")
	f.issue(t, f.period)
	partly := f.redeem(t, f.provTok, f.token(t, rid), 100, "moves-partly", "2026-01-20", "")
	current := f.redeem(t, f.provTok, f.token(t, rid), 30000, "moves-current", "", "")
	for _, r := range []redeemed{partly, current} {
		if r.id == "" {
			t.Fatalf("redeem: %s", r.raw)
		}
	}
	reverse := func(gid string) {
		t.Helper()
		rev := f.e.MustDo(t, f.admin, `mutation($id:ID!){reverseRedemption(input:{redemptionId:$id,reason:"状态"}){redemption{status} userErrors{code}}}`,
			map[string]any{"id": gid})
		if rev.Str("reverseRedemption.redemption.status") != "REVERSED" {
			t.Fatalf("reverse: %s", rev.Raw)
		}
	}
	reverse(current.id) // EXHAUSTED back to ACTIVE
	if _, err := f.e.App.Vouchers.ExpireVouchers(t.Context()); err != nil {
		t.Fatal(err)
	}
	reverse(partly.id) // onto the expired January voucher: written off again
	var expired string
	testenv.MustScan(t, f.e.DB, "SELECT status FROM vouchers WHERE resident_id = ? AND period = '2026-01'", testenv.Args(rid), &expired)
	if expired != string(voucher.Expired) {
		t.Fatalf("January's voucher is %s after expiry and a reversal", expired)
	}
	// A death voids what is left (the current period's voucher).
	death := f.e.MustDo(t, f.admin, recordDeathDoc, map[string]any{"in": map[string]any{"residentId": residentGID(rid), "date": f.today, "source": "状态"}})
	if death.Get("recordDeath.userErrors.0") != nil {
		t.Fatalf("recordDeath: %s", death.Raw)
	}

	rows, err := f.e.DB.Raw("SELECT DISTINCT tbl, coalesce(old, ''), new FROM test_status_moves").Rows()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[[3]string]bool{}
	for rows.Next() {
		var m [3]string
		if err := rows.Scan(&m[0], &m[1], &m[2]); err != nil {
			t.Fatal(err)
		}
		seen[m] = true
		ok := false
		switch {
		case m[0] == "vouchers" && m[1] == "":
			ok = voucher.Status(m[2]) == voucher.IssuedStatus
		case m[0] == "vouchers":
			ok = voucher.Status(m[1]).CanBecome(voucher.Status(m[2]))
		case m[1] == "":
			ok = voucher.RedemptionStatus(m[2]) == voucher.CreatedRedemption
		default:
			ok = voucher.RedemptionStatus(m[1]).CanBecome(voucher.RedemptionStatus(m[2]))
		}
		if !ok {
			t.Errorf("the database moved a row of %s from %q to %q, which the state machine does not list", m[0], m[1], m[2])
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// The paths above make every move the tables list: a path that stopped
	// making one would leave the table listing a move nothing makes.
	for _, m := range [][3]string{{"vouchers", "", "ACTIVE"}, {"vouchers", "ACTIVE", "ACTIVE"}, {"vouchers", "ACTIVE", "EXHAUSTED"},
		{"vouchers", "EXHAUSTED", "ACTIVE"}, {"vouchers", "ACTIVE", "EXPIRED"}, {"vouchers", "ACTIVE", "VOIDED"}, {"redemptions", "", "COMPLETED"},
		{"redemptions", "COMPLETED", "REVERSED"}} {
		if !seen[m] {
			t.Errorf("no path made the move %v", m)
		}
	}
}

// TestStateMachine: the final statuses go nowhere, and nothing moves back
// to a status a row is created in except by a reversal.
func TestStateMachine(t *testing.T) {
	for _, s := range []voucher.Status{voucher.Expired, voucher.Voided} {
		for _, to := range []voucher.Status{voucher.Active, voucher.Exhausted, voucher.Expired, voucher.Voided} {
			if s.CanBecome(to) {
				t.Errorf("%s may become %s", s, to)
			}
		}
	}
	if voucher.Reversed.CanBecome(voucher.Completed) || voucher.Reversed.CanBecome(voucher.Reversed) {
		t.Error("a reversed redemption may move")
	}
	if !voucher.Exhausted.CanBecome(voucher.Active) || voucher.Exhausted.CanBecome(voucher.Expired) {
		t.Error("EXHAUSTED: only a reversal moves it, back to ACTIVE")
	}
}
