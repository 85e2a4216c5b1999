package app_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/vektah/gqlparser/v2/ast"
)

// TestSchemaIsDocumented: generated clients get their docs and label maps
// from the schema, so every root field and each of its arguments has a
// description, and every enum value a Chinese label (its description
// starts with, or is, the Chinese name people read).
func TestSchemaIsDocumented(t *testing.T) {
	s := projectSchema()
	for _, root := range []*ast.Definition{s.Query, s.Mutation, s.Subscription} {
		if root == nil {
			continue
		}
		for _, f := range root.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			if strings.TrimSpace(f.Description) == "" {
				t.Errorf("%s.%s has no description", root.Name, f.Name)
			}
			for _, a := range f.Arguments {
				if strings.TrimSpace(a.Description) == "" {
					t.Errorf("%s.%s(%s:) has no description", root.Name, f.Name, a.Name)
				}
			}
		}
	}
	for _, def := range s.Types {
		if def.Kind != ast.Enum || def.BuiltIn || strings.HasPrefix(def.Name, "__") {
			continue
		}
		for _, v := range def.EnumValues {
			if !hasHan(v.Description) {
				t.Errorf("enum %s.%s has no Chinese label", def.Name, v.Name)
			}
		}
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}
