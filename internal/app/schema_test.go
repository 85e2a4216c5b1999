package app_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/jinjiang/residents/graph"
	"github.com/jinjiang/residents/internal/testenv"
)

func projectSchema() *ast.Schema { return graph.NewExecutableSchema(graph.Config{}).Schema() }

// TestSchemaIsSupersetOfContract checks every type, field, argument, enum
// value and input field of the client contract against the served schema.
func TestSchemaIsSupersetOfContract(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "contract", "core.graphqls")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("contract not found beside the repository: %v", err)
	}
	contract, gqlErr := gqlparser.LoadSchema(&ast.Source{Name: "core.graphqls", Input: string(src)})
	if gqlErr != nil {
		t.Fatal(gqlErr)
	}
	ours := projectSchema()
	for name, ct := range contract.Types {
		if ct.BuiltIn {
			continue
		}
		ot := ours.Types[name]
		if ot == nil {
			t.Errorf("type %s missing", name)
			continue
		}
		if ot.Kind != ct.Kind {
			t.Errorf("type %s is %s, contract says %s", name, ot.Kind, ct.Kind)
		}
		for _, ev := range ct.EnumValues {
			if ot.EnumValues.ForName(ev.Name) == nil {
				t.Errorf("enum %s lacks %s", name, ev.Name)
			}
		}
		for _, iface := range ct.Interfaces {
			found := false
			for _, i := range ot.Interfaces {
				found = found || i == iface
			}
			if !found {
				t.Errorf("type %s does not implement %s", name, iface)
			}
		}
		for _, cf := range ct.Fields {
			of := ot.Fields.ForName(cf.Name)
			if of == nil {
				t.Errorf("%s.%s missing", name, cf.Name)
				continue
			}
			if ct.Kind == ast.InputObject {
				if of.Type.String() != cf.Type.String() {
					t.Errorf("input %s.%s is %s, contract says %s", name, cf.Name, of.Type, cf.Type)
				}
				continue
			}
			if !outputCompatible(of.Type, cf.Type) {
				t.Errorf("%s.%s is %s, contract says %s", name, cf.Name, of.Type, cf.Type)
			}
			for _, ca := range cf.Arguments {
				oa := of.Arguments.ForName(ca.Name)
				if oa == nil || oa.Type.String() != ca.Type.String() {
					t.Errorf("%s.%s(%s) differs from the contract", name, cf.Name, ca.Name)
				}
			}
			for _, oa := range of.Arguments {
				if cf.Arguments.ForName(oa.Name) == nil && oa.Type.NonNull && oa.DefaultValue == nil {
					t.Errorf("%s.%s adds required argument %s", name, cf.Name, oa.Name)
				}
			}
		}
		if ct.Kind == ast.InputObject {
			for _, of := range ot.Fields {
				if ct.Fields.ForName(of.Name) == nil && of.Type.NonNull && of.DefaultValue == nil {
					t.Errorf("input %s adds required field %s", name, of.Name)
				}
			}
		}
	}
}

// outputCompatible requires the contract's type exactly. A stricter
// (non-null) output would look compatible, but the contract's nullable
// fields are where a viewer who may not read one gets null with an error
// for that field alone; made non-null here, that error would null out the
// parent instead (a provider's redemption lost for a birth date it may not
// read).
func outputCompatible(ours, contract *ast.Type) bool {
	return ours.String() == contract.String()
}

// TestEveryRootFieldNeedsASession walks every root field of the schema and
// proves that, without a session, each answers UNAUTHENTICATED except the
// sign-in mutations.
func TestEveryRootFieldNeedsASession(t *testing.T) {
	e := testenv.New(t)
	s := projectSchema()
	public := map[string]bool{"login": true, "wechatLogin": true, "refreshSession": true}
	roots := []struct {
		op  string
		def *ast.Definition
	}{{"query", s.Query}, {"mutation", s.Mutation}}
	n := 0
	for _, root := range roots {
		for _, f := range root.def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			doc := fmt.Sprintf("%s { %s%s%s }", root.op, f.Name, args(s, f.Arguments), selection(s, f.Type))
			r := e.Do(t, "", doc, nil)
			n++
			if public[f.Name] {
				if r.ErrorCode() == "UNAUTHENTICATED" {
					t.Errorf("%s is public but answered UNAUTHENTICATED", f.Name)
				}
				continue
			}
			if r.ErrorCode() != "UNAUTHENTICATED" {
				t.Errorf("%s %s: want UNAUTHENTICATED, got %.300s", root.op, f.Name, r.Raw)
			}
		}
	}
	if n < 40 {
		t.Fatalf("walked only %d root fields", n)
	}
}

func args(s *ast.Schema, defs ast.ArgumentDefinitionList) string {
	var parts []string
	for _, a := range defs {
		if a.Type.NonNull {
			parts = append(parts, a.Name+": "+value(s, a.Type, 0))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func value(s *ast.Schema, t *ast.Type, depth int) string {
	if t.Elem != nil {
		return "[" + value(s, t.Elem, depth) + "]"
	}
	def := s.Types[t.NamedType]
	switch {
	case def.Kind == ast.Enum:
		return def.EnumValues[0].Name
	case def.Kind == ast.InputObject:
		var parts []string
		for _, f := range def.Fields {
			if f.Type.NonNull && depth < 5 {
				parts = append(parts, f.Name+": "+value(s, f.Type, depth+1))
			}
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	switch t.NamedType {
	case "Int", "Fen":
		return "1"
	case "Float":
		return "1.0"
	case "Boolean":
		return "true"
	case "Date":
		return `"2026-01-05"`
	case "Time":
		return `"2026-01-05T09:00:00+08:00"`
	case "ID":
		return `"T3JnVW5pdDowMTkzMDAwMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDA"`
	}
	return `"x"`
}

func selection(s *ast.Schema, t *ast.Type) string {
	for t.Elem != nil {
		t = t.Elem
	}
	switch s.Types[t.NamedType].Kind {
	case ast.Object, ast.Interface, ast.Union:
		return " { __typename }"
	}
	return ""
}
