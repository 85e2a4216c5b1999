package app_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/jinjiang/residents/graph"
	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/idnumber"
	"github.com/jinjiang/residents/internal/resident"
	"github.com/jinjiang/residents/internal/testenv"
	"github.com/jinjiang/residents/internal/voucher"
)

// waitRun polls a run query until it is no longer RUNNING.
func waitRun(t *testing.T, e *testenv.Env, tok, doc, field, id string) *testenv.Response {
	t.Helper()
	for i := 0; i < 200; i++ {
		r := e.MustDo(t, tok, doc, map[string]any{"id": id})
		if s := r.Str(field + ".status"); s != "RUNNING" && s != "" {
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not finish", field)
	return nil
}

// TestDuplicates: the report finds same name, birth date and gender under
// other ID numbers, and one phone on several elders (not on younger
// residents, nor on more than SharedPhoneMax: a care home's); staff of
// the street list, dismiss (it stays dismissed) and merge (money and history move, the books balance; a voucher of one
// program and month on both records blocks the merge); other streets
// neither see nor merge them.
func TestDuplicates(t *testing.T) {
	e := testenv.New(t, testenv.OwnDatabase(t))
	admin, cw, cw2 := e.Admin(t), e.As(t, "caseworker"), e.As(t, "caseworker2")
	born := time.Date(1941, 4, 4, 0, 0, 0, 0, time.UTC)
	person := func(name string, seq int, g idnumber.Gender, phone string, birth time.Time) testenv.Resident {
		return e.InsertResident(t, testenv.ResidentSpec{Name: name, IDNumber: idnumber.Generate("510104", birth, seq, g), Phone: phone, BirthDate: birth})
	}
	a := person("重复甲", 11, idnumber.Male, "", born)
	b := person("重复甲", 13, idnumber.Male, "", born)
	f := person("重复甲", 12, idnumber.Female, "", born) // another gender: no pair
	a2 := person("重复乙", 21, idnumber.Female, "", born)
	b2 := person("重复乙", 22, idnumber.Female, "", born)
	c := person("同号丙", 31, idnumber.Male, "13911112222", born)
	d := person("同号丁", 32, idnumber.Female, "13911112222", born)
	y := person("同号戊", 33, idnumber.Male, "13911112222", time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)) // not an elder
	// A care home's phone on five elders pairs none of them (SharedPhoneMax).
	var home []testenv.Resident
	for i := range resident.SharedPhoneMax + 2 {
		home = append(home, person("院民"+string(rune('甲'+i)), 871+2*i, idnumber.Female, "13700005555", born))
	}
	g1 := person("重复丁", 41, idnumber.Male, "", born) // each heads a household: not merged
	g2 := person("重复丁", 43, idnumber.Male, "", born)
	gid := func(r testenv.Resident) string { return relay.ID(graph.TypeResident, r.ID) }
	// The package's database holds other tests' residents too: only pairs of these count.
	mine := map[string]bool{}
	for _, x := range append([]testenv.Resident{a, b, f, a2, b2, c, d, y, g1, g2}, home...) {
		mine[gid(x)] = true
	}

	report := func() {
		t.Helper()
		r := e.MustDo(t, admin, `mutation{findDuplicates{report{id status} userErrors{code}}}`, nil)
		id := r.Str("findDuplicates.report.id")
		if id == "" {
			t.Fatalf("findDuplicates: %s", r.Raw)
		}
		done := waitRun(t, e, admin, `query($id:ID!){duplicateReport(id:$id){status residentsTotal residentsDone pairsFound error}}`, "duplicateReport", id)
		if done.Str("duplicateReport.status") != "SUCCEEDED" {
			t.Fatalf("report: %s", done.Raw)
		}
	}
	if r := e.Do(t, cw, `mutation{findDuplicates{report{id} userErrors{code}}}`, nil); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("case worker started a report: %s", r.Raw)
	}
	report()

	type pair struct{ id, reason string }
	list := func(tok, status string) map[[2]string]pair {
		t.Helper()
		out := map[[2]string]pair{}
		for after, more := any(nil), true; more; {
			r := e.MustDo(t, tok, `query($s:DuplicateStatus,$a:String){duplicateCandidates(status:$s,first:100,after:$a){edges{node{id reason status residentA{id} residentB{id}}} pageInfo{hasNextPage endCursor}}}`,
				map[string]any{"s": status, "a": after})
			for i := range r.Get("duplicateCandidates.edges").([]any) {
				p := "duplicateCandidates.edges." + strconv.Itoa(i) + ".node."
				x, y := r.Str(p+"residentA.id"), r.Str(p+"residentB.id")
				if mine[x] || mine[y] {
					out[[2]string{x, y}] = pair{r.Str(p + "id"), r.Str(p + "reason")}
				}
			}
			more, after = r.Get("duplicateCandidates.pageInfo.hasNextPage") == true, r.Str("duplicateCandidates.pageInfo.endCursor")
		}
		return out
	}
	key := func(x, y testenv.Resident) [2]string {
		if x.ID.String() > y.ID.String() {
			x, y = y, x
		}
		return [2]string{gid(x), gid(y)}
	}
	open := list(cw, "OPEN")
	if len(open) != 4 || open[key(g1, g2)].reason != "SAME_NAME_BIRTH_GENDER" || open[key(a, b)].reason != "SAME_NAME_BIRTH_GENDER" || open[key(a2, b2)].reason != "SAME_NAME_BIRTH_GENDER" ||
		open[key(c, d)].reason != "SHARED_PHONE" {
		t.Fatalf("open pairs: %v", open)
	}
	if other := list(cw2, "OPEN"); len(other) != 0 {
		t.Fatalf("another street's case worker sees %v", other)
	}

	// Dismissed: stays dismissed on the next report.
	r := e.MustDo(t, cw, `mutation($c:ID!){dismissDuplicate(input:{candidateId:$c,reason:"夫妻共用一个手机号"}){candidate{status decisionNote} userErrors{code}}}`,
		map[string]any{"c": open[key(c, d)].id})
	if r.Str("dismissDuplicate.candidate.status") != "DISMISSED" {
		t.Fatalf("dismiss: %s", r.Raw)
	}

	// Money: all four enrolled in the district's program and issued this month.
	progs := e.MustDo(t, admin, `{voucherPrograms{id code}}`, nil)
	var program string
	for i := range progs.Get("voucherPrograms").([]any) {
		if progs.Str("voucherPrograms."+itoa(i)+".code") == "JJ-YLFWQ" {
			program = progs.Str("voucherPrograms." + itoa(i) + ".id")
		}
	}
	for _, x := range []testenv.Resident{a, b, b2} {
		e.MustDo(t, admin, `mutation($p:ID!,$r:ID!){enrollResident(programId:$p,residentId:$r){userErrors{code}}}`, map[string]any{"p": program, "r": gid(x)})
	}
	month := civil.MonthOf(civil.DateOf(time.Now())).String()
	if r := e.MustDo(t, admin, `mutation($p:ID!,$m:String!){issueVouchers(input:{programId:$p,period:$m}){issuedCount userErrors{code}}}`,
		map[string]any{"p": program, "m": month}); r.Get("issueVouchers.issuedCount").(float64) < 3 {
		t.Fatalf("issue: %s", r.Raw)
	}
	balance := func(x testenv.Resident) float64 {
		return e.MustDo(t, admin, `query($id:ID!){resident(id:$id){voucherBalanceFen}}`, map[string]any{"id": gid(x)}).Get("resident.voucherBalanceFen").(float64)
	}
	before := balance(a2) + balance(b2)

	merge := `mutation($c:ID!,$s:ID!){mergeResidents(input:{candidateId:$c,survivorId:$s}){candidate{status} survivor{id} moved{table count} userErrors{code message}}}`
	// Another street may not merge; a voucher of one program and month on both blocks it.
	if r := e.MustDo(t, cw2, merge, map[string]any{"c": open[key(a, b)].id, "s": gid(a)}); r.Str("mergeResidents.userErrors.0.code") != "OUT_OF_JURISDICTION" {
		t.Fatalf("merge from another street: %s", r.Raw)
	}
	if r := e.MustDo(t, cw, merge, map[string]any{"c": open[key(a, b)].id, "s": gid(a)}); r.Str("mergeResidents.userErrors.0.code") != "CONFLICT" {
		t.Fatalf("merge of two vouchers of one month: %s", r.Raw)
	}
	// One household a resident: two records each in a household are not merged.
	household := func(head testenv.Resident) string {
		t.Helper()
		r := e.MustDo(t, cw, `mutation($h:ID!){createHousehold(input:{address:"锦江区合并测试路1号",headId:$h}){household{id} userErrors{code message}}}`,
			map[string]any{"h": gid(head)})
		if r.Str("createHousehold.household.id") == "" {
			t.Fatalf("createHousehold: %s", r.Raw)
		}
		return r.Str("createHousehold.household.id")
	}
	household(g1)
	household(g2)
	if r := e.MustDo(t, cw, merge, map[string]any{"c": open[key(g1, g2)].id, "s": gid(g1)}); r.Str("mergeResidents.userErrors.0.code") != "CONFLICT" ||
		!strings.Contains(r.Str("mergeResidents.userErrors.0.message"), "户") {
		t.Fatalf("merge of two records each in a household: %s", r.Raw)
	}
	// The duplicate heads a household: the survivor heads it after the merge.
	hh := household(b2)
	// The duplicate's voucher moves to the survivor: balances and books unchanged.
	r = e.MustDo(t, cw, merge, map[string]any{"c": open[key(a2, b2)].id, "s": gid(a2)})
	moved := map[string]int{}
	for i := range r.Get("mergeResidents.moved").([]any) {
		moved[r.Str("mergeResidents.moved."+itoa(i)+".table")] = int(r.Get("mergeResidents.moved." + itoa(i) + ".count").(float64))
	}
	if r.Str("mergeResidents.candidate.status") != "MERGED" || moved["vouchers"] != 1 || moved["voucher_enrollments"] != 1 ||
		moved["households"] != 1 || moved["household_members"] != 1 {
		t.Fatalf("merge: %s", r.Raw)
	}
	if r := e.MustDo(t, cw, `query($id:ID!){node(id:$id){... on Household{head{id} members{resident{id}}}}}`, map[string]any{"id": hh}); r.Str("node.head.id") != gid(a2) ||
		r.Str("node.members.0.resident.id") != gid(a2) {
		t.Fatalf("the household after the merge: %s", r.Raw)
	}
	if got := balance(a2); got != before || got == 0 {
		t.Fatalf("survivor balance %v, the two held %v", got, before)
	}
	if r := e.MustDo(t, admin, `query($id:ID!){resident(id:$id){mergedInto{id}}}`, map[string]any{"id": gid(b2)}); r.Str("resident.mergedInto.id") != gid(a2) {
		t.Fatalf("mergedInto: %s", r.Raw)
	}
	if _, bad, err := voucher.CheckBooks(context.Background(), e.DB); err != nil || len(bad) > 0 {
		t.Fatalf("books after the merge: %v %v", bad, err)
	}

	// The next report: the dismissed pair stays dismissed, the merged one is not raised again.
	report()
	open = list(cw, "OPEN")
	if _, ok := open[key(c, d)]; ok || len(open) != 2 {
		t.Fatalf("open after the second report: %v", open)
	}
	if _, ok := list(cw, "DISMISSED")[key(c, d)]; !ok {
		t.Fatal("the dismissed pair is gone")
	}
	if _, ok := list(admin, "MERGED")[key(a2, b2)]; !ok {
		t.Fatal("the merged pair is gone")
	}
	for _, act := range []string{"findDuplicates", "dismissDuplicate", "mergeResidents"} {
		if e.MustDo(t, admin, `query($a:String){auditLog(filter:{action:$a},first:1){edges{node{action}}}}`, map[string]any{"a": act}).Str("auditLog.edges.0.node.action") == "" {
			t.Errorf("no %s audit entry", act)
		}
	}
}

