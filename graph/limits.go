package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Limits bounds what one operation may ask for. Lists cost by their `first`
// argument (or listCost when they have none), so one cheap-looking query
// cannot fan out into millions of rows.
type Limits struct {
	MaxDepth      int
	MaxAliases    int
	MaxDirectives int
	MaxComplexity int
}

// DefaultLimits are the production limits.
var DefaultLimits = Limits{MaxDepth: 12, MaxAliases: 30, MaxDirectives: 20, MaxComplexity: 25000}

const listCost = 10

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = Limits{}

// ExtensionName implements graphql.HandlerExtension.
func (Limits) ExtensionName() string { return "Limits" }

// Validate implements graphql.HandlerExtension.
func (Limits) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext measures the operation and refuses it when it is
// over any limit.
func (l Limits) MutateOperationContext(ctx context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if rc.Operation == nil {
		return nil
	}
	w := walker{doc: rc.Doc, vars: rc.Variables, seen: map[string]int{}}
	cost := w.selection(rc.Operation.SelectionSet, 1)
	w.directives += len(rc.Operation.Directives)
	switch {
	case w.maxDepth > l.MaxDepth:
		return limitError(fmt.Sprintf("query depth %d exceeds the limit of %d", w.maxDepth, l.MaxDepth))
	case w.aliases > l.MaxAliases:
		return limitError(fmt.Sprintf("%d aliases exceed the limit of %d", w.aliases, l.MaxAliases))
	case w.directives > l.MaxDirectives:
		return limitError(fmt.Sprintf("%d directives exceed the limit of %d", w.directives, l.MaxDirectives))
	case cost > l.MaxComplexity:
		return limitError(fmt.Sprintf("query complexity %d exceeds the limit of %d", cost, l.MaxComplexity))
	}
	return nil
}

func limitError(msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": CodeBadUserInput}}
}

type walker struct {
	doc        *ast.QueryDocument
	vars       map[string]any
	maxDepth   int
	aliases    int
	directives int
	// seen guards against fragment cycles (validation forbids them; be safe).
	seen map[string]int
}

func (w *walker) selection(set ast.SelectionSet, depth int) int {
	if depth > w.maxDepth {
		w.maxDepth = depth
	}
	if depth > 64 {
		return 1 << 20
	}
	total := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			w.directives += len(s.Directives)
			if s.Alias != "" && s.Alias != s.Name {
				w.aliases++
			}
			mult := 1
			// A connection's edges are already counted by its `first`.
			if s.Definition != nil && s.Definition.Type != nil && s.Definition.Type.Elem != nil && s.Name != "edges" {
				mult = listCost
			}
			if arg := s.Arguments.ForName("first"); arg != nil {
				if v, err := arg.Value.Value(w.vars); err == nil {
					if n, ok := toInt(v); ok && n > 0 {
						mult = n
					}
				}
			}
			child := 0
			if len(s.SelectionSet) > 0 {
				child = w.selection(s.SelectionSet, depth+1)
			}
			total += 1 + mult*child
		case *ast.InlineFragment:
			w.directives += len(s.Directives)
			total += w.selection(s.SelectionSet, depth)
		case *ast.FragmentSpread:
			w.directives += len(s.Directives)
			if w.seen[s.Name] > 50 {
				continue
			}
			w.seen[s.Name]++
			if f := w.doc.Fragments.ForName(s.Name); f != nil {
				total += w.selection(f.SelectionSet, depth)
			}
		}
		if total > 1<<30 {
			return total
		}
	}
	return total
}

func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int64:
		return int(n), true
	case int:
		return n, true
	case float64:
		return int(n), true
	case interface{ Int64() (int64, error) }:
		i, err := n.Int64()
		return int(i), err == nil
	}
	return 0, false
}
