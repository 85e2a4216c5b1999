package graph

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"testing"

	"github.com/vektah/gqlparser/v2"
	gql "github.com/vektah/gqlparser/v2/ast"
)

// listSelection is the selection under the first field named name in the
// query, validated against the schema (so each field knows its type).
func listSelection(t *testing.T, query, name string) gql.SelectionSet {
	t.Helper()
	doc, errs := gqlparser.LoadQuery(parsedSchema, query)
	if errs != nil {
		t.Fatalf("%s: %v", query, errs)
	}
	var find func(gql.SelectionSet) gql.SelectionSet
	find = func(sel gql.SelectionSet) gql.SelectionSet {
		for _, s := range sel {
			switch s := s.(type) {
			case *gql.Field:
				if s.Name == name {
					return s.SelectionSet
				}
				if got := find(s.SelectionSet); got != nil {
					return got
				}
			case *gql.InlineFragment:
				if got := find(s.SelectionSet); got != nil {
					return got
				}
			}
		}
		return nil
	}
	sel := find(doc.Operations[0].SelectionSet)
	if sel == nil {
		t.Fatalf("no %s in %s", name, query)
	}
	return sel
}

func TestWaitless(t *testing.T) {
	for _, c := range []struct {
		name, query, list string
		want              bool
	}{
		{"the load generator's page: plain, computed and prefetched fields", `{residents(first:100){totalCount edges{cursor node{id name idNumberMasked age careLevel statuses
			community{name} emergencyContacts{name phoneMasked priority} vouchers{balanceFen status} voucherBalanceFen
			disabilityCertificate{grade category}}}}}`, "edges", true},
		{"a fragment of prefetched fields", `query{residents{edges{node{...F}}}} fragment F on Resident{id community{id name}}`, "edges", true},
		{"a field the page does not prefetch", `{residents{edges{node{id household{id}}}}}`, "edges", false},
		{"the same, in a fragment", `query{residents{edges{node{...F}}}} fragment F on Resident{proxies{id}}`, "edges", false},
		{"the same, under @skip (the document is read, not the variables)", `query($s:Boolean!){residents{edges{node{id applications @skip(if:$s){totalCount}}}}}`, "edges", false},
		{"a loader field below a prefetched one", `{residents{edges{node{vouchers{program{name}}}}}}`, "edges", false},
		{"a loader field of an org unit", `{residents{edges{node{community{parent{name}}}}}}`, "edges", false},
		{"a field on an interface", `{residents{edges{node{... on Node{id}}}}}`, "edges", false},
		{"contacts alone", `{residents{edges{node{emergencyContacts{id name phoneMasked}}}}}`, "emergencyContacts", true},
		{"prefetched only below a page's nodes", `{residents{edges{node{household{members{resident{community{name}}}}}}}}`, "members", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := waitless(listSelection(t, c.query, c.list), false); got != c.want {
				t.Errorf("waitless = %v, want %v", got, c.want)
			}
		})
	}
}

// TestIDResolversOnlyEncode holds answeredInMemory's claim that every id
// resolver computes the relay ID and queries nothing: an ID method of a
// resolver may call relay.ID (or settlementID, a settlement's composite
// ID) and nothing else.
func TestIDResolversOnlyEncode(t *testing.T) {
	files, err := filepath.Glob("*.resolvers.go")
	if err != nil || len(files) == 0 {
		t.Fatal(files, err)
	}
	seen := 0
	for _, f := range files {
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Name.Name != "ID" || fn.Recv == nil {
				continue
			}
			seen++
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				if !encodesID(call.Fun) {
					t.Errorf("%s:%s: an ID resolver calls something other than relay.ID", f, fn.Name.Name)
				}
				return true
			})
		}
	}
	if seen < 20 {
		t.Errorf("found %d ID resolvers; the test no longer sees them", seen)
	}
}

func encodesID(fun ast.Expr) bool {
	switch f := fun.(type) {
	case *ast.Ident:
		return f.Name == "settlementID"
	case *ast.SelectorExpr:
		x, ok := f.X.(*ast.Ident)
		return ok && x.Name == "relay" && f.Sel.Name == "ID"
	}
	return false
}
