package policy

import (
	"errors"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/auth"
)

var update = flag.Bool("update", false, "rewrite the README's role table from the policy")

const tableStart, tableEnd = "<!-- policy:roles (generated from internal/policy: go test ./internal/policy -update) -->\n", "<!-- /policy:roles -->"

// TestREADMERoleTable keeps the README's "Who may do what" table the one
// the policy implies, so the two cannot disagree.
func TestREADMERoleTable(t *testing.T) {
	const path = "../../README.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i, j := strings.Index(readme, tableStart), strings.Index(readme, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q … %q section", strings.TrimSpace(tableStart), tableEnd)
	}
	got, want := readme[i+len(tableStart):j], RoleTable()
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(readme[:i+len(tableStart)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's role table differs from the policy; run go test ./internal/policy -update.\nREADME:\n%s\npolicy:\n%s", got, want)
}

// TestEveryActionIsDescribed: each action granted anywhere has its words
// in Actions, once, and every role of the contract has a row.
func TestEveryActionIsDescribed(t *testing.T) {
	said := map[Action]int{}
	for _, a := range Actions {
		said[a.Action]++
	}
	for a, n := range said {
		if n != 1 {
			t.Errorf("%s is described %d times", a, n)
		}
	}
	for _, r := range auth.AllRoles {
		if _, ok := grants[r]; !ok {
			t.Errorf("role %s has no grants", r)
		}
		for a := range grants[r] {
			if said[a] != 1 {
				t.Errorf("%s grants %s, which Actions does not describe", r, a)
			}
		}
	}
}

func viewer(kind auth.SubjectKind, path string, roles ...auth.Role) *auth.Viewer {
	return &auth.Viewer{Kind: kind, ID: uuid.New(), Roles: roles, OrgPath: path}
}

// TestResidentView is the registry's visibility matrix.
func TestResidentView(t *testing.T) {
	const street, other = "/510104/510104020/", "/510104/510104023/"
	resident := uuid.New()
	subject := func(served bool) Subject {
		return Subject{ID: resident, OrgPath: street + "001/", Served: func() (bool, error) { return served, nil }}
	}
	self := viewer(auth.SubjectWechat, "", auth.Resident)
	self.ResidentID = &resident
	staffAsSelf := viewer(auth.SubjectUser, street, auth.Operator)
	staffAsSelf.ResidentID = &resident // a staff account never acts as a resident
	provider := viewer(auth.SubjectUser, "", auth.Provider)
	pid := uuid.New()
	provider.ProviderID = &pid
	cases := []struct {
		name   string
		v      *auth.Viewer
		served bool
		want   View
	}{
		{"anonymous", nil, false, ViewNone},
		{"admin", viewer(auth.SubjectUser, "/510104/", auth.Admin), false, ViewFull},
		{"clerk of another street", viewer(auth.SubjectUser, other, auth.Clerk), false, ViewFull},
		{"case worker inside", viewer(auth.SubjectUser, street, auth.CaseWorker), false, ViewFull},
		{"case worker outside", viewer(auth.SubjectUser, other, auth.CaseWorker), false, ViewNone},
		{"case worker of a sibling prefix", viewer(auth.SubjectUser, "/510104/51010402/", auth.CaseWorker), false, ViewNone},
		{"operator", viewer(auth.SubjectUser, "", auth.Operator), false, ViewMasked},
		{"operator with a resident id", staffAsSelf, false, ViewMasked},
		{"auditor", viewer(auth.SubjectUser, "/510104/", auth.Auditor), false, ViewMasked},
		{"the resident", self, false, ViewFull},
		{"another resident", viewer(auth.SubjectWechat, "", auth.Resident), false, ViewNone},
		{"provider that served", provider, true, ViewLimited},
		{"provider that did not", provider, false, ViewNone},
		{"integration", viewer(auth.SubjectUser, "", auth.Integration), false, ViewNone},
		{"case worker outside who is also an operator", viewer(auth.SubjectUser, other, auth.CaseWorker, auth.Operator), false, ViewMasked},
	}
	for _, c := range cases {
		got, err := ResidentView(c.v, subject(c.served))
		if err != nil || got != c.want {
			t.Errorf("%s: view %d (%v), want %d", c.name, got, err, c.want)
		}
	}
	failing := Subject{ID: resident, Served: func() (bool, error) { return false, errors.New("db down") }}
	if _, err := ResidentView(provider, failing); err == nil {
		t.Error("a failed served check was swallowed")
	}
}

// TestScopeWhere: lists filter by an escaped prefix, by the viewer's own
// record, or not at all; a scope the viewer lacks the facts for is none.
func TestScopeWhere(t *testing.T) {
	cw := viewer(auth.SubjectUser, `/5101_04%/`, auth.CaseWorker)
	where, args := ScopeOf(cw, ListResidents).Where("r.org_path", "r.id")
	if where != "r.org_path LIKE ?" || len(args) != 1 || args[0] != `/5101\_04\%/%` {
		t.Errorf("subtree: %s %v", where, args)
	}
	if where, _ := ScopeOf(viewer(auth.SubjectUser, "", auth.CaseWorker), ListResidents).Where("p", "id"); where != "FALSE" {
		t.Errorf("a case worker without a unit lists %s", where)
	}
	if where, _ := ScopeOf(viewer(auth.SubjectUser, "", auth.Clerk), ListResidents).Where("p", "id"); where != "TRUE" {
		t.Errorf("a clerk lists %s", where)
	}
	rid := uuid.New()
	res := viewer(auth.SubjectWechat, "", auth.Resident)
	if where, _ := ScopeOf(res, ReadVouchers).Where("p", "id"); where != "FALSE" {
		t.Errorf("an unbound resident reads %s", where)
	}
	res.ResidentID = &rid
	if where, args := ScopeOf(res, ReadVouchers).Where("p", "v.resident_id"); where != "v.resident_id = ?" || args[0] != rid {
		t.Errorf("a resident reads %s %v", where, args)
	}
	if ScopeOf(res, ListResidents).Reach != None {
		t.Error("a resident may list residents")
	}
}

// FuzzLikePrefix: the pattern matches exactly the strings that start with
// the prefix (checked with a tiny LIKE matcher of Postgres's semantics).
func FuzzLikePrefix(f *testing.F) {
	for _, s := range []string{"/510104/", `a_b%c\d`, "", `\`, "%"} {
		f.Add(s, s+"x")
	}
	f.Fuzz(func(t *testing.T, prefix, s string) {
		if like(s, LikePrefix(prefix)) != strings.HasPrefix(s, prefix) {
			t.Errorf("LIKE %q on %q disagrees with HasPrefix", LikePrefix(prefix), s)
		}
	})
}

// like is Postgres's LIKE with backslash as the escape character, on bytes.
func like(s, p string) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '%':
		for i := 0; i <= len(s); i++ {
			if like(s[i:], p[1:]) {
				return true
			}
		}
		return false
	case '_':
		return s != "" && like(s[1:], p[1:])
	case '\\':
		if len(p) > 1 {
			return s != "" && s[0] == p[1] && like(s[1:], p[2:])
		}
	}
	return s != "" && s[0] == p[0] && like(s[1:], p[1:])
}
