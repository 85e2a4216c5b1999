package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// marshalSlice marshals a list of objects; cmd/gqlgen puts it in place of
// gqlgen's graphql.MarshalSliceConcurrently in every generated list
// marshaller. gqlgen gives each element a goroutine, so that elements
// whose fields wait on a dataloader wait for one batch together. When
// nothing selected under the list can wait (waitless), the elements are
// marshalled in order in the calling goroutine instead: a residents page
// started a hundred goroutines, and growing their stacks as _Resident
// went deep was 11 % of the server's CPU in a profile; in order, a page
// took about a fifth less (docs/PERFORMANCE.md).
// The answer is the same either way; only the scheduling differs.
func marshalSlice(ctx context.Context, sel ast.SelectionSet, n int, workerLimit int64, omitPanicHandler bool,
	marshalElement func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
	if n < 2 || !waitless(sel, false) {
		return graphql.MarshalSliceConcurrently(ctx, n, workerLimit, omitPanicHandler, marshalElement)
	}
	ret := make(graphql.Array, n)
	for i := range n {
		ret[i] = marshalOne(ctx, i, omitPanicHandler, marshalElement)
	}
	return ret
}

// marshalOne is one element of marshalSlice, with the field context and
// the panic handling graphql.MarshalSliceConcurrently gives it.
func marshalOne(ctx context.Context, i int, omitPanicHandler bool, marshalElement func(ctx context.Context, i int) graphql.Marshaler) (m graphql.Marshaler) {
	ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &i})
	if !omitPanicHandler {
		defer func() {
			if r := recover(); r != nil {
				graphql.AddError(ctx, graphql.Recover(ctx, r))
				m = graphql.Null
			}
		}()
	}
	return marshalElement(ctx, i)
}

// waitless reports whether nothing in sel, at any depth, may wait on a
// query: each field is a plain one (not in resolverFields, which
// cmd/gqlgen writes), a resolver that computes in memory
// (answeredInMemory), or, directly on a residents page's nodes
// (prefetched: sel is a Resident's), one the page resolver loaded before
// it returned (pagePrefetched). It
// reads the document alone, not the variables: a field under @skip or
// @include counts as selected, so the answer errs towards goroutines.
func waitless(sel ast.SelectionSet, prefetched bool) bool {
	for _, s := range sel {
		switch s := s.(type) {
		case *ast.Field:
			if s.ObjectDefinition == nil || s.ObjectDefinition.Kind != ast.Object {
				if s.Name != "__typename" {
					return false // on an interface: its types' resolvers are not looked at
				}
				continue
			}
			t := s.ObjectDefinition.Name
			if resolverFields[t][s.Name] && !answeredInMemory(t, s.Name) && !(prefetched && pagePrefetched[s.Name]) {
				return false
			}
			if !waitless(s.SelectionSet, t == "ResidentEdge" && s.Name == "node") {
				return false
			}
		case *ast.InlineFragment:
			if !waitless(s.SelectionSet, prefetched) {
				return false
			}
		case *ast.FragmentSpread:
			if s.Definition == nil || !waitless(s.Definition.SelectionSet, prefetched) {
				return false
			}
		}
	}
	return true
}

// answeredInMemory reports whether resolver field t.field never queries:
// it computes from the object it is on and the viewer. Every object's id
// is one (its relay ID: TestIDResolversOnlyEncode holds them to that), and
// so are a resident's age and viewerCan.
func answeredInMemory(t, field string) bool {
	return field == "id" || t == "Resident" && (field == "age" || field == "viewerCan")
}
