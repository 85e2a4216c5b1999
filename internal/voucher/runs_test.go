package voucher_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/run"
	"github.com/jinjiang/residents/internal/testenv"
)

// chunks makes runs go through a few residents per chunk, so that a test's
// handful of residents takes several chunks.
func chunks(n int) testenv.Option {
	return testenv.WithConfig(func(c *config.Config) { c.RunChunkSize = n })
}

const issueRunDoc = `mutation($in:IssueVouchersInput!){issueVouchers(input:$in){issuedCount skippedCount issuedFen
	userErrors{code field message} run{id status period residentsTotal residentsDone issuedCount skippedCount issuedFen
	startedAt finishedAt error errorCode program{id}}}}`

const runNodeDoc = `query($id:ID!){node(id:$id){id ... on IssuanceRun{status period residentsTotal residentsDone issuedCount
	skippedCount issuedFen finishedAt error errorCode} ... on EnrollmentRun{status residentsTotal residentsDone enrolledCount skippedCount
	finishedAt error errorCode}}}`

func (f *fixture) issueRun(t testing.TB, e *testenv.Env, period string, backfill bool) *testenv.Response {
	t.Helper()
	return e.MustDo(t, f.admin, issueRunDoc, map[string]any{"in": map[string]any{"programId": f.program, "period": period, "allowBackfill": backfill}})
}

