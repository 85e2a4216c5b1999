package graph

import (
	"context"
	"net/http"

	"github.com/99designs/gqlgen/graphql"

	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/problem"
)

// withLanguage puts the request's language in its context: Chinese unless
// Accept-Language prefers English. Every message a person reads is chosen
// from internal/problem's catalog by it, at this boundary only, so domains
// keep writing one message each.
func withLanguage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := problem.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
		next.ServeHTTP(w, r.WithContext(problem.WithLang(r.Context(), l)))
	})
}

// localizeUserErrors translates UserError.message, wherever a payload
// carries one, into the request's language.
func localizeUserErrors(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	fc := graphql.GetFieldContext(ctx)
	if err != nil || fc == nil || fc.Object != "UserError" || fc.Field.Name != "message" {
		return res, err
	}
	msg, ok := res.(string)
	if !ok {
		return res, err
	}
	code := ""
	if fc.Parent != nil {
		switch ue := fc.Parent.Result.(type) {
		case *model.UserError:
			code = string(ue.Code)
		case **model.UserError:
			if *ue != nil {
				code = string((*ue).Code)
			}
		}
	}
	return problem.Message(problem.LangFrom(ctx), code, msg), nil
}

// asSignedIn is ctx for the fields of a Viewer: in login's and
// wechatLogin's payload the request itself is anonymous, and the viewer the
// mutation just signed in is who reads them (AuthPayload.viewer.resident
// answers without UNAUTHENTICATED). Elsewhere a Viewer is the request's own.
func asSignedIn(ctx context.Context, v *auth.Viewer) context.Context {
	if auth.ViewerFrom(ctx) == nil && v != nil {
		return auth.WithViewer(ctx, v)
	}
	return ctx
}
