package graph

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// noNUL refuses an operation with a NUL character in any string it
// carries: a variable at any depth, or a string literal anywhere in the
// document (arguments, input objects, lists, directives, fragments).
//
// Why: Postgres text cannot hold NUL. Let through, a login name, a search
// filter or a note with one fails inside the database with 22021 and
// answers INTERNAL, with an ERROR line in the log, for anyone, signed in
// or not. Refused here, it is the caller's BAD_USER_INPUT, before any
// resolver runs.
type noNUL struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = noNUL{}

// ExtensionName implements graphql.HandlerExtension.
func (noNUL) ExtensionName() string { return "NoNUL" }

// Validate implements graphql.HandlerExtension.
func (noNUL) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext checks the variables and the document.
func (noNUL) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	for name, v := range rc.Variables {
		if hasNUL(v) {
			return nulError(ast.Path{ast.PathName("variable"), ast.PathName(name)})
		}
	}
	if rc.Doc == nil {
		return nil
	}
	for _, op := range rc.Doc.Operations {
		if directivesHaveNUL(op.Directives) {
			return nulError(nil)
		}
		for _, d := range op.VariableDefinitions {
			if valueHasNUL(d.DefaultValue) {
				return nulError(nil)
			}
		}
	}
	for _, f := range rc.Doc.Fragments {
		if directivesHaveNUL(f.Directives) {
			return nulError(nil)
		}
	}
	if anySelection(rc.Doc, selectionHasNUL) {
		return nulError(nil)
	}
	return nil
}

func nulError(path ast.Path) *gqlerror.Error {
	err := gqlerror.ErrorPathf(path, "输入中不能含有空字符 NUL (strings may not contain NUL)")
	err.Extensions = map[string]any{"code": CodeBadUserInput}
	return err
}

// hasNUL walks a decoded JSON variable.
func hasNUL(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.IndexByte(x, 0) >= 0
	case []any:
		for _, e := range x {
			if hasNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range x {
			if strings.IndexByte(k, 0) >= 0 || hasNUL(e) {
				return true
			}
		}
	}
	return false
}

// selectionHasNUL looks at one selection's arguments and directives
// (anySelection walks the rest).
func selectionHasNUL(s ast.Selection) bool {
	if f, ok := s.(*ast.Field); ok {
		for _, a := range f.Arguments {
			if valueHasNUL(a.Value) {
				return true
			}
		}
	}
	return directivesHaveNUL(directivesOf(s))
}

func directivesHaveNUL(ds ast.DirectiveList) bool {
	for _, d := range ds {
		for _, a := range d.Arguments {
			if valueHasNUL(a.Value) {
				return true
			}
		}
	}
	return false
}

// valueHasNUL walks a literal: its own text and its list or object children.
func valueHasNUL(v *ast.Value) bool {
	if v == nil {
		return false
	}
	if (v.Kind == ast.StringValue || v.Kind == ast.BlockValue) && strings.IndexByte(v.Raw, 0) >= 0 {
		return true
	}
	for _, c := range v.Children {
		if valueHasNUL(c.Value) {
			return true
		}
	}
	return false
}
