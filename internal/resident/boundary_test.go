package resident_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// registrySQL matches SQL that names the residents table: FROM, JOIN,
// UPDATE or INTO residents. GORM's Table("residents") is caught apart.
var registrySQL = regexp.MustCompile(`(?i)\b(from|join|update|into)\s+residents\b`)

// registryReaders are the files outside internal/resident still allowed to
// name the residents table, each with why.
var registryReaders = map[string]string{
	// Tests' fixtures insert residents directly.
	"internal/testenv/resident.go": "test fixtures",
	// Demo data only: certificate numbers embed the decrypted ID number.
	"internal/disability/seed.go": "demo certificates",
	// The load generator's same-stack baseline reads a resident by primary
	// key with no domain code on purpose: it is the floor to compare with.
	"internal/baseline/resolver.go": "load-test baseline",
	"cmd/loadgen/baseline.go":       "load-test baseline",
}

// TestOnlyResidentReadsTheRegistry: other domains read resident facts
// through the resident_facts view or the statements internal/resident
// exports (facts.go), never the residents table, so the registry can
// change behind one package. It scans the string literals of every
// non-test Go file of the module outside internal/resident.
func TestOnlyResidentReadsTheRegistry(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "internal/resident" || strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") || strings.HasSuffix(rel, ".generated.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				if call, ok := n.(*ast.CallExpr); ok && isTableCall(call) {
					lit, _ = call.Args[0].(*ast.BasicLit)
					if s := unquote(lit); len(strings.Fields(s)) > 0 && strings.Fields(s)[0] == "residents" {
						report(t, rel, fset.Position(lit.Pos()), seen)
					}
				}
				return true
			}
			if !registrySQL.MatchString(unquote(lit)) {
				return true
			}
			report(t, rel, fset.Position(lit.Pos()), seen)
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for file, why := range registryReaders {
		if !seen[file] {
			t.Errorf("%s (%s) no longer names the residents table: take it off registryReaders", file, why)
		}
	}
}

// report fails the test for SQL naming the residents table at pos, unless
// the file is on registryReaders.
func report(t *testing.T, file string, pos token.Position, seen map[string]bool) {
	t.Helper()
	if _, ok := registryReaders[file]; ok {
		seen[file] = true
		return
	}
	t.Errorf("%s: SQL names the residents table; read resident_facts or a statement from internal/resident/facts.go instead", pos)
}

// isTableCall reports whether call is x.Table("literal", ...) (GORM).
func isTableCall(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Table" || len(call.Args) == 0 {
		return false
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	return ok && lit.Kind == token.STRING
}

func unquote(lit *ast.BasicLit) string {
	if lit == nil {
		return ""
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(s)
}
