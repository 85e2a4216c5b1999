package resident_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/idnumber"
	"github.com/jinjiang/residents/internal/testenv"
)

func TestRegisterDerivesAndMasks(t *testing.T) {
	e := testenv.New(t, testenv.OwnDatabase(t))
	e.Clock.Set(time.Date(2026, 6, 14, 20, 0, 0, 0, time.UTC)) // 2026-06-15 04:00 in Shanghai
	tok := e.As(t, "clerk")
	id := newIDNumber(time.Date(1945, 6, 15, 0, 0, 0, 0, time.UTC), idnumber.Female)
	idLower := strings.ToLower(id)
	r, gid := register(t, e, tok, map[string]any{"name": "登记张秀英", "idNumber": idLower, "phone": "+86 138-0013-8000",
		"communityId": unitGID(t, e, "510104020001"), "gridId": unitGID(t, e, "51010402000102"),
		"statuses": []string{"LIVING_ALONE", "LOW_INCOME"}, "careLevel": "MILD",
		"emergencyContacts": []map[string]any{{"name": "李明", "relation": "子女", "phone": "13912345678", "priority": 2},
			{"name": "王芳", "relation": "邻居", "phone": "028-86612345", "priority": 1}}})
	if gid == "" {
		t.Fatalf("no resident: %s", r.Raw)
	}
	want := map[string]string{
		"registerResident.resident.idNumber":       strings.ToUpper(id),
		"registerResident.resident.idNumberMasked": id[:6] + "************",
		"registerResident.resident.gender":         "FEMALE",
		"registerResident.resident.birthDate":      "1945-06-15",
		"registerResident.resident.phoneMasked":    "138****8000",
		"registerResident.resident.careLevel":      "MILD",
		"registerResident.resident.community.name": "和平街社区",
		"registerResident.resident.grid.name":      "和平街社区第2网格",
		// priority order
		"registerResident.resident.emergencyContacts.0.name":        "王芳",
		"registerResident.resident.emergencyContacts.0.phoneMasked": "028****2345",
		"registerResident.resident.emergencyContacts.1.phoneMasked": "139****5678",
	}
	for path, v := range want {
		if got := r.Str(path); got != v {
			t.Errorf("%s = %q, want %q", path, got, v)
		}
	}
	if age := r.Get("registerResident.resident.age"); age != float64(81) {
		t.Errorf("age on the birthday in Shanghai = %v, want 81", age)
	}
	if v := r.Get("registerResident.resident.version"); v != float64(1) {
		t.Errorf("version = %v", v)
	}
	// Stored encrypted, never in clear.
	var enc, phone string
	if err := e.DB.Raw("SELECT id_number_enc, phone_enc FROM residents WHERE name = '登记张秀英'").Row().Scan(&enc, &phone); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(enc, strings.ToUpper(id)) || !strings.HasPrefix(enc, "v1:") || strings.Contains(phone, "13800138000") {
		t.Errorf("not encrypted at rest")
	}
	var n int
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM audit_log a JOIN residents r ON r.id = a.entity_id WHERE a.action = 'registerResident' AND r.name = '登记张秀英'", nil, &n)
	if n != 1 {
		t.Errorf("register audit entries = %d", n)
	}
}

func TestRegisterRefusesIDNumbers(t *testing.T) {
	e := testenv.New(t)
	tok := e.As(t, "clerk")
	valid := newIDNumber(time.Date(1950, 3, 1, 0, 0, 0, 0, time.UTC), idnumber.Male)
	wrongCheck := valid[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", valid[17])+1)%11])
	future := idnumber.Generate("510104", time.Now().AddDate(1, 0, 0), 1, idnumber.Male)
	fullWidth := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r - '0' + '０'
		}
		return r
	}, valid)
	cases := map[string]string{
		"wrong check character": wrongCheck,
		"15-digit legacy":       "510104500301123",
		"full-width digits":     fullWidth,
		"leading space":         " " + valid[:17],
		"inner space":           valid[:9] + " " + valid[10:],
		"trailing space":        valid + " ",
		"letters":               "51010419500301ABCD",
		"bad date":              idnumber.Generate("510104", time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC), 1, idnumber.Male)[:10] + "0230" + "0011",
		"future birth":          future,
		"unknown province":      "99" + valid[2:17] + string(idnumber.CheckChar("99"+valid[2:17])),
		"empty":                 "",
		"19 characters":         valid + "1",
	}
	comm := unitGID(t, e, "510104020001")
	for name, num := range cases {
		t.Run(name, func(t *testing.T) {
			r := e.MustDo(t, tok, registerDoc, map[string]any{"in": map[string]any{"name": "拒绝测试", "idNumber": num, "communityId": comm}})
			if r.Get("registerResident.resident") != nil {
				t.Fatalf("registered: %s", r.Raw)
			}
			if r.Str("registerResident.userErrors.0.code") != "INVALID_ID_NUMBER" ||
				r.Str("registerResident.userErrors.0.field.0") != "input" || r.Str("registerResident.userErrors.0.field.1") != "idNumber" {
				t.Fatalf("answer: %s", r.Raw)
			}
			if num != "" && strings.Contains(string(r.Raw), strings.TrimSpace(num)[:10]) {
				t.Fatalf("the answer echoes the input: %s", r.Raw)
			}
		})
	}
	var n int
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM residents WHERE name = '拒绝测试'", nil, &n)
	if n != 0 {
		t.Fatalf("%d residents stored", n)
	}
}

