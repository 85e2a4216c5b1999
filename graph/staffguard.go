package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"

	"github.com/jinjiang/residents/internal/auth"
)

// guardStaffUsers applies the staff-read rule of node(id:)
// (auth.Service.MayReadUser: ADMIN, AUDITOR, or the user themself) to every
// field whose type is StaffUser or a list of it, wherever it sits in the
// schema: EmergencyCall.answeredBy, StaffUserPayload.user, and any field
// added later. It decides by the field's schema type, so a new field cannot
// forget it. A viewer who may not read the account gets null with a
// FORBIDDEN error for that field alone; every such field is nullable
// (TestStaffUserFieldsAreGuarded enumerates them), so the parent stays.
// The display name of whoever took a step stays readable where a trail
// shows it (CallEvent.actor, ApplicationEvent.actorName).
func guardStaffUsers(a *auth.Service) graphql.FieldMiddleware {
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		fc := graphql.GetFieldContext(ctx)
		if fc == nil || fc.Field.Field == nil || fc.Field.Definition == nil || fc.Field.Definition.Type.Name() != TypeStaffUser {
			return next(ctx)
		}
		res, err := next(ctx)
		if err != nil || res == nil {
			return res, err
		}
		switch u := res.(type) {
		case *auth.User:
			if u != nil {
				if err := a.RequireReadUser(ctx, u.ID); err != nil {
					return nil, err
				}
			}
		case []*auth.User:
			for _, x := range u {
				if x == nil {
					continue
				}
				if err := a.RequireReadUser(ctx, x.ID); err != nil {
					return nil, err
				}
			}
		default:
			// Fail closed: a StaffUser field bound to another Go type must
			// be taught here before it can answer.
			return nil, fmt.Errorf("graph: %s.%s resolved to %T, which the staff guard cannot check", fc.Object, fc.Field.Name, res)
		}
		return res, nil
	}
}
