package app_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph"
	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/idnumber"
	"github.com/jinjiang/residents/internal/testenv"
)

// unitID is the global id of the org unit with code.
func unitID(t *testing.T, e *testenv.Env, code string) string {
	t.Helper()
	var id uuid.UUID
	testenv.MustScan(t, e.DB, "SELECT id FROM org_units WHERE code = ?", testenv.Args(code), &id)
	return relay.ID(graph.TypeOrgUnit, id)
}

// TestOrgTreeEdits: ADMIN adds, renames, moves and retires units and
// moves residents; every copied path follows in the same transaction,
// caches show the change at once, staff of a moved unit keep their reach
// without signing in again, and other roles may not edit the tree.
func TestOrgTreeEdits(t *testing.T) {
	e := testenv.New(t, testenv.OwnDatabase(t)) // it merges a street of the seed
	admin, cw, cw2 := e.Admin(t), e.As(t, "caseworker"), e.As(t, "caseworker2")
	street020, street023 := unitID(t, e, "510104020"), unitID(t, e, "510104023")

	// Only ADMIN edits the tree.
	r := e.Do(t, cw, `mutation($p:ID!){createOrgUnit(input:{parentId:$p,code:"510104020901",name:"试点社区"}){orgUnit{id} userErrors{code}}}`,
		map[string]any{"p": street020})
	if r.ErrorCode() != "FORBIDDEN" && r.Str("createOrgUnit.userErrors.0.code") != "FORBIDDEN" {
		t.Fatalf("case worker created a unit: %s", r.Raw)
	}
	r = e.MustDo(t, admin, `mutation($p:ID!){createOrgUnit(input:{parentId:$p,code:"510104020901",name:"试点社区"}){orgUnit{id kind name parent{id}} userErrors{code}}}`,
		map[string]any{"p": street020})
	comm := r.Str("createOrgUnit.orgUnit.id")
	if r.Str("createOrgUnit.orgUnit.kind") != "COMMUNITY" || r.Str("createOrgUnit.orgUnit.parent.id") != street020 {
		t.Fatalf("create community: %s", r.Raw)
	}
	r = e.MustDo(t, admin, `mutation($p:ID!){createOrgUnit(input:{parentId:$p,code:"51010402090101",name:"一网格"}){orgUnit{id kind} userErrors{code}}}`,
		map[string]any{"p": comm})
	grid := r.Str("createOrgUnit.orgUnit.id")
	if r.Str("createOrgUnit.orgUnit.kind") != "GRID" {
		t.Fatalf("create grid: %s", r.Raw)
	}
	for _, bad := range []struct{ parent, code, want string }{
		{street020, "510104020901", "DUPLICATE"},
		{grid, "5101040209010101", "INVALID"},
		{street020, "bad code!", "INVALID"},
	} {
		r = e.MustDo(t, admin, `mutation($p:ID!,$c:String!){createOrgUnit(input:{parentId:$p,code:$c,name:"x"}){orgUnit{id} userErrors{code}}}`,
			map[string]any{"p": bad.parent, "c": bad.code})
		if r.Str("createOrgUnit.userErrors.0.code") != bad.want {
			t.Fatalf("create %s: want %s: %s", bad.code, bad.want, r.Raw)
		}
	}

	// A case worker of the new community, signed in before anything moves.
	uid := e.MustDo(t, admin, `mutation($o:ID!){createStaffUser(input:{username:"cw.pilot",password:"long-enough-pw",displayName:"试点社工",roles:[CASE_WORKER],orgUnitId:$o}){user{id}}}`,
		map[string]any{"o": comm}).Str("createStaffUser.user.id")
	if uid == "" {
		t.Fatal("staff user not created")
	}
	pilot := e.Login(t, "cw.pilot", "long-enough-pw")

	res := e.InsertResident(t, testenv.ResidentSpec{Name: "迁移测试", BirthDate: time.Date(1940, 3, 1, 0, 0, 0, 0, time.UTC)})
	rid := relay.ID(graph.TypeResident, res.ID)
	ctx := context.Background()
	if err := e.DB.WithContext(ctx).Exec(`INSERT INTO emergency_calls (id, external_call_id, resident_id, org_path, kind, received_at)
		SELECT ?, 'orgtree-call-1', id, org_path, 'ALARM_BUTTON', now() FROM residents WHERE id = ?`, uuid.Must(uuid.NewV7()), res.ID).Error; err != nil {
		t.Fatal(err)
	}
	sees := func(tok string) bool {
		t.Helper()
		return e.Do(t, tok, `query($id:ID!){resident(id:$id){id}}`, map[string]any{"id": rid}).Str("resident.id") == rid
	}
	if sees(pilot) {
		t.Fatal("the pilot case worker sees a resident outside their community")
	}
	// The unit cache holds the resident's community now.
	before := e.MustDo(t, admin, `query($id:ID!){resident(id:$id){community{name}}}`, map[string]any{"id": rid}).Str("resident.community.name")

	// A set of residents moves into the grid: community, grid, path and the call's path.
	r = e.MustDo(t, admin, `mutation($ids:[ID!]!,$g:ID!){moveResidents(input:{residentIds:$ids,gridId:$g}){orgUnit{id} changed{table count} userErrors{code}}}`,
		map[string]any{"ids": []string{rid}, "g": grid})
	if got := counts(r, "moveResidents.changed"); got["residents"] != 1 || got["emergency_calls"] != 1 {
		t.Fatalf("moveResidents: %s", r.Raw)
	}
	r = e.MustDo(t, admin, `query($id:ID!){resident(id:$id){community{id name} grid{id}}}`, map[string]any{"id": rid})
	if r.Str("resident.community.id") != comm || r.Str("resident.grid.id") != grid || r.Str("resident.community.name") == before {
		t.Fatalf("after moveResidents: %s", r.Raw)
	}
	if !sees(pilot) || !sees(cw) || sees(cw2) {
		t.Fatal("reach after moveResidents")
	}
	callPath := func() (p string) {
		testenv.MustScan(t, e.DB, "SELECT org_path FROM emergency_calls WHERE external_call_id = 'orgtree-call-1'", nil, &p)
		return p
	}
	if callPath() != "/510104/510104020/510104020901/51010402090101/" {
		t.Fatalf("call path %s", callPath())
	}
	bad := e.MustDo(t, admin, `mutation($ids:[ID!]!,$g:ID!){moveResidents(input:{residentIds:$ids,gridId:$g}){userErrors{code}}}`,
		map[string]any{"ids": []string{rid, relay.ID(graph.TypeResident, uuid.Must(uuid.NewV7()))}, "g": grid})
	if bad.Str("moveResidents.userErrors.0.code") != "NOT_FOUND" {
		t.Fatalf("moveResidents with an unknown resident: %s", bad.Raw)
	}

	// Rename: the resident's community shows the new name at once (cache dropped).
	r = e.MustDo(t, admin, `mutation($id:ID!){renameOrgUnit(id:$id,name:"改名社区"){orgUnit{name} userErrors{code}}}`, map[string]any{"id": comm})
	if r.Str("renameOrgUnit.orgUnit.name") != "改名社区" {
		t.Fatalf("rename: %s", r.Raw)
	}
	if n := e.MustDo(t, admin, `query($id:ID!){resident(id:$id){community{name}}}`, map[string]any{"id": rid}).Str("resident.community.name"); n != "改名社区" {
		t.Fatalf("community name after rename: %s", n)
	}

	// A unit with residents is not retired.
	r = e.MustDo(t, admin, `mutation($id:ID!){retireOrgUnit(id:$id){orgUnit{retiredAt} userErrors{code message}}}`, map[string]any{"id": comm})
	if r.Str("retireOrgUnit.userErrors.0.code") != "CONFLICT" {
		t.Fatalf("retire with residents: %s", r.Raw)
	}

	// The community moves to another street: its grid, resident and call
	// follow; the pilot's session follows without signing in again.
	r = e.MustDo(t, admin, `mutation($id:ID!,$p:ID!){moveOrgUnit(input:{id:$id,newParentId:$p}){orgUnit{parent{id}} changed{table count} userErrors{code}}}`,
		map[string]any{"id": comm, "p": street023})
	if got := counts(r, "moveOrgUnit.changed"); got["org_units"] != 2 || got["residents"] != 1 || got["emergency_calls"] != 1 ||
		r.Str("moveOrgUnit.orgUnit.parent.id") != street023 {
		t.Fatalf("moveOrgUnit: %s", r.Raw)
	}
	if callPath() != "/510104/510104023/510104020901/51010402090101/" {
		t.Fatalf("call path after the move %s", callPath())
	}
	if !sees(pilot) || sees(cw) || !sees(cw2) {
		t.Fatalf("reach after moving the community: pilot %v, 春熙路 %v, 牛市口 %v", sees(pilot), sees(cw), sees(cw2))
	}

	// The grid moves to a community of the same street: the resident's community follows.
	other := unitID(t, e, "510104023001")
	r = e.MustDo(t, admin, `mutation($id:ID!,$p:ID!){moveOrgUnit(input:{id:$id,newParentId:$p}){changed{table count} userErrors{code}}}`,
		map[string]any{"id": grid, "p": other})
	if counts(r, "moveOrgUnit.changed")["residents"] != 1 {
		t.Fatalf("grid move: %s", r.Raw)
	}
	if c := e.MustDo(t, admin, `query($id:ID!){resident(id:$id){community{id}}}`, map[string]any{"id": rid}).Str("resident.community.id"); c != other {
		t.Fatalf("community after the grid moved: %s", c)
	}

	// A street merged into another: all its communities and residents move.
	r2 := e.InsertResident(t, testenv.ResidentSpec{Name: "并街测试", CommunityCode: "510104021001", BirthDate: time.Date(1950, 5, 5, 0, 0, 0, 0, time.UTC)})
	r = e.MustDo(t, admin, `mutation($id:ID!,$p:ID!){moveOrgUnit(input:{id:$id,newParentId:$p}){changed{table count} userErrors{code}}}`,
		map[string]any{"id": unitID(t, e, "510104021"), "p": unitID(t, e, "510104022")})
	if got := counts(r, "moveOrgUnit.changed"); got["residents"] < 1 || got["org_units"] < 2 {
		t.Fatalf("street merge: %s", r.Raw)
	}
	var path string
	testenv.MustScan(t, e.DB, "SELECT org_path FROM residents WHERE id = ?", testenv.Args(r2.ID), &path)
	if path != "/510104/510104022/510104021001/" {
		t.Fatalf("merged street resident path %s", path)
	}
	kids := e.MustDo(t, admin, `query($p:ID){orgUnits(parentId:$p){code}}`, map[string]any{"p": unitID(t, e, "510104021")})
	if n := len(kids.Get("orgUnits").([]any)); n != 0 {
		t.Fatalf("the merged street still has %d communities", n)
	}

	// Now empty, the community retires; it takes no new residents or units.
	r = e.MustDo(t, admin, `mutation($id:ID!){retireOrgUnit(id:$id){orgUnit{retiredAt} userErrors{code}}}`, map[string]any{"id": comm})
	if r.Str("retireOrgUnit.orgUnit.retiredAt") == "" {
		t.Fatalf("retire: %s", r.Raw)
	}
	r = e.MustDo(t, admin, `mutation($c:ID!){registerResident(input:{name:"新居民",idNumber:"`+idnumber.Generate("510104", time.Date(1960, 1, 2, 0, 0, 0, 0, time.UTC), 7, idnumber.Male)+`",communityId:$c}){resident{id} userErrors{code}}}`,
		map[string]any{"c": comm})
	if r.Str("registerResident.userErrors.0.code") != "INVALID_TRANSITION" {
		t.Fatalf("register into a retired community: %s", r.Raw)
	}
	r = e.MustDo(t, admin, `mutation($p:ID!){createOrgUnit(input:{parentId:$p,code:"51010402090102",name:"二网格"}){userErrors{code}}}`, map[string]any{"p": comm})
	if r.Str("createOrgUnit.userErrors.0.code") != "INVALID_TRANSITION" {
		t.Fatalf("grid under a retired community: %s", r.Raw)
	}

	// Audited.
	for _, a := range []string{"createOrgUnit", "renameOrgUnit", "retireOrgUnit", "moveOrgUnit", "moveResidents"} {
		r = e.MustDo(t, admin, `query($a:String){auditLog(filter:{action:$a},first:1){edges{node{entity}}}}`, map[string]any{"a": a})
		if r.Str("auditLog.edges.0.node.entity") == "" {
			t.Errorf("no %s audit entry: %s", a, r.Raw)
		}
	}
}

