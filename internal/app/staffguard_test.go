package app_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/jinjiang/residents/graph"
	"github.com/jinjiang/residents/internal/testenv"
)

// staffWorld is buildWorld with the world's call answered by the operator.
type staffWorld struct {
	*world
	toks map[string]string
}

// staffUserFields is every field of the schema whose type is StaffUser (or
// a list of it), each with the case proving it applies node(id:)'s staff
// rule: a viewer who may not read the account gets null and FORBIDDEN for
// that field alone, one who may gets the account. A new field of type
// StaffUser fails TestStaffUserFieldsAreGuarded until it has a case here.
var staffUserFields = map[string]func(t *testing.T, w *staffWorld){
	"EmergencyCall.answeredBy": func(t *testing.T, w *staffWorld) {
		const one = `query($id:ID!){node(id:$id){... on EmergencyCall{status answeredBy{id username displayName}}}}`
		const list = `{emergencyCalls(first:20){edges{node{id status answeredBy{username}}}}}`
		// A case worker reads the call (the resident is in their street),
		// never the operator's account; nor does the telephony system.
		for _, who := range []string{"caseworker", "clerk"} {
			r := w.e.Do(t, w.toks[who], one, map[string]any{"id": w.call})
			if who == "clerk" { // CLERK may not read calls at all: the node is refused, not the field
				if r.ErrorCode() != "FORBIDDEN" || r.Get("node") != nil {
					t.Errorf("clerk read the call: %s", r.Raw)
				}
				continue
			}
			fieldForbidden(t, who, r, "node", "answeredBy")
			if r.Str("node.status") != "ANSWERED" {
				t.Errorf("%s lost the call: %s", who, r.Raw)
			}
			lr := w.e.Do(t, w.toks[who], list, nil)
			if len(lr.Errors) == 0 || lr.Get("emergencyCalls.edges.0.node.id") == nil {
				t.Errorf("%s, list: want the calls with a FORBIDDEN answeredBy: %s", who, lr.Raw)
			}
			for _, e := range lr.Errors {
				if e.Extensions["code"] != "FORBIDDEN" || len(e.Path) == 0 || e.Path[len(e.Path)-1] != "answeredBy" {
					t.Errorf("%s, list: %v %v", who, e.Path, e.Extensions["code"])
				}
			}
			if strings.Contains(string(lr.Raw), `"username":"operator"`) {
				t.Errorf("%s read the operator's account in the list: %s", who, lr.Raw)
			}
		}
		// The operator who answered reads themself; ADMIN and AUDITOR read staff.
		for _, who := range []string{"operator", "admin", "auditor"} {
			r := w.e.Do(t, w.toks[who], one, map[string]any{"id": w.call})
			if len(r.Errors) > 0 || r.Str("node.answeredBy.username") != "operator" {
				t.Errorf("%s: want the operator's account: %s", who, r.Raw)
			}
		}
	},
	"StaffUserPayload.user": func(t *testing.T, w *staffWorld) {
		const create = `mutation($u:String!,$o:ID!){createStaffUser(input:{username:$u,password:"long-enough-pw",displayName:"新人",roles:[CLERK],orgUnitId:$o}){user{id username} userErrors{code}}}`
		unit := w.e.MustDo(t, w.toks["admin"], `{orgUnits(kind:STREET){id}}`, nil).Str("orgUnits.0.id")
		// Only a viewer who manages staff reaches the payload, and it reads staff.
		r := w.e.Do(t, w.toks["admin"], create, map[string]any{"u": "guard." + w.serial, "o": unit})
		if len(r.Errors) > 0 || r.Str("createStaffUser.user.username") != "guard."+w.serial {
			t.Errorf("admin: %s", r.Raw)
		}
		r = w.e.Do(t, w.toks["caseworker"], create, map[string]any{"u": "guard2." + w.serial, "o": unit})
		// A wrong role: the FORBIDDEN error, and the payload with the same
		// refusal as its user error (and no user).
		if r.ErrorCode() != "FORBIDDEN" || r.Str("createStaffUser.userErrors.0.code") != "FORBIDDEN" || r.Get("createStaffUser.user") != nil {
			t.Errorf("caseworker: %s", r.Raw)
		}
	},
}

