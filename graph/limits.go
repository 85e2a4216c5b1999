package graph

import (
	"context"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/jinjiang/residents/internal/page"
)

// Limits bounds what one operation may ask for. A paged field (one with a
// `first` or `last` argument, or returning a connection) costs its page
// size times what each row selects; any other list costs listCost rows; so
// one cheap-looking query cannot fan out into millions of rows.
type Limits struct {
	MaxDepth      int
	MaxAliases    int
	MaxDirectives int
	MaxComplexity int
	// IntrospectionExempt lets an operation that asks only for __schema,
	// __type and __typename through (development: the standard
	// introspection query of codegen tools and GraphiQL is depth 15).
	IntrospectionExempt bool
}

// DefaultLimits are the production limits.
var DefaultLimits = Limits{MaxDepth: 12, MaxAliases: 30, MaxDirectives: 20, MaxComplexity: 25000}

// listCost is what a list without a size argument is assumed to hold.
const listCost = 10

// sizeArgs are the arguments that bound how many rows a field returns. A
// list or connection field with another Int argument fails
// TestEverySizeArgumentIsCosted: the cost model would not see it.
var sizeArgs = []string{"first", "last"}

// costCap keeps the sums and products from overflowing: anything above it
// is over every limit anyway.
const costCap = 1 << 40

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
func (l Limits) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if rc.Operation == nil {
		return nil
	}
	if l.IntrospectionExempt && onlyIntrospection(rc.Doc, rc.Operation.SelectionSet, map[string]bool{}) {
		return nil
	}
	m := Measure(rc.Doc, rc.Operation, rc.Variables)
	switch {
	case m.Depth > l.MaxDepth:
		return limitError(fmt.Sprintf("query depth %d exceeds the limit of %d", m.Depth, l.MaxDepth))
	case m.Aliases > l.MaxAliases:
		return limitError(fmt.Sprintf("%d aliases exceed the limit of %d", m.Aliases, l.MaxAliases))
	case m.Directives > l.MaxDirectives:
		return limitError(fmt.Sprintf("%d directives exceed the limit of %d", m.Directives, l.MaxDirectives))
	case m.Cost > l.MaxComplexity:
		return limitError(fmt.Sprintf("query complexity %d exceeds the limit of %d", m.Cost, l.MaxComplexity))
	}
	return nil
}

func limitError(msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": CodeBadUserInput}}
}

// Measurement is what Limits compares with its maximums.
type Measurement struct {
	// Depth is the deepest field nesting (the root fields are depth 1).
	Depth int
	// Aliases and Directives count every use, a fragment's once per spread.
	Aliases, Directives int
	// Cost is one per field per row it is resolved for.
	Cost int
}

// Measure measures an operation of a validated document with its coerced
// variables (graphql.OperationContext.Variables). Sizes are read the way
// the generated code reads arguments (field.ArgumentMap: the variable, the
// literal or the schema default) and converted with graphql.UnmarshalInt,
// the Int unmarshaller the resolvers get: a variable sent as "100" is
// costed as the 100 rows it asks for.
func Measure(doc *ast.QueryDocument, op *ast.OperationDefinition, vars map[string]any) Measurement {
	w := walker{doc: doc, vars: vars, frags: map[string]*fragmentCost{}}
	m := w.selection(op.SelectionSet)
	m.Depth++ // the root selection set is depth 1
	m.Directives = satAdd(m.Directives, len(op.Directives))
	return m
}

// fragmentCost is a fragment's measurement relative to where it is spread
// (Depth 0 when it selects leaf fields only), kept once measured; not done
// measured (done false), which only a cycle would meet: validation refuses
// cycles before the limits run, and one that got here costs costCap.
type fragmentCost struct {
	m    Measurement
	done bool
}

type walker struct {
	doc   *ast.QueryDocument
	vars  map[string]any
	frags map[string]*fragmentCost
}

// selection measures a selection set relative to its own level: Depth is
// how many levels of fields lie below it (0 for leaf fields only).
func (w *walker) selection(set ast.SelectionSet) Measurement {
	var total Measurement
	for _, sel := range set {
		var m Measurement
		switch s := sel.(type) {
		case *ast.Field:
			m = w.field(s)
		case *ast.InlineFragment:
			m = w.selection(s.SelectionSet)
			m.Directives = satAdd(m.Directives, len(s.Directives))
		case *ast.FragmentSpread:
			m = w.spread(s)
		}
		total.Depth = max(total.Depth, m.Depth)
		total.Aliases = satAdd(total.Aliases, m.Aliases)
		total.Directives = satAdd(total.Directives, m.Directives)
		total.Cost = satAdd(total.Cost, m.Cost)
	}
	return total
}