// awaitRun polls node(id:) on e until the run has ended.
func awaitRun(t testing.TB, e *testenv.Env, tok, id string, within time.Duration) *testenv.Response {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := e.MustDo(t, tok, runNodeDoc, map[string]any{"id": id})
		if s := r.Str("node.status"); s != "RUNNING" {
			if s == "" {
				t.Fatalf("run %s not visible: %s", id, r.Raw)
			}
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still RUNNING after %v: %s", id, within, r.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func num(r *testenv.Response, path string) int {
	x, _ := r.Get(path).(float64)
	return int(x)
}

// exactlyOnce checks that every one of ids holds exactly one voucher of
// the program for the period, with one ISSUE entry, and nobody else does.
func exactlyOnce(t *testing.T, f *fixture, period string, ids []uuid.UUID) {
	t.Helper()
	var vouchers, residents, entries, doubles int
	testenv.MustScan(t, f.e.DB, `SELECT count(*), count(DISTINCT resident_id) FROM vouchers WHERE program_id = ? AND period = ?`,
		testenv.Args(f.progID, period), &vouchers, &residents)
	testenv.MustScan(t, f.e.DB, `SELECT count(*) FROM voucher_ledger l JOIN vouchers v ON v.id = l.voucher_id
		WHERE v.program_id = ? AND v.period = ? AND l.kind = 'ISSUE'`, testenv.Args(f.progID, period), &entries)
	testenv.MustScan(t, f.e.DB, `SELECT count(*) FROM unnest(CAST(? AS uuid[])) AS want(id)
		WHERE (SELECT count(*) FROM vouchers v WHERE v.program_id = ? AND v.period = ? AND v.resident_id = want.id) <> 1`,
		testenv.Args(uuidArray(ids), f.progID, period), &doubles)
	if vouchers != len(ids) || residents != len(ids) || entries != len(ids) || doubles != 0 {
		t.Fatalf("%d vouchers for %d residents with %d ISSUE entries, %d of the %d residents without exactly one",
			vouchers, residents, entries, doubles, len(ids))
	}
}

func uuidArray(ids []uuid.UUID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return "{" + strings.Join(s, ",") + "}"
}

// auditOf returns the actions and detail statuses of a run's audit entries, oldest first.
func auditOf(t *testing.T, e *testenv.Env, id string) []string {
	t.Helper()
	rows, err := e.DB.Raw(`SELECT action || ':' || actor_kind || ':' || coalesce(detail->>'status', '') || CASE WHEN detail->>'joined' = 'true' THEN 'joined' ELSE '' END
		FROM audit_log WHERE entity_id = ? ORDER BY at, id`, mustUUID(t, id)).Rows()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestIssuanceRunStartedAndJoined: issueVouchers answers within its wait
// with the run RUNNING while it goes on; a second call for the same
// program and period joins that run instead of starting another; the run
// then ends with every resident issued once, and is listed, audited at
// start, join and end.
func TestIssuanceRunStartedAndJoined(t *testing.T) {
	f := newFixture(t, programSpec{}, chunks(2))
	var ids []uuid.UUID
	for range 5 {
		ids = append(ids, f.resident(t, testenv.ResidentSpec{}))
	}
	release := make(chan struct{})
	f.e.App.Runs.SetAfterStep(func(*run.Run) error {
		select {
		case <-release:
		case <-time.After(20 * time.Second):
		}
		return nil
	})
	period := civil.MonthOf(civil.DateOf(f.e.Clock.Now())).AddMonths(1).String()
	start := time.Now()
	first := f.issueRun(t, f.e, period, false)
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("issueVouchers answered after %v", d)
	}
	id := first.Str("issueVouchers.run.id")
	if id == "" || first.Str("issueVouchers.run.status") != "RUNNING" || num(first, "issueVouchers.issuedCount") != 0 ||
		first.Str("issueVouchers.run.period") != period || first.Str("issueVouchers.run.program.id") != f.program {
		t.Fatalf("first call: %s", first.Raw)
	}
	second := f.issueRun(t, f.e, period, false)
	if second.Str("issueVouchers.run.id") != id || second.Str("issueVouchers.run.status") != "RUNNING" {
		t.Fatalf("second call did not join the run %s: %s", id, second.Raw)
	}
	close(release)
	done := awaitRun(t, f.e, f.admin, id, 20*time.Second)
	if done.Str("node.status") != "SUCCEEDED" || num(done, "node.issuedCount") != 5 || num(done, "node.residentsDone") != 5 ||
		num(done, "node.residentsTotal") != 5 || num(done, "node.issuedFen") != 5*30000 || done.Str("node.finishedAt") == "" {
		t.Fatalf("ended: %s", done.Raw)
	}
	exactlyOnce(t, f, period, ids)
	list := f.e.MustDo(t, f.admin, `query($p:ID){issuanceRuns(programId:$p,first:5){edges{node{id status}} pageInfo{hasNextPage}}}`,
		map[string]any{"p": f.program})
	if list.Str("issuanceRuns.edges.0.node.id") != id || list.Get("issuanceRuns.edges.1") != nil {
		t.Fatalf("issuanceRuns: %s", list.Raw)
	}
	if got := strings.Join(auditOf(t, f.e, id), " "); got != "issueVouchers:USER: issueVouchers:USER:joined issueVouchers:USER:SUCCEEDED" {
		t.Fatalf("audit of the run: %s", got)
	}
	// The same period again: a new run that issues nothing.
	f.e.App.Runs.SetAfterStep(nil)
	again := f.issueRun(t, f.e, period, false)
	if again.Str("issueVouchers.run.id") == id || again.Str("issueVouchers.run.status") != "SUCCEEDED" ||
		num(again, "issueVouchers.issuedCount") != 0 || num(again, "issueVouchers.skippedCount") != 5 {
		t.Fatalf("rerun: %s", again.Raw)
	}
	// Auditors follow runs; clerks and providers do not see them.
	if r := f.e.MustDo(t, f.e.As(t, "auditor"), runNodeDoc, map[string]any{"id": id}); r.Str("node.status") != "SUCCEEDED" {
		t.Fatalf("auditor: %s", r.Raw)
	}
	for _, who := range []string{f.clerk, f.provTok} {
		if r := f.e.Do(t, who, runNodeDoc, map[string]any{"id": id}); r.Get("node") != nil {
			t.Fatalf("run visible to a clerk or provider: %s", r.Raw)
		}
	}
}

// TestIssuanceResumesAfterCrash: the instance driving a run dies after
// its second chunk (the hook stops it as kill -9 would: no release, the
// lease still held). Nobody takes the run over while the lease holds; once
// it has lapsed, another instance claims it, continues after the last
// committed chunk, and every resident ends with exactly one voucher.
func TestIssuanceResumesAfterCrash(t *testing.T) {
	f := newFixture(t, programSpec{}, chunks(3))
	var ids []uuid.UUID
	for range 8 {
		ids = append(ids, f.resident(t, testenv.ResidentSpec{}))
	}
	var steps atomic.Int32
	f.e.App.Runs.SetAfterStep(func(*run.Run) error {
		if steps.Add(1) == 3 { // the plan and two chunks committed
			return errors.New("killed")
		}
		return nil
	})
	period := "2025-03"
	r := f.issueRun(t, f.e, period, true)
	id := r.Str("issueVouchers.run.id")
	if r.Str("issueVouchers.run.status") != "RUNNING" {
		t.Fatalf("the run should be stuck after its second chunk: %s", r.Raw)
	}
	var done, issued int
	var owner string
	testenv.MustScan(t, f.e.DB, "SELECT items_done, affected_count, lease_owner FROM runs WHERE id = ?", testenv.Args(mustUUID(t, id)), &done, &issued, &owner)
	if done != 6 || issued != 6 || owner != f.e.App.Runs.Owner() {
		t.Fatalf("after the crash: %d done, %d issued, owner %q", done, issued, owner)
	}
	b := testenv.New(t, chunks(3))
	b.App.Runs.Kick()
	time.Sleep(500 * time.Millisecond)
	testenv.MustScan(t, f.e.DB, "SELECT lease_owner FROM runs WHERE id = ?", testenv.Args(mustUUID(t, id)), &owner)
	if owner != f.e.App.Runs.Owner() {
		t.Fatalf("the run was taken over while its lease held (now %q)", owner)
	}
	// The lease lapses (the dead instance renews nothing).
	mustExec(t, f.e, "UPDATE runs SET lease_until = now() - interval '1 second' WHERE id = ?", mustUUID(t, id))
	b.App.Runs.Kick()
	end := awaitRun(t, b, b.Admin(t), id, 30*time.Second)
	if end.Str("node.status") != "SUCCEEDED" || num(end, "node.issuedCount") != 8 || num(end, "node.residentsDone") != 8 {
		t.Fatalf("resumed run: %s", end.Raw)
	}
	exactlyOnce(t, f, period, ids)
	// The dead instance's worker, were it to come back, finds the run
	// ended: it does nothing more (no chunk saved, no second end audited;
	// the unique key alone would keep the vouchers exactly once).
	state := func() string {
		var s string
		testenv.MustScan(t, f.e.DB, `SELECT status || ' ' || items_done || ' ' || updated_at::text || ' ' ||
			(SELECT count(*) FROM audit_log a WHERE a.entity_id = runs.id) FROM runs WHERE id = ?`, testenv.Args(mustUUID(t, id)), &s)
		return s
	}
	ended := state()
	f.e.App.Runs.SetAfterStep(nil)
	f.e.App.Runs.Drive(context.Background(), mustUUID(t, id))
	if now := state(); now != ended {
		t.Fatalf("the dead instance's worker drove the ended run: %q, then %q", ended, now)
	}
	exactlyOnce(t, f, period, ids)
}

// TestIssuanceRunOverBudgetIssuesNothing: the budget is checked on the
// whole period before the first chunk: a run over it fails with
// BUDGET_EXCEEDED and nothing issued, even with one resident per chunk.
func TestIssuanceRunOverBudgetIssuesNothing(t *testing.T) {
	f := newFixture(t, programSpec{rules: []map[string]any{{"amountFen": 10000}}, budget: 25000}, chunks(1))
	for range 3 {
		f.resident(t, testenv.ResidentSpec{})
	}
	r := f.issueRun(t, f.e, f.period, false)
	if r.Str("issueVouchers.userErrors.0.code") != "BUDGET_EXCEEDED" || r.Str("issueVouchers.run.status") != "FAILED" ||
		r.Str("issueVouchers.run.errorCode") != "BUDGET_EXCEEDED" || r.Str("issueVouchers.run.error") == "" ||
		num(r, "issueVouchers.issuedCount") != 0 || num(r, "issueVouchers.run.issuedCount") != 0 {
		t.Fatalf("over budget: %s", r.Raw)
	}
	var n int
	testenv.MustScan(t, f.e.DB, "SELECT count(*) FROM vouchers WHERE program_id = ?", testenv.Args(f.progID), &n)
	if n != 0 {
		t.Fatalf("%d vouchers issued by a run over budget", n)
	}
	if got := strings.Join(auditOf(t, f.e, r.Str("issueVouchers.run.id")), " "); got != "issueVouchers:USER: issueVouchers:USER:FAILED" {
		t.Fatalf("audit: %s", got)
	}
}

// TestIssueBackfillRules: this month and the next issue; a past period or
// one more than a month ahead is INVALID unless the ADMIN allows a
// backfill, which is audited as such; others may not issue at all.
func TestIssueBackfillRules(t *testing.T) {
	f := newFixture(t, programSpec{})
	f.resident(t, testenv.ResidentSpec{})
	cur := civil.MonthOf(civil.DateOf(f.e.Clock.Now()))
	for _, c := range []struct {
		period   string
		backfill bool
		code     string
	}{
		{cur.AddMonths(-1).String(), false, "INVALID"},
		{cur.AddMonths(2).String(), false, "INVALID"},
		{"2026-13", true, "INVALID"},
		{"1999-1", true, "INVALID"},
		{cur.String(), false, ""},
		{cur.AddMonths(1).String(), false, ""},
		{cur.AddMonths(-1).String(), true, ""},
		{cur.AddMonths(3).String(), true, ""},
	} {
		r := f.issueRun(t, f.e, c.period, c.backfill)
		if got := r.Str("issueVouchers.userErrors.0.code"); got != c.code {
			t.Errorf("%s (allowBackfill %v): %q, want %q: %s", c.period, c.backfill, got, c.code, r.Raw)
			continue
		}
		if c.code != "" {
			if r.Get("issueVouchers.run") != nil || r.Str("issueVouchers.userErrors.0.field.1") != "period" {
				t.Errorf("%s refused with a run or on another field: %s", c.period, r.Raw)
			}
			continue
		}
		id := mustUUID(t, r.Str("issueVouchers.run.id"))
		var backfill bool
		testenv.MustScan(t, f.e.DB, `SELECT coalesce((detail->>'allowBackfill')::boolean, false) FROM audit_log
			WHERE entity_id = ? AND detail->>'status' IS NULL`, testenv.Args(id), &backfill)
		if backfill != (c.period != cur.String() && c.period != cur.AddMonths(1).String()) {
			t.Errorf("%s: audited allowBackfill %v", c.period, backfill)
		}
	}
	r := f.e.Do(t, f.clerk, issueRunDoc, map[string]any{"in": map[string]any{"programId": f.program, "period": cur.String(), "allowBackfill": true}})
	if r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("clerk issues: %s", r.Raw)
	}
}

