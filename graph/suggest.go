package graph

import (
	"context"
	"regexp"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// withoutSuggestions wraps the presenter for production: validation
// messages lose every hint at a name the caller did not write. gqlgen's
// SetDisableSuggestion covers fields only; gqlparser still suggests
// arguments, input fields and enum values ("Did you mean …"), and names
// the expected type when a variable's type is unknown. With introspection
// off, those hints would rebuild the schema one guess at a time.
func withoutSuggestions(next graphql.ErrorPresenterFunc) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		out := next(ctx, err)
		if out != nil && out.Extensions["code"] == CodeValidationFailed {
			out.Message = scrubSuggestions(out.Message)
		}
		return out
	}
}

var expectingType = regexp.MustCompile(` used in position expecting type "[^"]*"`)

// scrubSuggestions drops a "Did you mean …" sentence and an expected type.
func scrubSuggestions(msg string) string {
	if i := strings.Index(msg, " Did you mean"); i >= 0 {
		msg = msg[:i]
	}
	return expectingType.ReplaceAllString(msg, " used in a position of another type")
}
