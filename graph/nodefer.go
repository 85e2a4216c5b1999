package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// noDefer refuses an operation that uses @defer anywhere (on an inline
// fragment or a fragment spread, in the operation or in a fragment).
//
// Why: the schema's prelude declares @defer, so gqlgen accepted it, but
// no transport here delivers incremental payloads: the deferred fields
// came back null, with "hasNext": true and nothing after. Refused, the
// client learns at once; and since nothing is ever deferred, the
// generated marshallers need not build each object's path for it
// (deferredGroup).
type noDefer struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = noDefer{}

// ExtensionName implements graphql.HandlerExtension.
func (noDefer) ExtensionName() string { return "NoDefer" }

// Validate implements graphql.HandlerExtension.
func (noDefer) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext looks for @defer in the document.
func (noDefer) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if rc.Doc != nil && anySelection(rc.Doc, func(s ast.Selection) bool { return directivesOf(s).ForName("defer") != nil }) {
		return deferError()
	}
	return nil
}

func deferError() *gqlerror.Error {
	err := gqlerror.Errorf("不支持 @defer: 结果在一次响应中全部返回 (@defer is not supported: the whole result comes in one response)")
	err.Extensions = map[string]any{"code": CodeBadUserInput}
	return err
}

// deferredGroup is graphql.NewDeferredGroup without the object's response
// path; cmd/gqlgen puts it in every generated object marshaller. The path
// only labels @defer's incremental payloads, which noDefer rules out, and
// building it for every object of a response was 4 % of a residents
// page's server CPU (docs/PERFORMANCE.md).
func deferredGroup(ctx context.Context) graphql.DeferredGroup {
	return graphql.DeferredGroup{FieldSet: graphql.NewFieldSet(nil), Defers: map[string]*graphql.FieldSetView{}, Context: ctx}
}