const enrollDoc = `mutation($p:ID!,$f:ResidentFilter!){enrollResidents(programId:$p,filter:$f){userErrors{code field}
	run{id status residentsTotal residentsDone enrolledCount skippedCount}}}`

// TestEnrollResidentsRun: enrollResidents enrolls the living residents the
// list's filter matches inside the caller's jurisdiction, in chunks; run
// again it enrolls nobody twice; a case worker's run reaches their own
// subtree only, and is followed by them and the district, not by a case
// worker elsewhere.
func TestEnrollResidentsRun(t *testing.T) {
	f := newFixture(t, programSpec{}, chunks(2))
	tag := fmt.Sprintf("批%d", uniq())
	var mine, theirs []uuid.UUID
	for i := range 3 {
		mine = append(mine, f.e.InsertResident(t, testenv.ResidentSpec{Name: fmt.Sprintf("%s甲%d", tag, i), Statuses: []string{}}).ID)
	}
	for i := range 2 {
		theirs = append(theirs, f.e.InsertResident(t, testenv.ResidentSpec{Name: fmt.Sprintf("%s乙%d", tag, i), Statuses: []string{"LOW_INCOME"},
			CommunityCode: "510104023001"}).ID)
	}
	dead := f.e.InsertResident(t, testenv.ResidentSpec{Name: tag + "故", Statuses: []string{}}).ID
	mustExec(t, f.e, "UPDATE residents SET deceased_on = '2026-01-01' WHERE id = ?", dead)
	f.e.InsertResident(t, testenv.ResidentSpec{Name: "他人" + tag[3:], Statuses: []string{}}) // outside the filter
	enrolled := func() map[uuid.UUID]bool {
		out := map[uuid.UUID]bool{}
		rows, err := f.e.DB.Raw("SELECT resident_id FROM voucher_enrollments WHERE program_id = ?", f.progID).Rows()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id uuid.UUID
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out[id] = true
		}
		return out
	}
	filter := map[string]any{"nameContains": tag}
	cw, cw2 := f.e.As(t, "caseworker"), f.e.As(t, "caseworker2")
	enroll := func(tok string, want [4]int) string {
		t.Helper()
		r := f.e.MustDo(t, tok, enrollDoc, map[string]any{"p": f.program, "f": filter})
		got := [4]int{num(r, "enrollResidents.run.residentsTotal"), num(r, "enrollResidents.run.residentsDone"),
			num(r, "enrollResidents.run.enrolledCount"), num(r, "enrollResidents.run.skippedCount")}
		if r.Str("enrollResidents.run.status") != "SUCCEEDED" || got != want {
			t.Fatalf("enroll: %v, want %v: %s", got, want, r.Raw)
		}
		return r.Str("enrollResidents.run.id")
	}
	// The case worker of 春熙路: their three living residents (the
	// deceased one counted and skipped), nobody in 牛市口.
	cwRun := enroll(cw, [4]int{4, 4, 3, 1})
	got := enrolled()
	if len(got) != 3 || !got[mine[0]] || !got[mine[1]] || !got[mine[2]] {
		t.Fatalf("enrolled %v, want %v", got, mine)
	}
	enroll(cw, [4]int{4, 4, 0, 4}) // again: nobody twice
	// The district: the rest.
	enroll(f.admin, [4]int{6, 6, 2, 4})
	if got := enrolled(); len(got) != 5 || !got[theirs[0]] || !got[theirs[1]] || got[dead] {
		t.Fatalf("after the district's run: %v", got)
	}
	// The list filter's own rules: statuses narrow, bad ages are refused.
	f2 := newFixture(t, programSpec{}, chunks(2))
	r := f2.e.MustDo(t, f2.admin, enrollDoc, map[string]any{"p": f2.program, "f": map[string]any{"nameContains": tag, "statuses": []string{"LOW_INCOME"}}})
	if num(r, "enrollResidents.run.enrolledCount") != 2 {
		t.Fatalf("status filter: %s", r.Raw)
	}
	if r := f.e.Do(t, f.admin, enrollDoc, map[string]any{"p": f.program, "f": map[string]any{"minAge": 200}}); r.ErrorCode() != "BAD_USER_INPUT" {
		t.Fatalf("minAge 200: %s", r.Raw)
	}
	if r := f.e.Do(t, f.clerk, enrollDoc, map[string]any{"p": f.program, "f": filter}); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("clerk enrolls in bulk: %s", r.Raw)
	}
	// Who follows the case worker's run.
	for who, visible := range map[string]bool{cw: true, f.admin: true, cw2: false} {
		r := f.e.MustDo(t, who, runNodeDoc, map[string]any{"id": cwRun})
		if (r.Str("node.id") == cwRun) != visible {
			t.Errorf("visible %v, want %v: %s", r.Str("node.id") == cwRun, visible, r.Raw)
		}
		l := f.e.MustDo(t, who, `query($p:ID){enrollmentRuns(programId:$p,first:10){edges{node{id}}}}`, map[string]any{"p": f.program})
		if strings.Contains(string(l.Raw), cwRun) != visible {
			t.Errorf("listed %v, want %v: %s", !visible, visible, l.Raw)
		}
	}
}