// TestExportResidents: a filtered list to XLSX, masked as the role sees it
// (a case worker reads birth dates, the auditor ages only), small lists at
// once and big ones through a run, downloadable by the requester only.
func TestExportResidents(t *testing.T) {
	e := testenv.New(t, testenv.OwnDatabase(t))
	cw, auditor := e.As(t, "caseworker"), e.As(t, "auditor")
	born := time.Date(1938, 6, 7, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := 0; i < 5; i++ {
		r := e.InsertResident(t, testenv.ResidentSpec{Name: "导出测试" + strconv.Itoa(i), Phone: "1380000" + strconv.Itoa(1000+i), BirthDate: born})
		ids = append(ids, r.IDNumber)
	}
	// One outside the case worker's street: not in their file.
	e.InsertResident(t, testenv.ResidentSpec{Name: "导出测试外", CommunityCode: "510104023001", BirthDate: born})

	download := func(tok, url string) (int, [][]string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.Server.URL+url, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			return res.StatusCode, nil
		}
		f, err := excelize.OpenReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := f.GetRows("Sheet1")
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, rows
	}
	export := func(tok string) (string, *testenv.Response) {
		t.Helper()
		r := e.MustDo(t, tok, `mutation{exportResidents(filter:{nameContains:"导出测试"}){export{id status rowCount url} userErrors{code}}}`, nil)
		id := r.Str("exportResidents.export.id")
		if id == "" {
			t.Fatalf("export: %s", r.Raw)
		}
		return id, r
	}

	// Small: ready in the answer.
	id, r := export(cw)
	if r.Str("exportResidents.export.status") != "READY" || r.Get("exportResidents.export.rowCount") != float64(5) {
		t.Fatalf("small export: %s", r.Raw)
	}
	code, rows := download(cw, r.Str("exportResidents.export.url"))
	if code != 200 || len(rows) != 6 || rows[0][0] != "姓名" {
		t.Fatalf("download %d: %v", code, rows)
	}
	for _, row := range rows[1:] {
		if row[1] == "" || row[4] != "1938-06-07" || row[5] == "" {
			t.Fatalf("case worker's row %v", row)
		}
		for _, n := range ids {
			if row[1] == n {
				t.Fatal("a full ID number in the file")
			}
		}
		if !strings.Contains(row[1], "*") || !strings.Contains(row[5], "*") {
			t.Fatalf("numbers not masked: %v", row)
		}
	}
	// Nobody else downloads it.
	if code, _ := download(auditor, r.Str("exportResidents.export.url")); code != http.StatusNotFound {
		t.Fatalf("another user's download: %d", code)
	}
	if got := e.MustDo(t, e.As(t, "clerk"), `query($id:ID!){residentExport(id:$id){id}}`, map[string]any{"id": id}); got.Str("residentExport.id") != "" {
		t.Fatal("another clerk reads the export")
	}
	// The auditor reads what was exported (the audit log names it), never the file.
	if got := e.MustDo(t, auditor, `query($id:ID!){residentExport(id:$id){id rowCount url}}`, map[string]any{"id": id}); got.Str("residentExport.id") != id ||
		got.Get("residentExport.url") != nil {
		t.Fatalf("the auditor's view of an export: %s", got.Raw)
	}

	// Big (a run): the auditor's file has all six, and no birth dates.
	e.App.Residents.SetDirectExportLimit(1)
	id, r = export(auditor)
	done := waitRun(t, e, auditor, `query($id:ID!){residentExport(id:$id){status rowCount rowsTotal url}}`, "residentExport", id)
	if done.Str("residentExport.status") != "READY" || done.Get("residentExport.rowCount") != float64(6) {
		t.Fatalf("export run: %s", done.Raw)
	}
	_, rows = download(auditor, done.Str("residentExport.url"))
	if len(rows) != 7 {
		t.Fatalf("auditor's file: %v", rows)
	}
	for _, row := range rows[1:] {
		if len(row) > 4 && row[4] != "" {
			t.Fatalf("auditor's file shows a birth date: %v", row)
		}
	}
	if e.MustDo(t, e.Admin(t), `query{auditLog(filter:{action:"exportResidents"},first:5){edges{node{entity}}}}`, nil).Str("auditLog.edges.0.node.entity") != "ResidentExport" {
		t.Fatal("export not audited")
	}
	// filter.q is the list's look-up, not an export filter.
	if r := e.Do(t, cw, `mutation{exportResidents(filter:{q:"13800001000"}){export{id}}}`, nil); r.ErrorCode() != "BAD_USER_INPUT" {
		t.Fatalf("export by q: %s", r.Raw)
	}
}

// TestMergeCoversEveryResidentReference: every foreign key to residents is
// one a merge knows what to do with (resident.MergeTables), so a table
// added later cannot keep pointing at a retired duplicate unnoticed.
func TestMergeCoversEveryResidentReference(t *testing.T) {
	e := testenv.New(t)
	var refs []string
	if err := e.DB.Raw(`SELECT c.conrelid::regclass::text || '.' || a.attname FROM pg_constraint c
		JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
		WHERE c.contype = 'f' AND c.confrelid = 'residents'::regclass`).Scan(&refs).Error; err != nil {
		t.Fatal(err)
	}
	if len(refs) < 20 {
		t.Fatalf("only %d references found", len(refs))
	}
	for _, ref := range refs {
		if _, ok := resident.MergeTables[ref]; !ok {
			t.Errorf("%s refers to residents; resident.MergeTables does not say what a merge does with it", ref)
		}
	}
}