func TestRegisterValidation(t *testing.T) {
	e := testenv.New(t)
	tok := e.As(t, "clerk")
	comm := unitGID(t, e, "510104020001")
	id := func() string { return newIDNumber(time.Date(1950, 3, 1, 0, 0, 0, 0, time.UTC), idnumber.Male) }
	cases := []struct {
		name  string
		in    map[string]any
		code  string
		field string
	}{
		{"bad phone", map[string]any{"phone": "12345"}, "INVALID", "input.phone"},
		{"grid of another community", map[string]any{"gridId": unitGID(t, e, "51010402000201")}, "INVALID", "input.gridId"},
		{"street is not a community", map[string]any{"communityId": unitGID(t, e, "510104020")}, "INVALID", "input.communityId"},
		{"empty name", map[string]any{"name": "  "}, "INVALID", "input.name"},
		{"bad contact phone", map[string]any{"emergencyContacts": []map[string]any{{"name": "a", "relation": "b", "phone": "x"}}}, "INVALID", "input.emergencyContacts.0.phone"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := map[string]any{"name": "测试", "idNumber": id(), "communityId": comm}
			for k, v := range c.in {
				in[k] = v
			}
			r := e.MustDo(t, tok, registerDoc, map[string]any{"in": in})
			ue, _ := r.Get("registerResident.userErrors.0").(map[string]any)
			if ue == nil || ue["code"] != c.code {
				t.Fatalf("answer: %s", r.Raw)
			}
			var f []string
			for _, x := range ue["field"].([]any) {
				f = append(f, x.(string))
			}
			if strings.Join(f, ".") != c.field {
				t.Fatalf("field = %v, want %s", f, c.field)
			}
		})
	}
}

func TestRegisterDuplicate(t *testing.T) {
	e := testenv.New(t, testenv.OwnDatabase(t))
	tok := e.As(t, "clerk")
	id := newIDNumber(time.Date(1940, 1, 2, 0, 0, 0, 0, time.UTC), idnumber.Male)
	in := map[string]any{"name": "重复赵建国", "idNumber": id, "communityId": unitGID(t, e, "510104020001")}
	if _, gid := register(t, e, tok, in); gid == "" {
		t.Fatal("first registration failed")
	}
	// Same number, lower-case check character or not: still the same person.
	in["name"] = "别人"
	r := e.MustDo(t, tok, registerDoc, map[string]any{"in": in})
	if r.Str("registerResident.userErrors.0.code") != "DUPLICATE" || r.Str("registerResident.userErrors.0.field.1") != "idNumber" {
		t.Fatalf("answer: %s", r.Raw)
	}
	var n int
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM residents WHERE name IN ('重复赵建国', '别人')", nil, &n)
	if n != 1 {
		t.Fatalf("%d residents", n)
	}
}

const updateDoc = `mutation($in: UpdateResidentInput!){ updateResident(input:$in){
  resident{ version phoneMasked address careLevel statuses community{ name } emergencyContacts{ name } }
  userErrors{ code field } } }`