const unenrollDoc = `mutation($p:ID!,$r:ID!,$why:String!){unenrollResident(programId:$p,residentId:$r,reason:$why){
	program{id} resident{id} userErrors{code field}}}`

// TestUnenroll: a resident taken out of a program keeps the vouchers held
// (spendable until they expire) and gets no later period; the reason is
// required and audited; a case worker elsewhere may not.
func TestUnenroll(t *testing.T) {
	f := newFixture(t, programSpec{})
	rid := f.resident(t, testenv.ResidentSpec{})
	if n, _, _, code := f.issue(t, f.period); n != 1 || code != "" {
		t.Fatalf("issue: %d %s", n, code)
	}
	vars := func(why string) map[string]any {
		return map[string]any{"p": f.program, "r": residentGID(rid), "why": why}
	}
	if r := f.e.MustDo(t, f.admin, unenrollDoc, vars("  ")); r.Str("unenrollResident.userErrors.0.code") != "INVALID" {
		t.Fatalf("no reason: %s", r.Raw)
	}
	if r := f.e.Do(t, f.e.As(t, "caseworker2"), unenrollDoc, vars("迁出")); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("case worker elsewhere: %s", r.Raw)
	}
	r := f.e.MustDo(t, f.admin, unenrollDoc, vars("本人申请退出"))
	if r.Str("unenrollResident.program.id") != f.program || r.Str("unenrollResident.resident.id") != residentGID(rid) {
		t.Fatalf("unenroll: %s", r.Raw)
	}
	var reason string
	testenv.MustScan(t, f.e.DB, `SELECT detail->>'reason' FROM audit_log WHERE action = 'unenrollResident' AND entity_id = ? AND detail->>'residentId' = ?`,
		testenv.Args(f.progID, rid.String()), &reason)
	if reason != "本人申请退出" {
		t.Fatalf("audited reason %q", reason)
	}
	if b := f.balance(t, rid); b != 30000 {
		t.Fatalf("the voucher held is gone: balance %d", b)
	}
	next := civil.MonthOf(civil.DateOf(f.e.Clock.Now())).AddMonths(1).String()
	if n, _, _, code := f.issue(t, next); n != 0 || code != "" {
		t.Fatalf("issued to an unenrolled resident: %d %s", n, code)
	}
	if r := f.e.MustDo(t, f.admin, unenrollDoc, vars("再次")); r.Str("unenrollResident.userErrors.0.code") != "NOT_FOUND" {
		t.Fatalf("unenroll twice: %s", r.Raw)
	}
}

