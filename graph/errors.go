package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/problem"
)

// Transport error codes of the contract (extensions.code).
const (
	CodeUnauthenticated    = "UNAUTHENTICATED"
	CodeForbidden          = "FORBIDDEN"
	CodeBadUserInput       = "BAD_USER_INPUT"
	CodeServiceUnavailable = "SERVICE_UNAVAILABLE"
	CodeInternal           = "INTERNAL"
	// CodeValidationFailed is a document or variable the schema refuses:
	// gqlgen's own code for its validation errors.
	CodeValidationFailed = errcode.ValidationFailed
	// CodeTooManyAttempts is a throttled query (the UserErrorCode's name).
	CodeTooManyAttempts = "TOO_MANY_ATTEMPTS"
)

// Unavailable is set on the request context when any error of the request
// was SERVICE_UNAVAILABLE, so the HTTP layer answers 503.
type Unavailable struct{ Set bool }

type unavailableKey struct{}

// WithUnavailableFlag returns ctx carrying a flag the presenter sets.
func WithUnavailableFlag(ctx context.Context, f *Unavailable) context.Context {
	return context.WithValue(ctx, unavailableKey{}, f)
}

// ErrorPresenter is the one place errors become client-visible. Known
// errors get their code and a safe message; anything else is logged with the
// request id and returned as INTERNAL with that id, never with its text.
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && gqlErr.Err == nil {
			// Parse and validation errors from gqlparser: already client-safe.
			if gqlErr.Extensions == nil {
				gqlErr.Extensions = map[string]any{}
			}
			if _, ok := gqlErr.Extensions["code"]; !ok {
				gqlErr.Extensions["code"] = CodeValidationFailed
			}
			code, _ := gqlErr.Extensions["code"].(string)
			gqlErr.Message = localizeTransport(ctx, code, gqlErr.Message)
			return gqlErr
		}
		pres := graphql.DefaultErrorPresenter(ctx, err)
		cause := err
		if gqlErr != nil && gqlErr.Err != nil {
			cause = gqlErr.Err
		}
		code, msg := classify(cause)
		if code == CodeInternal {
			log.ErrorContext(ctx, "internal error", "request_id", auth.RequestID(ctx), "path", pres.Path.String(), "err", cause.Error())
			msg = "internal error; quote request id " + auth.RequestID(ctx)
		}
		if code == CodeServiceUnavailable {
			log.WarnContext(ctx, "dependency unavailable", "request_id", auth.RequestID(ctx), "err", cause.Error())
			if f, ok := ctx.Value(unavailableKey{}).(*Unavailable); ok {
				f.Set = true
			}
		}
		pres.Message = localizeTransport(ctx, code, msg)
		pres.Extensions = map[string]any{"code": code}
		if code == CodeInternal || code == CodeServiceUnavailable {
			pres.Extensions["requestId"] = auth.RequestID(ctx)
		}
		return pres
	}
}

// localizeTransport is a GraphQL error's message in the request's language.
// gqlparser's own validation messages (for the developer of a client, not
// for the person using it) are not in the catalog: in Chinese they are
// prefixed with what they are and kept, since they name the schema's fields.
func localizeTransport(ctx context.Context, code, msg string) string {
	l := problem.LangFrom(ctx)
	if out, ok := problem.Localize(l, msg); ok {
		return out
	}
	if code == CodeValidationFailed && l == problem.Chinese {
		return "请求不符合接口定义: " + msg
	}
	return problem.Message(l, code, msg)
}

func classify(err error) (code, msg string) {
	var bad interface{ Unwrap() error }
	switch {
	case errors.Is(err, problem.ErrUnauthenticated):
		return CodeUnauthenticated, "authentication required"
	case errors.Is(err, problem.ErrForbidden):
		if errors.As(err, &bad) {
			return CodeForbidden, err.Error()
		}
		return CodeForbidden, "not allowed"
	case errors.Is(err, problem.ErrBadInput):
		if errors.As(err, &bad) {
			return CodeBadUserInput, err.Error()
		}
		return CodeBadUserInput, "bad input"
	case errors.Is(err, problem.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return CodeServiceUnavailable, "service temporarily unavailable; retry shortly"
	}
	if ues, ok := problem.AsUserErrors(err); ok && len(ues) > 0 {
		// A business failure where the field has no userErrors to carry it.
		// A throttle keeps its own code, so clients can tell "wait" from
		// "fix the input".
		if ues[0].Code == problem.TooManyAttempts {
			return CodeTooManyAttempts, ues[0].Message
		}
		return CodeBadUserInput, ues[0].Message
	}
	return CodeInternal, ""
}

// RecoverFunc turns a panic into an INTERNAL error and logs the stack
// server-side only.
func RecoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "request_id", auth.RequestID(ctx), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return errors.New("panic")
	}
}

// userErrors splits a service error: business failures become the
// payload's userErrors (nil error), anything else is returned as is.
func userErrors(err error) ([]*model.UserError, error) {
	if err == nil {
		return []*model.UserError{}, nil
	}
	ues, ok := problem.AsUserErrors(err)
	if !ok {
		return nil, err
	}
	out := make([]*model.UserError, len(ues))
	for i, ue := range ues {
		out[i] = &model.UserError{Field: ue.Field, Message: ue.Message, Code: model.UserErrorCode(ue.Code)}
	}
	return out, nil
}
