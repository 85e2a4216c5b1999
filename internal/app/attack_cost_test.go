package app_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jinjiang/residents/internal/testenv"
)

// The attack suite's cases on the cost limit (graph/limits.go): documents
// that ask for more than the limit through a size the old measure did not
// read. Each is refused with the complexity message; a cheap twin of the
// same document still runs, so the refusal is the cost, not the shape.
// The harness is in attack_test.go.

func costAttacks() []attack {
	refused := func(doc string, cheapVars map[string]any) func(*testing.T, *suite, *testenv.Response) {
		return func(t *testing.T, s *suite, r *testenv.Response) {
			t.Helper()
			if len(r.Data) > 0 {
				t.Fatalf("executed: %.300s", r.Raw)
			}
			if cheapVars == nil {
				return
			}
			if c := s.e.Do(t, s.admin, doc, cheapVars); len(c.Errors) > 0 || len(c.Data) == 0 {
				t.Fatalf("the cheap twin (%v) does not run: %.300s", cheapVars, c.Raw)
			}
		}
	}
	// Two nested connections of $n rows: 100 x 100 application rows.
	const nestedN = `query($n: Int) { residents(first: $n) { edges { node { applications(first: $n) { edges { node { id events { note } } } } } } } }`
	// redemptions(first: Int = 10) is a list, not a connection.
	const redemptionsN = `query($n: Int) { residents(first: 100) { edges { node { redemptions(first: $n) { id provider { name } resident { name } } } } } }`
	// Three levels of connections with no first: 20 x 20 x 20 rows.
	const noFirst = `{ residents { edges { node { applications { edges { node { applicant { emergencyCalls { edges { node { id } } } } } } } } } } }`
	// 30 aliases (the limit) of one connection without first.
	var aliases strings.Builder
	aliases.WriteString("{ ")
	for i := range 30 {
		fmt.Fprintf(&aliases, "a%d: residents { edges { node { applications { totalCount } emergencyCalls { totalCount } } } } ", i)
	}
	aliases.WriteString("}")
	// F spread 60 times, at 60 positions: the old measure counted a
	// fragment's first 51 spreads only.
	var spreads strings.Builder
	spreads.WriteString("{ ")
	for i := range 30 {
		fmt.Fprintf(&spreads, "a%d: orgUnits { ...F children { ...F } } ", i)
	}
	spreads.WriteString("} fragment F on OrgUnit { id kind code name parent { id name code } }")
	return []attack{
		{name: "cost: first as a string variable", run: gql(nestedN, map[string]any{"n": "100"})("admin"),
			status: 200, code: "BAD_USER_INPUT", msg: "查询复杂度", check: refused(nestedN, map[string]any{"n": "5"})},
		{name: "cost: list size as a string variable", run: gql(redemptionsN, map[string]any{"n": "100"})("admin"),
			status: 200, code: "BAD_USER_INPUT", msg: "查询复杂度", check: refused(redemptionsN, map[string]any{"n": "5"})},
		{name: "cost: connections without first", run: gql(noFirst, nil)("admin"),
			status: 200, code: "BAD_USER_INPUT", msg: "查询复杂度", check: refused(noFirst, nil)},
		{name: "cost: 30 aliases of a connection without first", run: gql(aliases.String(), nil)("admin"),
			status: 200, code: "BAD_USER_INPUT", msg: "查询复杂度", check: refused(aliases.String(), nil)},
		{name: "cost: a fragment's 52nd spread", run: gql(spreads.String(), nil)("admin"),
			status: 200, code: "BAD_USER_INPUT", msg: "查询复杂度", check: refused(spreads.String(), nil)},
	}
}
