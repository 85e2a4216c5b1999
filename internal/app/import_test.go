package app_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/idnumber"
	"github.com/jinjiang/residents/internal/resident"
	"github.com/jinjiang/residents/internal/run"
	"github.com/jinjiang/residents/internal/sheet"
	"github.com/jinjiang/residents/internal/testenv"
)

// upload posts a file to /imports/residents and answers the status and
// the decoded JSON body.
func upload(t *testing.T, e *testenv.Env, tok, name string, data []byte, dry bool) (int, map[string]any) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	if dry {
		mw.WriteField("dryRun", "true")
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/imports/residents", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("upload answered %d, not JSON: %.300s", resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// csvOf renders rows (the header first) as CSV.
func csvOf(rows [][]string) []byte {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(strings.Join(r, ",") + "\n")
	}
	return []byte(b.String())
}

func xlsxOf(t *testing.T, rows [][]string) []byte {
	t.Helper()
	w, err := sheet.NewWriter("居民", rows[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows[1:] {
		if err := w.Row(r); err != nil {
			t.Fatal(err)
		}
	}
	data, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var importHeader = []string{"姓名", "身份证号", "性别", "出生日期", "联系电话", "住址", "社区", "网格", "状态", "能力等级"}

// newIDNumber is a valid 18-digit number nobody in the test database has
// (a birth date in the 1930s drawn at random).
func newIDNumber(gender idnumber.Gender) string {
	b := time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rand.IntN(3650))
	return idnumber.Generate("510104", b, rand.IntN(1000), gender)
}

// legacyOf is the 15-digit form of an 18-digit number born in the 1900s.
func legacyOf(n string) string { return n[:6] + n[8:17] }

func problemsOf(body map[string]any) []map[string]any {
	var out []map[string]any
	ps, _ := body["problems"].([]any)
	for _, p := range ps {
		out = append(out, p.(map[string]any))
	}
	return out
}

func hasProblem(ps []map[string]any, row int, column, code, severity string) bool {
	for _, p := range ps {
		if int(p["row"].(float64)) == row && p["column"] == column && p["code"] == code && p["severity"] == severity &&
			p["cell"] != "" && hasHan(p["message"].(string)) {
			return true
		}
	}
	return false
}

func count(body map[string]any, key string) int {
	imp, _ := body["import"].(map[string]any)
	x, _ := imp[key].(float64)
	return int(x)
}

const importNodeDoc = `query($id:ID!){node(id:$id){... on ResidentImport{id dryRun status rowsTotal rowsDone inserted updated unchanged failed notices error
	problems(first:100){edges{node{row column cell code severity message}} pageInfo{hasNextPage endCursor}}}}}`

// awaitImport polls the import's node until its run has ended.
func awaitImport(t *testing.T, e *testenv.Env, tok, id string) *testenv.Response {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := e.MustDo(t, tok, importNodeDoc, map[string]any{"id": id})
		if s := r.Str("node.status"); s != "RUNNING" {
			if s == "" {
				t.Fatalf("import %s not visible: %s", id, r.Raw)
			}
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("import %s still RUNNING: %s", id, r.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func residentsWith(t *testing.T, e *testenv.Env, idNumbers ...string) int {
	t.Helper()
	var bidx [][]byte
	for _, n := range idNumbers {
		bidx = append(bidx, e.App.Keyring.BlindIndex(resident.PurposeIDNumber, n))
	}
	var c int
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM residents WHERE id_number_bidx IN ?", testenv.Args(bidx), &c)
	return c
}

// TestImportDryRun: a dry run answers every row's problems by row, column
// and cell with a code and a Chinese message, counts what a commit would
// do, changes no resident, and its report stays readable (paged) through
// GraphQL.
func TestImportDryRun(t *testing.T) {
	e := testenv.New(t)
	clerk := e.As(t, "clerk")
	good, legacy, dup := newIDNumber(idnumber.Female), newIDNumber(idnumber.Male), newIDNumber(idnumber.Male)
	badCheck := good[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", good[17])+1)%11])
	female := newIDNumber(idnumber.Female)
	rows := [][]string{importHeader,
		{"张秀英", good, "女", good[6:10] + "-" + good[10:12] + "-" + good[12:14], "13800138000", "和平街1号", "和平街社区", "第1网格", "独居、低保", "轻度失能"},
		{"李四", badCheck, "", "", "", "", "和平街社区", "", "", ""},
		{"王五", legacyOf(legacy), "男", "", "", "", "510104020001", "", "", ""},
		{"赵六", female, "男", "1901-01-01", "", "", "和平街社区", "", "", ""},
		{"钱七", newIDNumber(idnumber.Male), "", "", "", "", "火星社区", "", "", ""},
		{"孙八", newIDNumber(idnumber.Male), "", "", "", "", "和平街社区", "第9网格", "", ""},
		{"周九", dup, "", "", "", "", "和平街社区", "", "", ""},
		{"吴十", dup, "", "", "", "", "新街社区", "", "", ""},
		{"郑一", newIDNumber(idnumber.Female), "", "", "12345", "", "和平街社区", "", "低收入", "很好"},
		{"", newIDNumber(idnumber.Female), "", "", "", "", "和平街社区", "", "", ""},
	}
	status, body := upload(t, e, clerk, "名单.csv", csvOf(rows), true)
	if status != http.StatusOK || body["import"].(map[string]any)["status"] != "DRY_RUN" {
		t.Fatalf("dry run: %d %v", status, body)
	}
	if count(body, "rowsTotal") != 10 || count(body, "inserted") != 2 || count(body, "failed") != 8 || count(body, "updated") != 0 {
		t.Fatalf("dry run counts: %v", body["import"])
	}
	ps := problemsOf(body)
	for _, want := range []struct {
		row                    int
		column, code, severity string
	}{
		{3, "身份证号", "INVALID_ID_NUMBER", "ERROR"},
		{4, "身份证号", "ID_NUMBER_UPGRADED", "NOTICE"},
		{5, "性别", "GENDER_MISMATCH", "ERROR"},
		{5, "出生日期", "BIRTH_DATE_MISMATCH", "ERROR"},
		{6, "社区", "UNKNOWN_COMMUNITY", "ERROR"},
		{7, "网格", "UNKNOWN_GRID", "ERROR"},
		{8, "身份证号", "DUPLICATE_IN_FILE", "ERROR"},
		{9, "身份证号", "DUPLICATE_IN_FILE", "ERROR"},
		{10, "联系电话", "INVALID_PHONE", "ERROR"},
		{10, "状态", "INVALID_STATUS", "ERROR"},
		{10, "能力等级", "INVALID_CARE_LEVEL", "ERROR"},
		{11, "姓名", "MISSING_VALUE", "ERROR"},
	} {
		if !hasProblem(ps, want.row, want.column, want.code, want.severity) {
			t.Errorf("no %s %s at row %d column %s in %v", want.severity, want.code, want.row, want.column, ps)
		}
	}
	for _, p := range ps {
		if p["row"].(float64) == 2 {
			t.Errorf("the good row has a problem: %v", p)
		}
	}
	if p := ps[0]; p["cell"] != "B3" || p["message"] != "身份证号码无效：校验码不符" {
		t.Errorf("first problem: %v", p)
	}
	if n := residentsWith(t, e, good, legacy); n != 0 {
		t.Fatalf("a dry run registered %d residents", n)
	}
	// The report through GraphQL, two problems a page.
	id := body["import"].(map[string]any)["id"].(string)
	page1 := e.MustDo(t, clerk, `query($id:ID!){node(id:$id){... on ResidentImport{dryRun status failed
		problems(first:2,severity:ERROR){edges{node{row cell code severity message}} pageInfo{hasNextPage endCursor}}}}}`, map[string]any{"id": id})
	if page1.Str("node.status") != "DRY_RUN" || page1.Str("node.problems.edges.0.node.code") != "INVALID_ID_NUMBER" ||
		page1.Get("node.problems.pageInfo.hasNextPage") != true {
		t.Fatalf("node: %s", page1.Raw)
	}
	page2 := e.MustDo(t, clerk, `query($id:ID!,$a:String){node(id:$id){... on ResidentImport{problems(first:2,after:$a,severity:ERROR){edges{node{row code}}}}}}`,
		map[string]any{"id": id, "a": page1.Str("node.problems.pageInfo.endCursor")})
	if page2.Str("node.problems.edges.0.node.code") != "BIRTH_DATE_MISMATCH" && page2.Str("node.problems.edges.0.node.code") != "GENDER_MISMATCH" {
		t.Fatalf("page 2: %s", page2.Raw)
	}
	list := e.MustDo(t, e.Admin(t), `{residentImports(first:5){edges{node{id dryRun}}}}`, nil)
	if list.Str("residentImports.edges.0.node.id") != id {
		t.Fatalf("residentImports: %s", list.Raw)
	}
	// A header without 身份证号 refuses the whole file.
	status, body = upload(t, e, clerk, "bad.csv", csvOf([][]string{{"姓名", "社区"}, {"张三", "和平街社区"}}), true)
	if status != http.StatusBadRequest || errorCodeOf(body) != "BAD_HEADER" {
		t.Fatalf("bad header: %d %v", status, body)
	}
}

func errorCodeOf(body map[string]any) string {
	errs, _ := body["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	ext, _ := errs[0].(map[string]any)["extensions"].(map[string]any)
	s, _ := ext["code"].(string)
	return s
}

// TestImportCommit: a committed XLSX registers new residents with their
// initial facts (a 15-digit number stored as 18, found by name through the
// search terms), updates a registered resident's phone but not their
// statuses (FACT_CHANGE_NEEDS_REVIEW), and importing the same file again
// changes nothing.
func TestImportCommit(t *testing.T) {
	e := testenv.New(t)
	cw := e.As(t, "caseworker")
	known := e.InsertResident(t, testenv.ResidentSpec{Name: "老登记", Phone: "13900000001", Statuses: []string{"LOW_INCOME"}, CareLevel: "MILD"})
	a, legacy := newIDNumber(idnumber.Female), newIDNumber(idnumber.Male)
	rows := [][]string{importHeader,
		{"欧阳秀兰", a, "女", "", "13800138001", "和平街2号", "和平街社区", "第2网格", "独居", "中度失能"},
		{"上官建国", legacyOf(legacy), "", "", "", "", "和平街社区", "", "", ""},
		{"老登记", known.IDNumber, "", "", "13900000002", "", "和平街社区", "", "特困", "轻度失能"},
	}
	file := xlsxOf(t, rows)
	status, body := upload(t, e, cw, "residents.xlsx", file, false)
	if status != http.StatusAccepted {
		t.Fatalf("commit: %d %v", status, body)
	}
	id := body["import"].(map[string]any)["id"].(string)
	done := awaitImport(t, e, cw, id)
	if done.Str("node.status") != "SUCCEEDED" || num(done, "node.inserted") != 2 || num(done, "node.updated") != 1 ||
		num(done, "node.failed") != 0 || num(done, "node.rowsDone") != 3 || num(done, "node.notices") != 2 {
		t.Fatalf("committed: %s", done.Raw)
	}
	if !strings.Contains(string(done.Raw), `"row":3,"column":"身份证号","cell":"B3","code":"ID_NUMBER_UPGRADED"`) ||
		!strings.Contains(string(done.Raw), `"row":4,"column":"状态","cell":"I4","code":"FACT_CHANGE_NEEDS_REVIEW"`) {
		t.Fatalf("notices: %s", done.Raw)
	}
	// The new residents, as registerResident would have them.
	var statuses, care, path string
	var terms int
	testenv.MustScan(t, e.DB, `SELECT array_to_string(statuses, ','), care_level, org_path,
		(SELECT count(*) FROM resident_name_terms t WHERE t.resident_id = r.id) FROM residents r WHERE id_number_bidx = ?`,
		testenv.Args(e.App.Keyring.BlindIndex(resident.PurposeIDNumber, a)), &statuses, &care, &path, &terms)
	if statuses != "LIVING_ALONE" || care != "MODERATE" || !strings.HasSuffix(path, "/51010402000102/") || terms == 0 {
		t.Fatalf("new resident: %s %s %s %d terms", statuses, care, path, terms)
	}
	admin := e.Admin(t)
	found := e.MustDo(t, admin, `query($n:String!){residentByIdNumber(idNumber:$n){name idNumber gender}}`, map[string]any{"n": legacy})
	if found.Str("residentByIdNumber.name") != "上官建国" || found.Str("residentByIdNumber.idNumber") != legacy {
		t.Fatalf("the 15-digit row: %s", found.Raw)
	}
	search := e.MustDo(t, cw, `{residents(filter:{q:"oyxl"},first:5){edges{node{name}}}}`, nil)
	if !strings.Contains(string(search.Raw), "欧阳秀兰") {
		t.Fatalf("the imported name is not found by its initials: %s", search.Raw)
	}
	// The registered resident: the phone changed, the benefit facts did not.
	var phoneMasked string
	var version int
	testenv.MustScan(t, e.DB, "SELECT array_to_string(statuses, ','), care_level, phone_masked, version FROM residents WHERE id = ?",
		testenv.Args(known.ID), &statuses, &care, &phoneMasked, &version)
	if statuses != "LOW_INCOME" || care != "MILD" || !strings.HasSuffix(phoneMasked, "0002") || version != 2 {
		t.Fatalf("registered resident: %s %s %s v%d", statuses, care, phoneMasked, version)
	}
	// The same file again: a no-op.
	snapshot := func() string {
		var s string
		testenv.MustScan(t, e.DB, `SELECT string_agg(id::text || version || updated_at::text, ';' ORDER BY id) FROM residents WHERE id_number_bidx IN ?`,
			testenv.Args([][]byte{e.App.Keyring.BlindIndex(resident.PurposeIDNumber, a), e.App.Keyring.BlindIndex(resident.PurposeIDNumber, legacy),
				e.App.Keyring.BlindIndex(resident.PurposeIDNumber, known.IDNumber)}), &s)
		return s
	}
	before := snapshot()
	status, body = upload(t, e, cw, "residents.xlsx", file, false)
	id2 := body["import"].(map[string]any)["id"].(string)
	again := awaitImport(t, e, cw, id2)
	if status != http.StatusAccepted || again.Str("node.status") != "SUCCEEDED" || num(again, "node.inserted") != 0 ||
		num(again, "node.updated") != 0 || num(again, "node.unchanged") != 3 {
		t.Fatalf("second commit: %d %s", status, again.Raw)
	}
	if after := snapshot(); after != before || residentsWith(t, e, a, legacy, known.IDNumber) != 3 {
		t.Fatalf("the second commit changed residents:\n%s\n%s", before, after)
	}
	// Audited: the uploads, each inserted or updated resident, the runs' ends.
	var uploads, perResident int
	ids := []string{relayUUID(t, id), relayUUID(t, id2)}
	testenv.MustScan(t, e.DB, `SELECT count(*) FILTER (WHERE entity = 'ResidentImport' AND entity_id::text IN ?),
		count(*) FILTER (WHERE entity = 'Resident' AND detail->>'import' IN ?)
		FROM audit_log WHERE action = 'residentImports'`, testenv.Args(ids, ids), &uploads, &perResident)
	if uploads != 4 || perResident != 3 {
		t.Fatalf("audit: %d import entries, %d resident entries", uploads, perResident)
	}
	// Nothing staged is left behind.
	var staged int
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM resident_import_rows", nil, &staged)
	if staged != 0 {
		t.Fatalf("%d staged rows left", staged)
	}
}

// TestImportJurisdiction: a case worker of 牛市口街道 cannot import a row
// into 春熙路街道, nor update a resident registered there; the other rows
// of the file are applied.
func TestImportJurisdiction(t *testing.T) {
	e := testenv.New(t)
	cw2 := e.As(t, "caseworker2")
	elsewhere := e.InsertResident(t, testenv.ResidentSpec{Name: "外街居民"}) // 和平街社区, 春熙路街道
	mine := newIDNumber(idnumber.Female)
	rows := [][]string{importHeader,
		{"越界", newIDNumber(idnumber.Male), "", "", "", "", "和平街社区", "", "", ""},
		{"外街居民", elsewhere.IDNumber, "", "", "", "新地址", "静居寺社区", "", "", ""},
		{"本街", mine, "", "", "", "", "静居寺社区", "", "", ""},
	}
	status, body := upload(t, e, cw2, "x.csv", csvOf(rows), true)
	ps := problemsOf(body)
	if status != http.StatusOK || !hasProblem(ps, 2, "社区", "OUT_OF_JURISDICTION", "ERROR") || !hasProblem(ps, 3, "身份证号", "OUT_OF_JURISDICTION", "ERROR") ||
		count(body, "inserted") != 1 || count(body, "failed") != 2 {
		t.Fatalf("dry run: %d %v", status, body)
	}
	status, body = upload(t, e, cw2, "x.csv", csvOf(rows), false)
	done := awaitImport(t, e, cw2, body["import"].(map[string]any)["id"].(string))
	if status != http.StatusAccepted || num(done, "node.inserted") != 1 || num(done, "node.failed") != 2 {
		t.Fatalf("commit: %d %s", status, done.Raw)
	}
	var addr *string
	testenv.MustScan(t, e.DB, "SELECT address FROM residents WHERE id = ?", testenv.Args(elsewhere.ID), &addr)
	if addr != nil {
		t.Fatalf("a resident outside the jurisdiction was updated: %v", *addr)
	}
	// The clerk of 春熙路街道 does not see the case worker's import.
	if r := e.Do(t, e.As(t, "clerk"), importNodeDoc, map[string]any{"id": body["import"].(map[string]any)["id"]}); r.Get("node") != nil {
		t.Fatalf("another street's import is visible: %s", r.Raw)
	}
}

// TestImportResumesWithoutDoubleInsert: the instance applying an import
// dies after its first chunk (lease held, nothing released); once the
// lease lapses another instance takes the run over and finishes it, and
// every row's resident exists exactly once.
func TestImportResumesWithoutDoubleInsert(t *testing.T) {
	small := testenv.WithConfig(func(c *config.Config) { c.RunChunkSize = 2 })
	e := testenv.New(t, small)
	var steps atomic.Int32
	e.App.Runs.SetAfterStep(func(r *run.Run) error {
		if r.Kind == run.ImportResidents && steps.Add(1) == 2 { // the plan and one chunk committed
			return errors.New("killed")
		}
		return nil
	})
	rows := [][]string{importHeader}
	var numbers []string
	for i := range 7 {
		n := newIDNumber(idnumber.Male)
		numbers = append(numbers, n)
		rows = append(rows, []string{fmt.Sprintf("续跑%d", i), n, "", "", "", "", "和平街社区", "", "", ""})
	}
	admin := e.Admin(t)
	status, body := upload(t, e, admin, "many.csv", csvOf(rows), false)
	id := body["import"].(map[string]any)["id"].(string)
	if status != http.StatusAccepted || body["import"].(map[string]any)["status"] != "RUNNING" || count(body, "rowsDone") != 2 {
		t.Fatalf("the run should be stuck after one chunk: %d %v", status, body)
	}
	if n := residentsWith(t, e, numbers...); n != 2 {
		t.Fatalf("%d residents after the first chunk", n)
	}
	b := testenv.New(t, small)
	e.DB.Exec("UPDATE runs SET lease_until = now() - interval '1 second' WHERE kind = 'IMPORT_RESIDENTS' AND status = 'RUNNING'")
	b.App.Runs.Kick()
	done := awaitImport(t, b, b.Admin(t), id)
	if done.Str("node.status") != "SUCCEEDED" || num(done, "node.inserted") != 7 || num(done, "node.rowsDone") != 7 {
		t.Fatalf("resumed: %s", done.Raw)
	}
	if n := residentsWith(t, e, numbers...); n != 7 {
		t.Fatalf("%d residents, want 7", n)
	}
	// The dead instance coming back drives nothing more.
	e.App.Runs.SetAfterStep(nil)
	e.App.Runs.Drive(t.Context(), uuid.MustParse(relayUUID(t, id)))
	if n := residentsWith(t, e, numbers...); n != 7 {
		t.Fatalf("%d residents after the dead worker came back", n)
	}
}

// TestImportRefusals: no token 401, staff without the grant and machine
// clients 403, a body over the cap 413 FILE_TOO_LARGE, no file 400, an
// unreadable file 400; the template downloads with the import's header.
func TestImportRefusals(t *testing.T) {
	e := testenv.New(t)
	file := csvOf([][]string{importHeader, {"张三", newIDNumber(idnumber.Male), "", "", "", "", "和平街社区", "", "", ""}})
	if status, body := upload(t, e, "", "a.csv", file, true); status != http.StatusUnauthorized || errorCodeOf(body) != "UNAUTHENTICATED" {
		t.Fatalf("no token: %d %v", status, body)
	}
	for _, who := range []string{"operator", "auditor", "telephony"} {
		if status, body := upload(t, e, e.As(t, who), "a.csv", file, true); status != http.StatusForbidden || errorCodeOf(body) != "FORBIDDEN" {
			t.Fatalf("%s: %d %v", who, status, body)
		}
	}
	clerk := e.As(t, "clerk")
	big := bytes.Repeat([]byte("x"), 33<<20)
	if status, body := upload(t, e, clerk, "big.csv", big, true); status != http.StatusRequestEntityTooLarge || errorCodeOf(body) != "FILE_TOO_LARGE" {
		t.Fatalf("too large: %d %v", status, body)
	}
	req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/imports/residents", strings.NewReader("dryRun=true"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+clerk)
	if r := e.Send(t, req); r.ErrorCode() != "BAD_USER_INPUT" {
		t.Fatalf("no file: %s", r.Raw)
	}
	if status, body := upload(t, e, clerk, "a.xlsx", []byte("PK\x03\x04not a zip"), true); status != http.StatusBadRequest || errorCodeOf(body) != "UNREADABLE_FILE" {
		t.Fatalf("unreadable: %d %v", status, body)
	}
	resp, err := http.Get(e.Server.URL + "/imports/residents/template.xlsx")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tab, err := sheet.Read(data, sheet.Limits{})
	if resp.StatusCode != 200 || err != nil || strings.Join(tab.Header, ",") != strings.Join(resident.ImportColumns, ",") {
		t.Fatalf("template: %d %v %v", resp.StatusCode, err, tab)
	}
	// The template's own example row passes a dry run.
	if status, body := upload(t, e, clerk, "template.xlsx", data, true); status != 200 || count(body, "failed") != 0 || count(body, "inserted") != 1 {
		t.Fatalf("template dry run: %d %v", status, body)
	}
}

func num(r *testenv.Response, path string) int {
	x, _ := r.Get(path).(float64)
	return int(x)
}

// TestImportIntoRetiredUnit: a retired community takes no residents by
// import either: a file naming it (by name or code) is told the district
// has no such community, dry run and commit alike, and nothing lands in it.
func TestImportIntoRetiredUnit(t *testing.T) {
	e := testenv.New(t)
	admin := e.Admin(t)
	var taken string
	testenv.MustScan(t, e.DB, "SELECT coalesce(string_agg(code, ','), '') FROM org_units WHERE code LIKE '510104020___'", nil, &taken)
	code := ""
	for n := 650; n < 700 && code == ""; n++ {
		if c := "510104020" + strconv.Itoa(n); !strings.Contains(taken, c) {
			code = c
		}
	}
	r := e.MustDo(t, admin, `mutation($p:ID!,$c:String!){createOrgUnit(input:{parentId:$p,code:$c,name:"已撤销试点社区"}){orgUnit{id} userErrors{code}}}`,
		map[string]any{"p": unitID(t, e, "510104020"), "c": code})
	comm := r.Str("createOrgUnit.orgUnit.id")
	r = e.MustDo(t, admin, `mutation($id:ID!){retireOrgUnit(id:$id){orgUnit{retiredAt} userErrors{code}}}`, map[string]any{"id": comm})
	if comm == "" || r.Str("retireOrgUnit.orgUnit.retiredAt") == "" {
		t.Fatalf("retire: %s", r.Raw)
	}
	byName, byCode := newIDNumber(idnumber.Female), newIDNumber(idnumber.Male)
	rows := [][]string{importHeader,
		{"撤销甲", byName, "", "", "", "", "已撤销试点社区", "", "", ""},
		{"撤销乙", byCode, "", "", "", "", code, "", "", ""},
	}
	for _, dry := range []bool{true, false} {
		status, body := upload(t, e, admin, "撤销.csv", csvOf(rows), dry)
		if status != http.StatusOK && status != http.StatusAccepted {
			t.Fatalf("upload (dry %v): %d %v", dry, status, body)
		}
		if !dry {
			r := awaitImport(t, e, admin, body["import"].(map[string]any)["id"].(string))
			if r.Get("node.inserted") != float64(0) || r.Get("node.failed") != float64(2) {
				t.Fatalf("commit into a retired community: %s", r.Raw)
			}
			continue
		}
		ps := problemsOf(body)
		if !hasProblem(ps, 2, "社区", "UNKNOWN_COMMUNITY", "ERROR") || !hasProblem(ps, 3, "社区", "UNKNOWN_COMMUNITY", "ERROR") {
			t.Fatalf("dry run naming a retired community: %v", ps)
		}
	}
	if n := residentsWith(t, e, byName, byCode); n != 0 {
		t.Fatalf("%d residents imported into a retired community", n)
	}
}
