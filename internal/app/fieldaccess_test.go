package app_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/jinjiang/residents/internal/civil"
)

// fullSelection selects every field of the named type, with its required
// arguments made up, and expands object fields down to depth levels (then
// only __typename). Asking for everything is how a one-screen client asks:
// whatever a viewer may not read must fail alone, not take its parent along.
func fullSelection(s *ast.Schema, typ string, depth int) string {
	def := s.Types[typ]
	if def.Kind == ast.Union || def.Kind == ast.Interface {
		return "{ __typename }"
	}
	var parts []string
	for _, f := range def.Fields {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		named := f.Type
		for named.Elem != nil {
			named = named.Elem
		}
		sel := ""
		switch s.Types[named.NamedType].Kind {
		case ast.Object, ast.Interface, ast.Union:
			sel = " { __typename }"
			if depth > 0 {
				sel = " " + fullSelection(s, named.NamedType, depth-1)
			}
		}
		parts = append(parts, f.Name+args(s, f.Arguments)+sel)
	}
	return "{ __typename " + strings.Join(parts, " ") + " }"
}

// forbiddenAlone fails the test unless the response kept the object at
// root and every error is a FORBIDDEN on a field below it.
func forbiddenAlone(t *testing.T, label string, r interface {
	Get(string) any
}, errs []fieldErr, root string) {
	t.Helper()
	if r.Get(root) == nil {
		t.Errorf("%s: %s was nulled out: %v", label, root, errs)
		return
	}
	for _, e := range errs {
		if e.code != "FORBIDDEN" {
			t.Errorf("%s: %s at %v: %s", label, e.code, e.path, e.message)
		}
	}
}

type fieldErr struct {
	code, message string
	path          []any
}

// TestFieldsAViewerMayNotReadFailAlone asks, as every viewer of the IDOR
// matrix, for every field of every node type it may see (two levels deep),
// and requires the node itself back: a field the viewer may not read is
// null (or empty, for a list the contract makes non-null) with a FORBIDDEN
// error for that field alone. And the provider's redemption payload, asked
// for with everything about the resident, keeps the redemption.
func TestFieldsAViewerMayNotReadFailAlone(t *testing.T) {
	w, ids, toks := idorWorld(t)
	s := projectSchema()
	types := make([]string, 0, len(idorExpect))
	for typ := range idorExpect {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		doc := fmt.Sprintf("query($id:ID!){node(id:$id){ ... on %s %s }}", typ, fullSelection(s, typ, 2))
		for i, who := range idorRoles {
			if idorExpect[typ][i] != 'V' {
				continue
			}
			r := w.e.Do(t, toks[who], doc, map[string]any{"id": ids[typ]})
			var errs []fieldErr
			for _, e := range r.Errors {
				code, _ := e.Extensions["code"].(string)
				errs = append(errs, fieldErr{code, e.Message, e.Path})
			}
			forbiddenAlone(t, typ+" as "+who, r, errs, "node")
		}
	}

	// The provider's till: a redemption asked for with the whole resident.
	e, clerk, provider := w.e, toks["clerk"], toks["provider1"]
	tok := e.MustDo(t, clerk, `mutation($p:ID!,$r:ID){createRedemptionToken(programId:$p,residentId:$r){token userErrors{code}}}`,
		map[string]any{"p": w.program, "r": w.resident}).Str("createRedemptionToken.token")
	cat := e.MustDo(t, provider, `{me{provider{categories}}}`, nil).Str("me.provider.categories.0")
	doc := `mutation($in:RedeemVoucherInput!){redeemVoucher(input:$in){remainingBalanceFen userErrors{code message}
		redemption{ id amountFen resident ` + fullSelection(s, "Resident", 1) + `}}}`
	r := e.Do(t, provider, doc, map[string]any{"in": map[string]any{"token": tok, "category": cat, "amountFen": 100,
		"serviceDate": civil.DateOf(e.Clock.Now()).String(), "idempotencyKey": "fail-alone-1"}})
	var errs []fieldErr
	for _, e := range r.Errors {
		code, _ := e.Extensions["code"].(string)
		errs = append(errs, fieldErr{code, e.Message, e.Path})
	}
	forbiddenAlone(t, "redeemVoucher as provider1", r, errs, "redeemVoucher.redemption.resident")
	if r.Get("redeemVoucher.redemption.resident.birthDate") != nil || r.Get("redeemVoucher.redemption.resident.community") != nil {
		t.Errorf("the provider read the birth date or community: %s", r.Raw)
	}
	if r.Str("redeemVoucher.redemption.resident.name") == "" {
		t.Errorf("the provider lost the name it may read: %s", r.Raw)
	}
}