func TestUpdate(t *testing.T) {
	e := testenv.New(t)
	tok := e.As(t, "clerk")
	_, gid := register(t, e, tok, map[string]any{"name": "钱德", "idNumber": newIDNumber(time.Date(1944, 4, 4, 0, 0, 0, 0, time.UTC), idnumber.Male),
		"phone": "13800000001", "communityId": unitGID(t, e, "510104020001"), "statuses": []string{"EMPTY_NEST"},
		"emergencyContacts": []map[string]any{{"name": "甲", "relation": "子女", "phone": "13900000001"}}})
	// The care level (and statuses) decide benefits: they change only by a checked change (changes_test.go).
	r := e.MustDo(t, tok, updateDoc, map[string]any{"in": map[string]any{"id": gid, "version": 1, "careLevel": "SEVERE"}})
	if r.Str("updateResident.userErrors.0.field.1") != "careLevel" {
		t.Fatalf("care level by updateResident: %s", r.Raw)
	}
	// null fields unchanged; given ones replaced (the care level given unchanged is fine).
	r = e.MustDo(t, tok, updateDoc, map[string]any{"in": map[string]any{"id": gid, "version": 1, "careLevel": "INTACT",
		"communityId": unitGID(t, e, "510104023001")}})
	if r.Str("updateResident.resident.careLevel") != "INTACT" || r.Str("updateResident.resident.phoneMasked") != "138****0001" ||
		r.Str("updateResident.resident.statuses.0") != "EMPTY_NEST" || r.Str("updateResident.resident.community.name") != "静居寺社区" ||
		r.Str("updateResident.resident.emergencyContacts.0.name") != "甲" || r.Get("updateResident.resident.version") != float64(2) {
		t.Fatalf("answer: %s", r.Raw)
	}
	// stale version
	r = e.MustDo(t, tok, updateDoc, map[string]any{"in": map[string]any{"id": gid, "version": 1, "address": "x"}})
	if r.Str("updateResident.userErrors.0.code") != "CONFLICT" {
		t.Fatalf("stale version: %s", r.Raw)
	}
	// the case worker of 春熙路 no longer covers the resident (moved to 牛市口).
	r = e.MustDo(t, e.As(t, "caseworker"), updateDoc, map[string]any{"in": map[string]any{"id": gid, "address": "x"}})
	if r.Str("updateResident.userErrors.0.code") != "OUT_OF_JURISDICTION" {
		t.Fatalf("out of jurisdiction: %s", r.Raw)
	}
	// 牛市口's case worker may edit, but not move the resident out of their street.
	cw2 := e.As(t, "caseworker2")
	r = e.MustDo(t, cw2, updateDoc, map[string]any{"in": map[string]any{"id": gid, "address": "静居寺路1号", "emergencyContacts": []any{}}})
	if r.Str("updateResident.resident.address") != "静居寺路1号" || len(r.Get("updateResident.resident.emergencyContacts").([]any)) != 0 {
		t.Fatalf("case worker edit: %s", r.Raw)
	}
	r = e.MustDo(t, cw2, updateDoc, map[string]any{"in": map[string]any{"id": gid, "communityId": unitGID(t, e, "510104020001")}})
	if r.Str("updateResident.userErrors.0.code") != "OUT_OF_JURISDICTION" {
		t.Fatalf("move out: %s", r.Raw)
	}
	if r := e.Do(t, e.As(t, "operator"), updateDoc, map[string]any{"in": map[string]any{"id": gid, "address": "x"}}); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("operator edit: %s", r.Raw)
	}
}

func TestUpdateConcurrentConflict(t *testing.T) {
	e := testenv.New(t, testenv.OwnDatabase(t))
	tok := e.As(t, "clerk")
	tok2 := e.Admin(t)
	_, gid := register(t, e, tok, map[string]any{"name": "并发孙平", "idNumber": newIDNumber(time.Date(1944, 4, 4, 0, 0, 0, 0, time.UTC), idnumber.Male),
		"communityId": unitGID(t, e, "510104020001")})
	for round := 0; round < 5; round++ {
		var wg sync.WaitGroup
		results := make([]*testenv.Response, 8)
		for i := range results {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				tk := tok
				if i%2 == 1 {
					tk = tok2
				}
				results[i] = e.Do(t, tk, updateDoc, map[string]any{"in": map[string]any{"id": gid, "version": round + 1, "address": "addr"}})
			}(i)
		}
		wg.Wait()
		ok, conflicts := 0, 0
		for _, r := range results {
			switch {
			case r.Get("updateResident.resident") != nil:
				ok++
			case r.Str("updateResident.userErrors.0.code") == "CONFLICT":
				conflicts++
			default:
				t.Fatalf("unexpected: %s", r.Raw)
			}
		}
		if ok != 1 || conflicts != len(results)-1 {
			t.Fatalf("round %d: %d succeeded, %d conflicts", round, ok, conflicts)
		}
	}
	var v int
	testenv.MustScan(t, e.DB, "SELECT version FROM residents WHERE name = '并发孙平'", nil, &v)
	if v != 6 {
		t.Fatalf("version = %d", v)
	}
}
