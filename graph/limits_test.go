package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/jinjiang/residents/internal/page"
)

// measure parses and validates doc against the real schema, coerces the
// variables (given as JSON, decoded with UseNumber as the POST transport
// does) as the executor does, and measures the operation.
func measure(t *testing.T, doc, varsJSON string) Measurement {
	t.Helper()
	schema := NewExecutableSchema(Config{}).Schema()
	q, err := parser.ParseQuery(&ast.Source{Input: doc})
	if err != nil {
		t.Fatalf("parse %q: %v", doc, err)
	}
	if errs := validator.ValidateWithRules(schema, q, rules.NewDefaultRules()); len(errs) > 0 {
		t.Fatalf("validate %q: %v", doc, errs)
	}
	raw := map[string]any{}
	if varsJSON != "" {
		dec := json.NewDecoder(bytes.NewReader([]byte(varsJSON)))
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
	}
	op := q.Operations[0]
	vars, err := validator.VariableValues(schema, op, raw)
	if err != nil {
		t.Fatalf("variables %s: %v", varsJSON, err)
	}
	return Measure(q, op, vars)
}

func TestCostOfPagedFields(t *testing.T) {
	const residentsN = `query($n: Int) { residents(first: $n) { totalCount } }`
	const redemptionsN = `query($n: Int) { me { resident { redemptions(first: $n) { id } } } }`
	for _, c := range []struct {
		name, doc, vars string
		cost            int
	}{
		{"literal first", `{ residents(first: 100) { totalCount } }`, "", 1 + 100},
		{"first as a number variable", residentsN, `{"n": 100}`, 1 + 100},
		// gqlparser accepts "100" for an Int variable and gqlgen's
		// UnmarshalInt turns it into 100 rows: costed as 100.
		{"first as a string variable", residentsN, `{"n": "100"}`, 1 + 100},
		{"first as a null variable", residentsN, `{"n": null}`, 1 + page.DefaultFirst},
		{"first variable not given", residentsN, ``, 1 + page.DefaultFirst},
		{"first variable with a default", `query($n: Int = 90) { residents(first: $n) { totalCount } }`, ``, 1 + 90},
		{"connection without first", `{ residents { totalCount } }`, "", 1 + page.DefaultFirst},
		{"nested connection without first", `{ me { resident { applications { totalCount } emergencyCalls { totalCount } } } }`, "",
			1 + 1 + 2*(1+page.DefaultFirst)},
		// edges are the connection's page: not charged a second time.
		{"edges", `{ residents(first: 5) { edges { cursor node { id name } } } }`, "", 1 + 5*(1+1+(1+2))},
		// redemptions(first: Int = 10): the schema default is the size.
		{"list with a defaulted first", `{ me { resident { redemptions { id } } } }`, "", 1 + 1 + (1 + 10)},
		{"list first as a string variable", redemptionsN, `{"n": "100"}`, 1 + 1 + (1 + 100)},
		{"list first as a null variable", redemptionsN, `{"n": null}`, 1 + 1 + (1 + page.DefaultFirst)},
		{"list first not given", redemptionsN, ``, 1 + 1 + (1 + 10)},
		{"plain list", `{ orgUnits { id } }`, "", 1 + listCost},
		{"negative first costs nothing below it", `{ residents(first: -5) { totalCount } }`, "", 1},
		{"aliases of one connection", `{ a: residents { totalCount } b: residents { totalCount } c: residents(first: 100) { totalCount } }`, "",
			2*(1+page.DefaultFirst) + 1 + 100},
		{"connections multiply", `{ residents(first: 100) { edges { node { applications(first: 50) { edges { node { id } } } } } } }`, "",
			1 + 100*(1+1+(1+50*(1+1+1)))},
		{"huge first saturates", `query($n: Int) { residents(first: $n) { edges { node { applications(first: $n) { totalCount } } } } }`, `{"n": 2147483647}`, costCap},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := measure(t, c.doc, c.vars).Cost; got != c.cost {
				t.Fatalf("cost %d, want %d", got, c.cost)
			}
		})
	}
}