// counts reads a payload's changed list as table → count.
func counts(r *testenv.Response, path string) map[string]int {
	out := map[string]int{}
	list, _ := r.Get(path).([]any)
	for _, x := range list {
		m := x.(map[string]any)
		out[m["table"].(string)] = int(m["count"].(float64))
	}
	return out
}

// TestRegistrationRacingRetire: registrations into a community race its
// retirement. Whatever the order, a retired community holds no living
// resident: either the retirement counted the new residents (CONFLICT) or
// the registrations waited for it and were refused (INVALID_TRANSITION).
func TestRegistrationRacingRetire(t *testing.T) {
	e := testenv.New(t)
	admin := e.Admin(t)
	street := unitID(t, e, "510104020")
	const reg = `mutation($in:RegisterResidentInput!){registerResident(input:$in){resident{id} userErrors{code}}}`
	// Free community codes and, from them, fresh ID numbers: the package's
	// database is shared (and kept across -count runs).
	var taken string
	testenv.MustScan(t, e.DB, "SELECT coalesce(string_agg(code, ','), '') FROM org_units WHERE code LIKE '510104020___'", nil, &taken)
	used := strings.Split(taken, ",")
	var free []int
	for n := 700; n < 1000 && len(free) < 8; n++ {
		if !slices.Contains(used, "510104020"+strconv.Itoa(n)) {
			free = append(free, n)
		}
	}
	for round, n := range free {
		code := "510104020" + strconv.Itoa(n)
		born := time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n)
		r := e.MustDo(t, admin, `mutation($p:ID!,$c:String!){createOrgUnit(input:{parentId:$p,code:$c,name:"竞态社区"}){orgUnit{id} userErrors{code}}}`,
			map[string]any{"p": street, "c": code})
		comm := r.Str("createOrgUnit.orgUnit.id")
		if comm == "" {
			t.Fatalf("create community: %s", r.Raw)
		}
		var wg sync.WaitGroup
		codes := make([]string, 4)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				num := idnumber.Generate("510104", born, 301+2*i, idnumber.Male)
				r := e.MustDo(t, admin, reg, map[string]any{"in": map[string]any{"name": "竞态居民", "idNumber": num, "communityId": comm}})
				codes[i] = r.Str("registerResident.userErrors.0.code")
				if codes[i] == "" && r.Str("registerResident.resident.id") == "" {
					codes[i] = "NO_ANSWER"
				}
			}()
		}
		var retired *testenv.Response
		wg.Add(1)
		go func() {
			defer wg.Done()
			retired = e.MustDo(t, admin, `mutation($id:ID!){retireOrgUnit(id:$id){orgUnit{retiredAt} userErrors{code}}}`, map[string]any{"id": comm})
		}()
		wg.Wait()
		var living int
		testenv.MustScan(t, e.DB, `SELECT count(*) FROM residents r JOIN org_units u ON u.code = ? WHERE r.community_id = u.id AND r.deceased_on IS NULL`,
			testenv.Args(code), &living)
		switch {
		case retired.Str("retireOrgUnit.orgUnit.retiredAt") != "":
			if living != 0 {
				t.Fatalf("round %d: a retired community holds %d residents (registrations %v)", round, living, codes)
			}
			for _, c := range codes {
				if c != "" && c != "INVALID_TRANSITION" {
					t.Fatalf("round %d: registration answered %v", round, codes)
				}
			}
		case retired.Str("retireOrgUnit.userErrors.0.code") == "CONFLICT":
			if living == 0 {
				t.Fatalf("round %d: retirement refused for residents, but none: %s", round, retired.Raw)
			}
		default:
			t.Fatalf("round %d: retire: %s", round, retired.Raw)
		}
	}
}
