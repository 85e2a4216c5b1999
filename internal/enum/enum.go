// Package enum reads and writes the domains' enum types (named strings) as
// GraphQL enum values, so domain packages can bind them in gqlgen.yml
// without importing gqlgen.
package enum

import (
	"fmt"
	"io"
	"strconv"
)

// Write writes s as a quoted GraphQL enum value.
func Write(w io.Writer, s string) { _, _ = io.WriteString(w, strconv.Quote(s)) }

// Parse returns the member of valid that v names, or an error.
func Parse[T ~string](v any, valid ...T) (T, error) {
	s, _ := v.(string)
	for _, x := range valid {
		if string(x) == s {
			return x, nil
		}
	}
	var zero T
	return zero, fmt.Errorf("%q is not a valid value", s)
}