// TestIssuanceRunUpdatedSubscription: an admin's screen follows a run over
// the websocket, from its state at subscription to its end, and the
// subscription completes.
func TestIssuanceRunUpdatedSubscription(t *testing.T) {
	f := newFixture(t, programSpec{}, chunks(1))
	for range 3 {
		f.resident(t, testenv.ResidentSpec{})
	}
	release := make(chan struct{})
	f.e.App.Runs.SetAfterStep(func(*run.Run) error {
		select {
		case <-release:
		case <-time.After(20 * time.Second):
		}
		return nil
	})
	r := f.issueRun(t, f.e, "2024-05", true)
	id := r.Str("issueVouchers.run.id")
	if r.Str("issueVouchers.run.status") != "RUNNING" {
		t.Fatalf("run: %s", r.Raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.e.Server.URL, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	send := func(v any) {
		b, _ := json.Marshal(v)
		if err := c.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	type msg struct {
		Type    string `json:"type"`
		Payload struct {
			Data struct {
				IssuanceRunUpdated struct {
					Status        string
					ResidentsDone int
					IssuedCount   int
				}
			}
		} `json:"payload"`
	}
	read := func() msg {
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("ws read: %v", err)
			}
			var m msg
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if m.Type == "ping" {
				_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`))
				continue
			}
			return m
		}
	}
	send(map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer " + f.admin}})
	if m := read(); m.Type != "connection_ack" {
		t.Fatalf("init: %+v", m)
	}
	send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": `subscription($id:ID!){issuanceRunUpdated(id:$id){status residentsDone issuedCount}}`, "variables": map[string]any{"id": id}}})
	first := read()
	if first.Type != "next" || first.Payload.Data.IssuanceRunUpdated.Status != "RUNNING" {
		t.Fatalf("first event: %+v", first)
	}
	close(release)
	var last msg
	for events := 1; ; events++ {
		m := read()
		if m.Type == "complete" {
			if events < 2 || last.Payload.Data.IssuanceRunUpdated.Status != "SUCCEEDED" || last.Payload.Data.IssuanceRunUpdated.IssuedCount != 3 {
				t.Fatalf("completed after %d events, last %+v", events, last)
			}
			return
		}
		if m.Type != "next" {
			t.Fatalf("event %+v", m)
		}
		last = m
	}
}