// fieldForbidden fails unless the object at root came back with field null
// and the only error is FORBIDDEN at root.field.
func fieldForbidden(t *testing.T, who string, r *testenv.Response, root, field string) {
	t.Helper()
	if r.Get(root) == nil {
		t.Errorf("%s: %s was nulled out: %s", who, root, r.Raw)
		return
	}
	if r.Get(root+"."+field) != nil {
		t.Errorf("%s read %s.%s: %s", who, root, field, r.Raw)
	}
	if len(r.Errors) != 1 || r.ErrorCode() != "FORBIDDEN" || fmt.Sprint(r.Errors[0].Path) != fmt.Sprint([]any{root, field}) {
		t.Errorf("%s: want one FORBIDDEN at %s.%s: %s", who, root, field, r.Raw)
	}
}

// TestStaffUserFieldsAreGuarded enumerates, from the served schema, every
// field whose type is StaffUser or a list of it: each must be nullable (the
// staff guard answers null with FORBIDDEN, which must not take the parent
// along) and have its case in staffUserFields, which is then run through
// the HTTP handler. Fields of an abstract type StaffUser belongs to
// (node(id:)) go through the node fetcher, auth.Service.StaffUser, and are
// TestNodeIDORMatrix's.
func TestStaffUserFieldsAreGuarded(t *testing.T) {
	s := projectSchema()
	abstract := map[string]bool{}
	for name, def := range s.Types {
		if def.Kind == ast.Interface || def.Kind == ast.Union {
			for _, p := range s.GetPossibleTypes(def) {
				if p.Name == graph.TypeStaffUser {
					abstract[name] = true
				}
			}
		}
	}
	var found []string
	for name, def := range s.Types {
		if def.BuiltIn || (def.Kind != ast.Object && def.Kind != ast.Interface) {
			continue
		}
		for _, f := range def.Fields {
			named := f.Type.Name()
			if abstract[named] && !(name == "Query" && f.Name == "node") {
				t.Errorf("%s.%s returns %s, which can be a StaffUser: only node(id:) may, through auth.Service.StaffUser", name, f.Name, named)
			}
			if named != graph.TypeStaffUser {
				continue
			}
			found = append(found, name+"."+f.Name)
			if f.Type.NonNull {
				t.Errorf("%s.%s is %s: a field of type StaffUser must be nullable, so a viewer who may not read the account gets null and FORBIDDEN for it alone", name, f.Name, f.Type)
			}
			if staffUserFields[name+"."+f.Name] == nil {
				t.Errorf("%s.%s is of type StaffUser but has no case in staffUserFields", name, f.Name)
			}
		}
	}
	sort.Strings(found)
	if len(found) != len(staffUserFields) {
		t.Errorf("fields of type StaffUser %v; staffUserFields has %d cases (one per field, no stale ones)", found, len(staffUserFields))
	}
	if t.Failed() {
		return
	}

	w := buildWorld(t)
	sw := &staffWorld{world: w, toks: map[string]string{"admin": w.e.Admin(t)}}
	for _, who := range []string{"operator", "caseworker", "clerk", "auditor", "telephony"} {
		sw.toks[who] = w.e.As(t, who)
	}
	if r := w.e.MustDo(t, sw.toks["operator"], `mutation($id:ID!){answerEmergencyCall(id:$id){call{status} userErrors{code}}}`,
		map[string]any{"id": w.call}); r.Str("answerEmergencyCall.call.status") != "ANSWERED" {
		t.Fatalf("answer: %s", r.Raw)
	}
	for _, name := range found {
		t.Run(name, func(t *testing.T) { staffUserFields[name](t, sw) })
	}
}
