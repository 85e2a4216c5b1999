package resident_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/testenv"
)

const viewDoc = `query($id: ID!){ resident(id:$id){ name idNumber idNumberMasked gender age phoneMasked address statuses
  grid{ name } emergencyContacts{ name phoneMasked } } }`

// TestEveryRoleView reads one resident (in 春熙路街道) as every kind of viewer.
func TestEveryRoleView(t *testing.T) {
	fake := testenv.NewFakeWechat(t)
	e := testenv.New(t, testenv.OwnDatabase(t), testenv.WithWechat(fake))
	birth := time.Date(1946, 2, 3, 0, 0, 0, 0, time.UTC)
	res := e.InsertResident(t, testenv.ResidentSpec{Name: "周桂兰", BirthDate: birth, Phone: "13700001111",
		Statuses: []string{"LIVING_ALONE"}, CommunityCode: "510104020001"})
	other := e.InsertResident(t, testenv.ResidentSpec{Name: "吴明", Phone: "13700002222", CommunityCode: "510104023001"})
	gid := residentGID(res.ID)
	e.MustDo(t, e.As(t, "clerk"), updateDoc, map[string]any{"in": map[string]any{"id": gid, "address": "和平街1号",
		"emergencyContacts": []map[string]any{{"name": "周强", "relation": "子女", "phone": "13911112222"}}}})

	var providers []uuid.UUID
	rows, err := e.DB.Raw("SELECT provider_id FROM users WHERE username IN ('provider1', 'provider2') ORDER BY username").Rows()
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		providers = append(providers, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if len(providers) != 2 {
		t.Fatalf("%d seeded providers", len(providers))
	}
	served, notServed := providers[0], providers[1]
	e.App.Residents.SetServedChecker(fakeServed{{served, res.ID}: true})
	bind := func(name, idn, phone string) func(t *testing.T) string {
		return func(t *testing.T) string {
			tok := e.WechatLogin(t, "ok:"+name+":"+uuid.NewString())
			r := e.MustDo(t, tok, bindDoc, map[string]any{"in": map[string]any{"name": name, "idNumber": idn, "phone": phone}})
			if r.Str("bindResident.resident.name") != name {
				t.Fatalf("bind: %s", r.Raw)
			}
			return tok
		}
	}
	login := func(u string) func(t *testing.T) string { return func(t *testing.T) string { return e.As(t, u) } }
	full, masked := res.IDNumber, res.IDNumber[:6]+"************"
	cases := []struct {
		name    string
		token   func(t *testing.T) string
		errCode string // transport error, else:
		idNum   string // "" = null
		limited bool
	}{
		{"ADMIN", func(t *testing.T) string { return e.Admin(t) }, "", full, false},
		{"CLERK", login("clerk"), "", full, false},
		{"CASE_WORKER in jurisdiction", login("caseworker"), "", full, false},
		{"CASE_WORKER elsewhere", login("caseworker2"), "FORBIDDEN", "", false},
		{"OPERATOR", login("operator"), "", "", false},
		{"AUDITOR", login("auditor"), "", "", false},
		{"INTEGRATION", login("telephony"), "FORBIDDEN", "", false},
		{"PROVIDER that served them", func(t *testing.T) string { return providerToken(t, e, served) }, "", "", true},
		{"PROVIDER that did not", func(t *testing.T) string { return providerToken(t, e, notServed) }, "FORBIDDEN", "", false},
		{"RESIDENT themself", bind("周桂兰", res.IDNumber, "13700001111"), "", full, false},
		{"RESIDENT someone else", bind("吴明", other.IDNumber, "13700002222"), "FORBIDDEN", "", false},
		{"RESIDENT unbound", func(t *testing.T) string { return e.WechatLogin(t, "ok:unbound:"+uuid.NewString()) }, "FORBIDDEN", "", false},
		{"anonymous", func(t *testing.T) string { return "" }, "UNAUTHENTICATED", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := c.token(t)
			var before int
			testenv.MustScan(t, e.DB, "SELECT count(*) FROM audit_log WHERE action = 'idNumber' AND entity_id = ?", testenv.Args(res.ID), &before)
			r := e.Do(t, tok, viewDoc, map[string]any{"id": gid})
			if c.errCode != "" {
				if r.ErrorCode() != c.errCode || r.Get("resident") != nil {
					t.Fatalf("want %s: %s", c.errCode, r.Raw)
				}
				return
			}
			if len(r.Errors) > 0 {
				t.Fatalf("errors: %s", r.Raw)
			}
			if r.Str("resident.name") != "周桂兰" || r.Str("resident.idNumberMasked") != masked || r.Get("resident.age") != float64(80) && r.Get("resident.age") != float64(81) {
				t.Fatalf("basic fields: %s", r.Raw)
			}
			if got, _ := r.Get("resident.idNumber").(string); got != c.idNum {
				t.Fatalf("idNumber = %q, want %q", got, c.idNum)
			}
			var after int
			testenv.MustScan(t, e.DB, "SELECT count(*) FROM audit_log WHERE action = 'idNumber' AND entity_id = ?", testenv.Args(res.ID), &after)
			if wantAudit := map[bool]int{true: 1, false: 0}[c.idNum != ""]; after-before != wantAudit {
				t.Fatalf("audit entries for the read: %d, want %d", after-before, wantAudit)
			}
			// The birth date is part of the full number: only those who read
			// that read it; the others get null there, FORBIDDEN for that
			// field alone, and the rest of the record.
			bd := e.Do(t, tok, `query($id:ID!){ resident(id:$id){ name age birthDate } }`, map[string]any{"id": gid})
			if c.idNum != "" {
				if len(bd.Errors) > 0 || bd.Str("resident.birthDate") != res.IDNumber[6:10]+"-"+res.IDNumber[10:12]+"-"+res.IDNumber[12:14] {
					t.Fatalf("birthDate for a full view: %s", bd.Raw)
				}
			} else if bd.ErrorCode() != "FORBIDDEN" || len(bd.Errors) != 1 || bd.Get("resident.birthDate") != nil ||
				bd.Str("resident.name") != "周桂兰" || bd.Get("resident.age") == nil {
				t.Fatalf("birthDate for a view without the full number: %s", bd.Raw)
			}
			if c.limited {
				if r.Get("resident.phoneMasked") != nil || r.Get("resident.address") != nil || r.Get("resident.grid") != nil ||
					len(r.Get("resident.statuses").([]any)) != 0 || len(r.Get("resident.emergencyContacts").([]any)) != 0 {
					t.Fatalf("provider sees too much: %s", r.Raw)
				}
				return
			}
			if r.Str("resident.phoneMasked") != "137****1111" || r.Str("resident.address") != "和平街1号" ||
				r.Str("resident.statuses.0") != "LIVING_ALONE" || r.Str("resident.emergencyContacts.0.phoneMasked") != "139****2222" {
				t.Fatalf("full record: %s", r.Raw)
			}
		})
	}
}

