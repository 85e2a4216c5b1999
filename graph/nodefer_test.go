package graph

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
)

func TestNoDefer(t *testing.T) {
	for _, c := range []struct {
		name, query string
		refused     bool
	}{
		{"no @defer", `{residents(first:2){edges{node{id ... on Resident{name}}}}}`, false},
		{"@skip is fine", `query($s:Boolean!){residents{edges{node{id name @skip(if:$s)}}}}`, false},
		{"on an inline fragment", `{residents{edges{node{id ... @defer{name}}}}}`, true},
		{"on a spread", `query{residents{edges{node{id ...F @defer}}}} fragment F on Resident{name}`, true},
		{"inside a fragment", `query{residents{edges{...E}}} fragment E on ResidentEdge{node{... @defer(label:"x"){name}}}`, true},
		{"deep in a nested field", `{residents{edges{node{community{... @defer{name}}}}}}`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc, errs := gqlparser.LoadQuery(parsedSchema, c.query)
			if errs != nil {
				t.Fatal(errs)
			}
			err := noDefer{}.MutateOperationContext(context.Background(), &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0]})
			if (err != nil) != c.refused {
				t.Fatalf("refused = %v, want %v", err, c.refused)
			}
			if err != nil && err.Extensions["code"] != CodeBadUserInput {
				t.Errorf("code %v", err.Extensions["code"])
			}
		})
	}
}
