package graph

import "github.com/vektah/gqlparser/v2/ast"

// anySelection reports whether f holds for a selection of doc at any
// depth, in its operations or in its fragments: the walk the operation
// checks (noNUL, noDefer) share. A fragment spread is visited itself, and
// its fragment's selections with doc's fragments.
func anySelection(doc *ast.QueryDocument, f func(ast.Selection) bool) bool {
	for _, op := range doc.Operations {
		if anyIn(op.SelectionSet, f) {
			return true
		}
	}
	for _, fr := range doc.Fragments {
		if anyIn(fr.SelectionSet, f) {
			return true
		}
	}
	return false
}

func anyIn(set ast.SelectionSet, f func(ast.Selection) bool) bool {
	for _, s := range set {
		if f(s) {
			return true
		}
		switch x := s.(type) {
		case *ast.Field:
			if anyIn(x.SelectionSet, f) {
				return true
			}
		case *ast.InlineFragment:
			if anyIn(x.SelectionSet, f) {
				return true
			}
		}
	}
	return false
}

// directivesOf is a selection's directives.
func directivesOf(s ast.Selection) ast.DirectiveList {
	switch x := s.(type) {
	case *ast.Field:
		return x.Directives
	case *ast.InlineFragment:
		return x.Directives
	case *ast.FragmentSpread:
		return x.Directives
	}
	return nil
}