func (w *walker) field(f *ast.Field) Measurement {
	m := Measurement{Directives: len(f.Directives)}
	if f.Alias != "" && f.Alias != f.Name {
		m.Aliases = 1
	}
	child := Measurement{}
	if len(f.SelectionSet) > 0 {
		child = w.selection(f.SelectionSet)
		child.Depth++
	}
	m.Depth = child.Depth
	m.Aliases = satAdd(m.Aliases, child.Aliases)
	m.Directives = satAdd(m.Directives, child.Directives)
	m.Cost = satAdd(1, satMul(w.rows(f), child.Cost))
	return m
}

// spread measures a fragment once and charges it at every spread.
func (w *walker) spread(s *ast.FragmentSpread) Measurement {
	fc := w.frags[s.Name]
	if fc == nil {
		fc = &fragmentCost{}
		w.frags[s.Name] = fc
		if f := w.doc.Fragments.ForName(s.Name); f != nil {
			fc.m = w.selection(f.SelectionSet)
			fc.m.Directives = satAdd(fc.m.Directives, len(f.Directives))
		}
		fc.done = true
	} else if !fc.done {
		return Measurement{Cost: costCap}
	}
	m := fc.m
	m.Directives = satAdd(m.Directives, len(s.Directives))
	return m
}

// rows is how many times a field's selection is resolved: the page size of
// a paged field, listCost for another list, 1 otherwise. The edges of a
// connection are the connection's page, already counted by the field that
// returned it.
func (w *walker) rows(f *ast.Field) int {
	def := f.Definition
	if def == nil || def.Type == nil {
		return 1
	}
	if n, paged := w.pageSize(f); paged {
		return n
	}
	if def.Type.Elem == nil {
		return 1
	}
	if f.Name == "edges" && isConnection(f.ObjectDefinition) {
		return 1
	}
	return listCost
}

// pageSize is the page a paged field returns: the largest size argument it
// is given, or the default page size the resolvers use (page.New) when it
// is given none. Not paged: a field without a size argument that does not
// return a connection.
func (w *walker) pageSize(f *ast.Field) (int, bool) {
	def := f.Definition
	paged := false
	size, given := 0, false
	for _, name := range sizeArgs {
		ad := def.Arguments.ForName(name)
		if ad == nil {
			continue
		}
		paged = true
		v, ok := argValue(f, ad, w.vars)
		if !ok || v == nil {
			continue
		}
		n, err := graphql.UnmarshalInt(v)
		if err != nil {
			// The field fails with this error instead of resolving.
			continue
		}
		size, given = max(size, n), true
	}
	if !paged && (def.Type.Elem != nil || !strings.HasSuffix(def.Type.NamedType, "Connection")) {
		return 0, false
	}
	if !given {
		return page.DefaultFirst, true
	}
	return min(max(size, 0), costCap), true
}

// argValue is a field's argument as field.ArgumentMap reads it for the
// resolver: a variable's coerced value when the variable was given, else
// the literal, else the argument's schema default.
func argValue(f *ast.Field, def *ast.ArgumentDefinition, vars map[string]any) (any, bool) {
	if a := f.Arguments.ForName(def.Name); a != nil && a.Value != nil {
		if a.Value.Kind == ast.Variable {
			if v, ok := vars[a.Value.Raw]; ok {
				return v, true
			}
		} else if v, err := a.Value.Value(vars); err == nil {
			return v, true
		}
	}
	if def.DefaultValue != nil {
		if v, err := def.DefaultValue.Value(vars); err == nil {
			return v, true
		}
	}
	return nil, false
}

// isConnection reports whether a type is a Relay connection: named
// …Connection, with edges.
func isConnection(def *ast.Definition) bool {
	return def != nil && strings.HasSuffix(def.Name, "Connection") && def.Fields.ForName("edges") != nil
}

func satAdd(a, b int) int {
	if a+b > costCap {
		return costCap
	}
	return a + b
}

func satMul(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a > costCap/b {
		return costCap
	}
	return a * b
}

// onlyIntrospection reports whether every root field of a selection set
// (through fragments) is __schema, __type or __typename: such an operation
// reads the schema, never data, so its size is bounded by the schema's.
func onlyIntrospection(doc *ast.QueryDocument, set ast.SelectionSet, seen map[string]bool) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name != "__schema" && s.Name != "__type" && s.Name != "__typename" {
				return false
			}
		case *ast.InlineFragment:
			if !onlyIntrospection(doc, s.SelectionSet, seen) {
				return false
			}
		case *ast.FragmentSpread:
			if seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			f := doc.Fragments.ForName(s.Name)
			if f == nil || !onlyIntrospection(doc, f.SelectionSet, seen) {
				return false
			}
		}
	}
	return len(set) > 0
}