// TestFragmentsCostLikeTheirSelections: a document costs, nests and counts
// aliases and directives the same whether its selections are spread from
// fragments or written inline, however many spreads there are and wherever
// they are (under connections, nested in other fragments, in inline
// fragments).
func TestFragmentsCostLikeTheirSelections(t *testing.T) {
	const body = `id name children { id }`
	const connBody = `edges { node { id name emergencyContacts { name } } }`
	many := func(n int, format string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, format, i)
		}
		return b.String()
	}
	// Lk spreads L(k+1) twice: L5 is spread 32 times.
	var nested string
	for k := range 5 {
		nested += fmt.Sprintf(`fragment L%d on OrgUnit { children { ...L%d } c: children { ...L%d } } `, k, k+1, k+1)
	}
	nested += `fragment L5 on OrgUnit { id name }`
	var inlineNested func(k int) string
	inlineNested = func(k int) string {
		if k == 5 {
			return `{ orgUnits { id name } }`
		}
		inner := strings.TrimSuffix(strings.TrimPrefix(inlineNested(k+1), `{ orgUnits { `), ` } }`)
		return `{ orgUnits { children { ` + inner + ` } c: children { ` + inner + ` } } }`
	}
	for _, c := range []struct{ name, spread, inline string }{
		{"60 spreads at distinct positions",
			`{ ` + many(60, `a%d: orgUnits { ...F } `) + ` } fragment F on OrgUnit { ` + body + ` }`,
			`{ ` + many(60, `a%d: orgUnits { `+body+` } `) + ` }`},
		{"spreads under a connection multiply",
			`{ residents(first: 100) { edges { node { ...R } } } } fragment R on Resident { applications { ...A } }
			 fragment A on ApplicationConnection { edges { node { id events { note } } } }`,
			`{ residents(first: 100) { edges { node { applications { edges { node { id events { note } } } } } } } }`},
		{"a connection spread from a fragment",
			`{ ...Q } fragment Q on Query { a: residents { ...C } b: residents(first: 100) { ...C } } fragment C on ResidentConnection { ` + connBody + ` }`,
			`{ a: residents { ` + connBody + ` } b: residents(first: 100) { ` + connBody + ` } }`},
		{"nested fragments double at every level", `{ orgUnits { ...L0 } } ` + nested, inlineNested(0)},
		{"spreads inside inline fragments",
			`{ node(id: "x") { ... on Resident { ...R } ... on Application { applicant { ...R } } } } fragment R on Resident { applications(first: 30) { edges { node { id } } } }`,
			`{ node(id: "x") { ... on Resident { applications(first: 30) { edges { node { id } } } } ... on Application { applicant { applications(first: 30) { edges { node { id } } } } } } }`},
		{"directives on spreads and fields",
			`{ me { ...V @include(if: true) ...V @skip(if: false) } } fragment V on Viewer { id @include(if: true) }`,
			`{ me { ... @include(if: true) { id @include(if: true) } ... @skip(if: false) { id @include(if: true) } } }`},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, in := measure(t, c.spread, ""), measure(t, c.inline, "")
			if s != in {
				t.Fatalf("spread %+v, inline %+v", s, in)
			}
		})
	}
}

// TestEverySizeArgumentIsCosted: every list or connection field's Int
// arguments are size arguments the cost model reads, and every connection
// has one; a new `limit: Int` or a connection without `first` would
// otherwise be costed as if it returned listCost rows or one.
func TestEverySizeArgumentIsCosted(t *testing.T) {
	schema := NewExecutableSchema(Config{}).Schema()
	known := map[string]bool{}
	for _, a := range sizeArgs {
		known[a] = true
	}
	checked := 0
	for _, def := range schema.Types {
		if def.Kind != ast.Object && def.Kind != ast.Interface {
			continue
		}
		if strings.HasPrefix(def.Name, "__") {
			continue
		}
		for _, f := range def.Fields {
			returns := schema.Types[f.Type.Name()]
			conn := f.Type.Elem == nil && isConnection(returns)
			if f.Type.Elem == nil && !conn {
				continue
			}
			checked++
			sized := false
			for _, a := range f.Arguments {
				if a.Type.Name() == "Int" && a.Type.Elem == nil {
					if !known[a.Name] {
						t.Errorf("%s.%s(%s: Int): a size argument the cost model does not read (graph/limits.go sizeArgs)", def.Name, f.Name, a.Name)
					}
					sized = true
				}
			}
			if conn && !sized {
				t.Errorf("%s.%s returns a connection without a first argument", def.Name, f.Name)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d list fields checked", checked)
	}
}

func TestDepthAliasesDirectivesThroughFragments(t *testing.T) {
	m := measure(t, `query { ...A ...A } fragment A on Query { a: orgUnits { ...B } } fragment B on OrgUnit { children { b: children { id @skip(if: false) } } }`, "")
	want := Measurement{Depth: 4, Aliases: 4, Directives: 2, Cost: 2 * (1 + listCost*(1+listCost*(1+listCost*1)))}
	if m != want {
		t.Fatalf("got %+v, want %+v", m, want)
	}
}

// TestCostOfSizesTheSchemaDoesNotUseYet: `last`, and a connection field
// with no size argument, on a schema of their own (ours has neither today).
func TestCostOfSizesTheSchemaDoesNotUseYet(t *testing.T) {
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: `
		type Query { items(first: Int, last: Int): ItemConnection! all: ItemConnection! }
		type ItemConnection { edges: [ItemEdge!]! totalCount: Int! }
		type ItemEdge { node: Item! }
		type Item { id: ID! tags: [String!]! }`})
	for _, c := range []struct {
		doc, vars string
		cost      int
	}{
		{`{ items(last: 70) { edges { node { id } } } }`, ``, 1 + 70*(1+(1+1))},
		{`query($n: Int) { items(last: $n) { totalCount } }`, `{"n": "70"}`, 1 + 70},
		{`{ items(first: 5, last: 70) { totalCount } }`, ``, 1 + 70},
		{`{ all { edges { node { id } } } }`, ``, 1 + page.DefaultFirst*(1+(1+1))},
	} {
		q, errs := gqlparser.LoadQuery(schema, c.doc)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", c.doc, errs)
		}
		raw := map[string]any{}
		if c.vars != "" {
			if err := json.Unmarshal([]byte(c.vars), &raw); err != nil {
				t.Fatalf("%s: %v", c.vars, err)
			}
		}
		vars, err := validator.VariableValues(schema, q.Operations[0], raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := Measure(q, q.Operations[0], vars).Cost; got != c.cost {
			t.Errorf("%s %s: cost %d, want %d", c.doc, c.vars, got, c.cost)
		}
	}
}
