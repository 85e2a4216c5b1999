package graph

import (
	"context"
	"errors"
	"reflect"
	"slices"

	"github.com/99designs/gqlgen/graphql"

	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/internal/problem"
)

var userErrorsType = reflect.TypeOf([]*model.UserError(nil))

// mutationRefusals gives every refusal of a mutation one shape, whatever
// the domain returned:
//
//   - a wrong role or reach (FORBIDDEN) comes back as the payload's
//     userErrors entry with code FORBIDDEN and, as before, as a GraphQL
//     error with extensions.code FORBIDDEN: a client reading either sees it,
//     and the payload is not lost;
//   - every userErrors field path starts at an argument's name: a path a
//     domain wrote relative to the mutation's only argument (["amountFen"]
//     for input.amountFen) gets that argument's name in front.
//
// Only root Mutation fields whose payload has userErrors are touched.
func mutationRefusals(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Object != "Mutation" || fc.Parent == nil || fc.Parent.Parent != nil {
		return next(ctx)
	}
	res, err := next(ctx)
	ues := userErrorsOf(res)
	if !ues.IsValid() {
		return res, err
	}
	if err != nil {
		if !errors.Is(err, problem.ErrForbidden) {
			return res, err
		}
		graphql.AddError(ctx, err)
		payload := reflect.New(reflect.TypeOf(res).Elem())
		msg := problem.Message(problem.LangFrom(ctx), string(problem.NotPermitted), err.Error())
		userErrorsOf(payload.Interface()).Set(reflect.ValueOf([]*model.UserError{{
			Field: []string{}, Message: msg, Code: model.UserErrorCode(problem.NotPermitted)}}))
		return payload.Interface(), nil
	}
	if fc.Field.Definition == nil {
		return res, nil
	}
	args := fc.Field.Definition.Arguments
	for _, ue := range ues.Interface().([]*model.UserError) {
		if len(ue.Field) == 0 || args.ForName(ue.Field[0]) != nil {
			continue
		}
		if len(args) == 1 {
			ue.Field = append([]string{args[0].Name}, ue.Field...)
		}
	}
	return res, nil
}

// userErrorsOf is the UserErrors field of a payload (a pointer to a
// generated payload struct, possibly a typed nil), or the zero Value.
func userErrorsOf(res any) reflect.Value {
	v := reflect.ValueOf(res)
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.Type().Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	f, ok := v.Type().Elem().FieldByName("UserErrors")
	if !ok || f.Type != userErrorsType || !slices.Equal(f.Index, []int{f.Index[0]}) {
		return reflect.Value{}
	}
	if v.IsNil() {
		// A typed nil: the payload type is known, the value is not there.
		return reflect.New(v.Type().Elem()).Elem().FieldByIndex(f.Index)
	}
	return v.Elem().FieldByIndex(f.Index)
}