func TestResidentByIDNumberAudited(t *testing.T) {
	e := testenv.New(t)
	res := e.InsertResident(t, testenv.ResidentSpec{Name: "郑文", CommunityCode: "510104020002"})
	const doc = `query($n:String!){ residentByIdNumber(idNumber:$n){ name idNumber } }`
	count := func() (n int) {
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM audit_log WHERE action = 'residentByIdNumber'", nil, &n)
		return
	}
	clerk := e.As(t, "clerk")
	start := count()
	r := e.MustDo(t, clerk, doc, map[string]any{"n": strings.ToLower(res.IDNumber)})
	if r.Str("residentByIdNumber.name") != "郑文" || r.Str("residentByIdNumber.idNumber") != res.IDNumber {
		t.Fatalf("lookup: %s", r.Raw)
	}
	var entity uuid.UUID
	testenv.MustScan(t, e.DB, "SELECT entity_id FROM audit_log WHERE action = 'residentByIdNumber' ORDER BY id DESC LIMIT 1", nil, &entity)
	if entity != res.ID {
		t.Fatalf("audit entity = %v", entity)
	}
	// not found, invalid, out of jurisdiction: all audited too.
	missing := newIDNumber(time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC), 1)
	if r := e.MustDo(t, clerk, doc, map[string]any{"n": missing}); r.Get("residentByIdNumber") != nil {
		t.Fatalf("found a ghost: %s", r.Raw)
	}
	if r := e.Do(t, clerk, doc, map[string]any{"n": "123"}); r.ErrorCode() != "BAD_USER_INPUT" {
		t.Fatalf("invalid: %s", r.Raw)
	}
	if r := e.Do(t, e.As(t, "caseworker2"), doc, map[string]any{"n": res.IDNumber}); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("out of jurisdiction: %s", r.Raw)
	}
	if got := count() - start; got != 4 {
		t.Fatalf("%d audit entries, want 4", got)
	}
	// operators find residents but never see the full number.
	r = e.MustDo(t, e.As(t, "operator"), doc, map[string]any{"n": res.IDNumber})
	if r.Str("residentByIdNumber.name") != "郑文" || r.Get("residentByIdNumber.idNumber") != nil {
		t.Fatalf("operator: %s", r.Raw)
	}
	// residents and integrations may not look up by number.
	if r := e.Do(t, e.As(t, "telephony"), doc, map[string]any{"n": res.IDNumber}); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("integration: %s", r.Raw)
	}
}

// TestListIDNumberReadsAuditedInOneBatch: a page showing full numbers
// writes one audit entry per resident shown.
func TestListIDNumberReadsAudited(t *testing.T) {
	e := testenv.New(t)
	for i := 0; i < 5; i++ {
		e.InsertResident(t, testenv.ResidentSpec{Name: fmt.Sprintf("审计批量%d", i), CommunityCode: "510104022001"})
	}
	var before, after int
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM audit_log WHERE action = 'idNumber'", nil, &before)
	r := e.MustDo(t, e.As(t, "clerk"), `query{ residents(first:5, filter:{nameContains:"审计批量"}){ edges{ node{ idNumber } } } }`, nil)
	if len(r.Get("residents.edges").([]any)) != 5 || r.Str("residents.edges.0.node.idNumber") == "" {
		t.Fatalf("list: %s", r.Raw)
	}
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM audit_log WHERE action = 'idNumber'", nil, &after)
	if after-before != 5 {
		t.Fatalf("%d audit entries, want 5", after-before)
	}
}

const bindDoc = `mutation($in: BindResidentInput!){ bindResident(input:$in){ resident{ name } userErrors{ code field message } } }`

func TestNodeAppliesTheSameRules(t *testing.T) {
	e := testenv.New(t)
	res := e.InsertResident(t, testenv.ResidentSpec{Name: "节点查询", CommunityCode: "510104020001"})
	const doc = `query($id:ID!){ node(id:$id){ id ... on Resident { name idNumber } } }`
	vars := map[string]any{"id": residentGID(res.ID)}
	r := e.MustDo(t, e.As(t, "caseworker"), doc, vars)
	if r.Str("node.name") != "节点查询" || r.Str("node.idNumber") != res.IDNumber || r.Str("node.id") != residentGID(res.ID) {
		t.Fatalf("in jurisdiction: %s", r.Raw)
	}
	if r := e.Do(t, e.As(t, "caseworker2"), doc, vars); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("out of jurisdiction: %s", r.Raw)
	}
}
