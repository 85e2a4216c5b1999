package voucher_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/testenv"
)

var sampleRules = []map[string]any{
	{"minAge": 80, "amountFen": 10000},
	{"careLevels": []string{"SEVERE", "TOTAL"}, "amountFen": 20000},
	{"statuses": []string{"LOW_INCOME", "EXTREME_POVERTY"}, "amountFen": 15000},
	{"disabilityGrades": []int{1, 2}, "amountFen": 12000},
}

func insertCertificate(t *testing.T, e *testenv.Env, rid uuid.UUID, grade int, issued, until string, superseded bool) {
	t.Helper()
	var sup any
	if superseded {
		sup = time.Now()
	}
	err := e.DB.Exec(`INSERT INTO disability_certificates (id, resident_id, number_enc, number_bidx, number_masked, category, grade, issued_on, valid_until, superseded_at)
		VALUES (?, ?, 'x', ?, 'x', 'PHYSICAL', ?, ?, ?, ?)`, uuid.Must(uuid.NewV7()), rid, []byte(uuid.NewString()), grade, issued, until, sup).Error
	if err != nil {
		t.Fatal(err)
	}
}

func voucherOf(t *testing.T, e *testenv.Env, rid uuid.UUID, period string) int64 {
	t.Helper()
	var n int64
	testenv.MustScan(t, e.DB, "SELECT coalesce(max(face_value_fen), 0) FROM vouchers WHERE resident_id = ? AND period = ?", testenv.Args(rid, period), &n)
	return n
}

func TestIssueRules(t *testing.T) {
	f := newFixture(t, programSpec{rules: sampleRules, carry: 2})
	logsOnFail(t, f.e)
	period := "2026-06"
	young := time.Date(1970, 3, 1, 0, 0, 0, 0, time.UTC)
	old := f.resident(t, testenv.ResidentSpec{BirthDate: time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC)})
	severeOld := f.resident(t, testenv.ResidentSpec{CareLevel: "TOTAL"})
	poorYoung := f.resident(t, testenv.ResidentSpec{BirthDate: young, Statuses: []string{"LIVING_ALONE", "LOW_INCOME"}})
	none := f.resident(t, testenv.ResidentSpec{BirthDate: young})
	grade2 := f.resident(t, testenv.ResidentSpec{BirthDate: young})
	insertCertificate(t, f.e, grade2, 2, "2020-01-01", "2030-01-01", false)
	grade3 := f.resident(t, testenv.ResidentSpec{BirthDate: young})
	insertCertificate(t, f.e, grade3, 3, "2020-01-01", "2030-01-01", false)
	lapsed := f.resident(t, testenv.ResidentSpec{BirthDate: young})
	insertCertificate(t, f.e, lapsed, 1, "2010-01-01", "2026-05-31", false)
	superseded := f.resident(t, testenv.ResidentSpec{BirthDate: young})
	insertCertificate(t, f.e, superseded, 1, "2010-01-01", "2030-01-01", true)
	futureCert := f.resident(t, testenv.ResidentSpec{BirthDate: young})
	insertCertificate(t, f.e, futureCert, 1, "2026-06-02", "2030-01-01", false)
	dead := f.resident(t, testenv.ResidentSpec{})
	mustExec(t, f.e, "UPDATE residents SET deceased_on = '2026-01-01' WHERE id = ?", dead)
	notEnrolled := f.e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}}).ID

	issued, skipped, fen, code := f.issue(t, period)
	if code != "" || issued != 4 || skipped != 0 || fen != 10000+20000+15000+12000 {
		t.Fatalf("issue: %d %d %d %s", issued, skipped, fen, code)
	}
	for _, c := range []struct {
		name string
		id   uuid.UUID
		want int64
	}{{"age", old, 10000}, {"highest wins", severeOld, 20000}, {"status", poorYoung, 15000}, {"no rule", none, 0},
		{"grade 2", grade2, 12000}, {"grade 3", grade3, 0}, {"lapsed certificate", lapsed, 0}, {"superseded", superseded, 0},
		{"certificate issued later", futureCert, 0}, {"deceased", dead, 0}, {"not enrolled", notEnrolled, 0}} {
		if got := voucherOf(t, f.e, c.id, period); got != c.want {
			t.Errorf("%s: %d want %d", c.name, got, c.want)
		}
	}
	var from, until civil.Date
	testenv.MustScan(t, f.e.DB, "SELECT valid_from, valid_until FROM vouchers WHERE resident_id = ? AND period = ?", testenv.Args(old, period), &from, &until)
	if from.String() != "2026-06-01" || until.String() != "2026-08-31" {
		t.Fatalf("validity %s..%s", from, until)
	}
	var ledgerSum, faceSum int64
	testenv.MustScan(t, f.e.DB, "SELECT sum(amount_fen) FROM voucher_ledger l JOIN vouchers v ON v.id = l.voucher_id WHERE v.program_id = ? AND l.kind = 'ISSUE'", testenv.Args(f.progID), &ledgerSum)
	testenv.MustScan(t, f.e.DB, "SELECT sum(face_value_fen) FROM vouchers WHERE program_id = ?", testenv.Args(f.progID), &faceSum)
	if ledgerSum != faceSum || faceSum != fen {
		t.Fatalf("ledger %d face %d", ledgerSum, faceSum)
	}
	// a second run issues nothing
	if issued, skipped, _, _ := f.issue(t, period); issued != 0 || skipped != 4 {
		t.Fatalf("second run: %d %d", issued, skipped)
	}
	// the ledger refuses updates and deletes
	if err := f.e.DB.Exec("UPDATE voucher_ledger SET amount_fen = 1").Error; err == nil {
		t.Fatal("ledger update allowed")
	}
	if err := f.e.DB.Exec("DELETE FROM voucher_ledger").Error; err == nil {
		t.Fatal("ledger delete allowed")
	}
}

