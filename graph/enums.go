package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// exactEnums refuses an operation whose variables hold an enum value that
// is not spelled exactly as in the schema.
//
// Why: gqlparser checks enum values in variables ignoring case ("severe"
// passes as SEVERE), and the unmarshalling gqlgen generates for the
// enum_values binding maps a name it does not know to the empty value
// without an error. Without this check a lower-case enum in a variable
// reaches the services as "" (a filter that matches nothing, a write the
// database refuses). Literals in the document are checked exactly by the
// validator already.
type exactEnums struct{ schema *ast.Schema }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = (*exactEnums)(nil)

// ExtensionName implements graphql.HandlerExtension.
func (*exactEnums) ExtensionName() string { return "ExactEnums" }

// Validate implements graphql.HandlerExtension; it keeps the schema.
func (e *exactEnums) Validate(es graphql.ExecutableSchema) error {
	e.schema = es.Schema()
	return nil
}

// MutateOperationContext checks every variable against its declared type.
func (e *exactEnums) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if rc.Operation == nil {
		return nil
	}
	for _, d := range rc.Operation.VariableDefinitions {
		if err := e.check(rc.Variables[d.Variable], d.Type, ast.Path{ast.PathName("variable"), ast.PathName(d.Variable)}); err != nil {
			return err
		}
	}
	return nil
}

// check walks v (a value the validator already accepted for typ) down
// lists and input objects to its enum values.
func (e *exactEnums) check(v any, typ *ast.Type, path ast.Path) *gqlerror.Error {
	if v == nil || typ == nil {
		return nil
	}
	if typ.Elem != nil {
		list, ok := v.([]any)
		if !ok {
			// A single value stands for a list of one.
			return e.check(v, typ.Elem, path)
		}
		for i, x := range list {
			if err := e.check(x, typ.Elem, append(path, ast.PathIndex(i))); err != nil {
				return err
			}
		}
		return nil
	}
	def := e.schema.Types[typ.NamedType]
	if def == nil {
		return nil
	}
	switch def.Kind {
	case ast.Enum:
		if s, ok := v.(string); ok && def.EnumValues.ForName(s) == nil {
			err := gqlerror.ErrorPathf(path, "%s is not a valid %s", s, def.Name)
			err.Extensions = map[string]any{"code": CodeValidationFailed}
			return err
		}
	case ast.InputObject:
		m, _ := v.(map[string]any)
		for _, f := range def.Fields {
			if err := e.check(m[f.Name], f.Type, append(path, ast.PathName(f.Name))); err != nil {
				return err
			}
		}
	}
	return nil
}
