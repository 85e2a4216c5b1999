package app_test

import (
	"strconv"
	"testing"

	"github.com/jinjiang/residents/internal/testenv"
)

func TestOrgTreeAndServiceCenters(t *testing.T) {
	e := testenv.New(t)
	tok := e.As(t, "clerk")
	streets := e.MustDo(t, tok, `{orgUnits(kind:STREET){id name code parent{kind} children{kind name children{kind}}}}`, nil)
	list := streets.Get("orgUnits").([]any)
	if len(list) < 4 {
		t.Fatalf("%d streets", len(list))
	}
	for i := range list {
		kids := streets.Get("orgUnits." + itoa(i) + ".children").([]any)
		if len(kids) < 2 || streets.Str("orgUnits."+itoa(i)+".parent.kind") != "DISTRICT" {
			t.Fatalf("street %d: %d communities", i, len(kids))
		}
		if streets.Str("orgUnits."+itoa(i)+".children.0.children.0.kind") != "GRID" {
			t.Fatal("community without grids")
		}
	}
	if streets.Str("orgUnits.0.name") != "春熙路街道" {
		t.Fatalf("first street = %s", streets.Str("orgUnits.0.name"))
	}
	id := streets.Str("orgUnits.0.id")
	n := e.MustDo(t, tok, `query($id:ID!){node(id:$id){__typename ... on OrgUnit{name kind}}}`, map[string]any{"id": id})
	if n.Str("node.__typename") != "OrgUnit" || n.Str("node.name") != "春熙路街道" {
		t.Fatalf("node: %s", n.Raw)
	}
	kids := e.MustDo(t, tok, `query($p:ID){orgUnits(parentId:$p){kind}}`, map[string]any{"p": id})
	if len(kids.Get("orgUnits").([]any)) < 2 || kids.Str("orgUnits.0.kind") != "COMMUNITY" {
		t.Fatalf("children by parentId: %s", kids.Raw)
	}
	centers := e.MustDo(t, tok, `{serviceCenters{id name orgUnit{kind}}}`, nil)
	kinds := map[string]bool{}
	for i := range centers.Get("serviceCenters").([]any) {
		kinds[centers.Str("serviceCenters."+itoa(i)+".orgUnit.kind")] = true
	}
	if !kinds["DISTRICT"] || !kinds["STREET"] || !kinds["COMMUNITY"] {
		t.Fatalf("center levels: %v", kinds)
	}
	cid := centers.Str("serviceCenters.0.id")
	if r := e.MustDo(t, tok, `query($id:ID!){node(id:$id){__typename}}`, map[string]any{"id": cid}); r.Str("node.__typename") != "ServiceCenter" {
		t.Fatalf("center node: %s", r.Raw)
	}
}

func TestAuditLog(t *testing.T) {
	e := testenv.New(t, testenv.OwnDatabase(t))
	admin := e.Admin(t)
	district := e.MustDo(t, admin, `{orgUnits(kind:DISTRICT){id}}`, nil).Str("orgUnits.0.id")
	uid := e.MustDo(t, admin, `mutation($o:ID!){createStaffUser(input:{username:"audited.user",password:"long-enough-pw",displayName:"审",roles:[AUDITOR],orgUnitId:$o}){user{id}}}`,
		map[string]any{"o": district}).Str("createStaffUser.user.id")
	for _, who := range []string{"admin", "auditor"} {
		tok := admin
		if who == "auditor" {
			tok = e.As(t, "auditor")
		}
		r := e.MustDo(t, tok, `query($id:ID){auditLog(filter:{action:"createStaffUser",entityId:$id},first:5){edges{cursor node{action entity entityId actorId at}} pageInfo{hasNextPage endCursor}}}`, map[string]any{"id": uid})
		if r.Str("auditLog.edges.0.node.entityId") != uid || r.Str("auditLog.edges.0.node.entity") != "StaffUser" {
			t.Fatalf("%s: %s", who, r.Raw)
		}
	}
	// Pagination walks the log without repeats.
	seen := map[string]bool{}
	var after any
	for page := 0; page < 10; page++ {
		r := e.MustDo(t, admin, `query($a:String){auditLog(first:2,after:$a){edges{cursor} pageInfo{hasNextPage endCursor}}}`, map[string]any{"a": after})
		for i := range r.Get("auditLog.edges").([]any) {
			c := r.Str("auditLog.edges." + itoa(i) + ".cursor")
			if seen[c] {
				t.Fatal("cursor repeated")
			}
			seen[c] = true
		}
		if r.Get("auditLog.pageInfo.hasNextPage") != true {
			break
		}
		after = r.Str("auditLog.pageInfo.endCursor")
	}
	if len(seen) < 3 {
		t.Fatalf("walked %d entries", len(seen))
	}
	if r := e.Do(t, e.As(t, "clerk"), `{auditLog{edges{cursor}}}`, nil); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("clerk read the audit log: %s", r.Raw)
	}
	if err := e.DB.Exec("UPDATE audit_log SET action = 'x'").Error; err == nil {
		t.Fatal("audit log accepted an UPDATE")
	}
	if err := e.DB.Exec("DELETE FROM audit_log").Error; err == nil {
		t.Fatal("audit log accepted a DELETE")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