// TestIssueConcurrentIdempotent: two issueVouchers at once either share one
// run (the second joins the first, and both answer its counts) or, when the
// first ended before the second began, the second's run issues nothing.
func TestIssueConcurrentIdempotent(t *testing.T) {
	f := newFixture(t, programSpec{})
	for i := 0; i < 20; i++ {
		f.resident(t, testenv.ResidentSpec{})
	}
	var wg sync.WaitGroup
	res := make([]*testenv.Response, 2)
	for i := range res {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res[i] = f.e.MustDo(t, f.admin, `mutation($in:IssueVouchersInput!){issueVouchers(input:$in){issuedCount userErrors{code} run{id status}}}`,
				map[string]any{"in": map[string]any{"programId": f.program, "period": "2026-07", "allowBackfill": true}})
		}(i)
	}
	wg.Wait()
	count := func(i int) float64 { x, _ := res[i].Get("issueVouchers.issuedCount").(float64); return x }
	same := res[0].Str("issueVouchers.run.id") == res[1].Str("issueVouchers.run.id")
	if res[0].Str("issueVouchers.run.id") == "" || (same && (count(0) != 20 || count(1) != 20)) || (!same && count(0)+count(1) != 20) {
		t.Fatalf("concurrent issue: %s / %s", res[0].Raw, res[1].Raw)
	}
	var n int
	testenv.MustScan(t, f.e.DB, "SELECT count(*) FROM vouchers WHERE program_id = ?", testenv.Args(f.progID), &n)
	if n != 20 {
		t.Fatalf("%d vouchers", n)
	}
}

func TestIssueBudgetAllOrNothing(t *testing.T) {
	f := newFixture(t, programSpec{rules: []map[string]any{{"amountFen": 10000}}, budget: 25000})
	f.resident(t, testenv.ResidentSpec{})
	f.resident(t, testenv.ResidentSpec{})
	if issued, _, _, code := f.issue(t, "2026-08"); issued != 2 || code != "" {
		t.Fatalf("within budget: %d %s", issued, code)
	}
	f.resident(t, testenv.ResidentSpec{})
	if issued, _, _, code := f.issue(t, "2026-08"); code != "BUDGET_EXCEEDED" || issued != 0 {
		t.Fatalf("over budget: %d %s", issued, code)
	}
	f.resident(t, testenv.ResidentSpec{})
	if _, _, _, code := f.issue(t, "2026-09"); code != "BUDGET_EXCEEDED" {
		t.Fatalf("fresh period over budget: %s", code)
	}
	var n int
	testenv.MustScan(t, f.e.DB, "SELECT count(*) FROM vouchers WHERE program_id = ?", testenv.Args(f.progID), &n)
	var l int
	testenv.MustScan(t, f.e.DB, "SELECT count(*) FROM voucher_ledger l JOIN vouchers v ON v.id = l.voucher_id WHERE v.program_id = ?", testenv.Args(f.progID), &l)
	if n != 2 || l != 2 {
		t.Fatalf("partial issue written: %d vouchers, %d entries", n, l)
	}
}

func TestExpiry(t *testing.T) {
	f := newFixture(t, programSpec{})
	rid := f.resident(t, testenv.ResidentSpec{})
	f.issue(t, "2026-01")
	f.issue(t, f.period)
	tok := f.token(t, rid)
	if r := f.redeem(t, f.provTok, tok, 500, "exp", "2026-01-20", ""); r.id == "" {
		t.Fatalf("redeem in January: %s", r.raw)
	}
	// another instance holding the job lock: this one does nothing
	conn, err := database.SQL(f.e.DB).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "SELECT pg_advisory_lock(7020001)"); err != nil {
		t.Fatal(err)
	}
	if n, err := f.e.App.Vouchers.ExpireVouchers(t.Context()); n != 0 || err != nil {
		t.Fatalf("expired under another instance's lock: %d %v", n, err)
	}
	if _, err := conn.ExecContext(t.Context(), "SELECT pg_advisory_unlock(7020001)"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	// other tests of the package left past vouchers too: at least ours expires
	n, err := f.e.App.Vouchers.ExpireVouchers(t.Context())
	if err != nil || n < 1 {
		t.Fatalf("expire: %d %v", n, err)
	}
	var status string
	var bal, entry int64
	testenv.MustScan(t, f.e.DB, "SELECT status, balance_fen FROM vouchers WHERE resident_id = ? AND period = '2026-01'", testenv.Args(rid), &status, &bal)
	testenv.MustScan(t, f.e.DB, "SELECT l.amount_fen FROM voucher_ledger l JOIN vouchers v ON v.id = l.voucher_id WHERE v.resident_id = ? AND l.kind = 'EXPIRE'", testenv.Args(rid), &entry)
	if status != "EXPIRED" || bal != 0 || entry != -29500 {
		t.Fatalf("expired: %s %d %d", status, bal, entry)
	}
	if n, err := f.e.App.Vouchers.ExpireVouchers(t.Context()); n != 0 || err != nil {
		t.Fatalf("second run expired %d: %v", n, err)
	}
	if b := f.balance(t, rid); b != 30000 {
		t.Fatalf("current voucher touched: %d", b)
	}
}

// TestBalanceIsWhatTodayCanSpend: next month's vouchers, issued ahead, are
// listed but not in voucherBalanceFen, which is what a redemption dated
// today could spend (the elder was shown 42,700 with 27,700 spendable).
func TestBalanceIsWhatTodayCanSpend(t *testing.T) {
	f := newFixture(t, programSpec{})
	rid := f.resident(t, testenv.ResidentSpec{})
	today := civil.DateOf(f.e.Clock.Now())
	next := civil.MonthOf(today).AddMonths(1).String()
	for _, period := range []string{civil.MonthOf(today).String(), next} {
		if n, _, _, code := f.issue(t, period); n != 1 || code != "" {
			t.Fatalf("issue %s: %d %s", period, n, code)
		}
	}
	r := f.e.MustDo(t, f.admin, `query($id:ID!,$p:ID){resident(id:$id){voucherBalanceFen byProgram: voucherBalanceFen(programId:$p)
		vouchers{period balanceFen status}}}`, map[string]any{"id": residentGID(rid), "p": f.program})
	var current, all float64
	for i := range r.Get("resident.vouchers").([]any) {
		b, _ := r.Get(fmt.Sprintf("resident.vouchers.%d.balanceFen", i)).(float64)
		all += b
		if r.Str(fmt.Sprintf("resident.vouchers.%d.period", i)) != next {
			current += b
		}
	}
	if current == 0 || all == current {
		t.Fatalf("want a current and a not-yet-valid voucher: %s", r.Raw)
	}
	if r.Get("resident.voucherBalanceFen") != current || r.Get("resident.byProgram") != current {
		t.Fatalf("balance %v (by program %v), want %v (the next month's %v is not spendable today): %s",
			r.Get("resident.voucherBalanceFen"), r.Get("resident.byProgram"), current, all-current, r.Raw)
	}
}
