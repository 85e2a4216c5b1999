package problem

import (
	"context"
	"fmt"
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

// messageArg says which argument of a call is a message a person reads.
var messageArg = map[string]int{
	"problem.New": 1, "problem.BadInput": 0, "problem.Forbidden": 0,
	"bad": 0, "limitError": 0, "writeError": 3,
	// internal/resident's import: a row's problem.
	"flag": 2, "rowProblem": 3,
}

var verb = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z]`)

// messages returns every message template the source writes: literals, with
// "{}" where a Sprintf verb or a non-literal part stands.
func messages(t *testing.T, roots ...string) map[string]string {
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || strings.HasSuffix(p, ".generated.go") {
				return err
			}
			f, err := parser.ParseFile(fset, p, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				c, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				name := ""
				switch fn := c.Fun.(type) {
				case *ast.Ident:
					name = fn.Name
				case *ast.SelectorExpr:
					if x, ok := fn.X.(*ast.Ident); ok {
						name = x.Name + "." + fn.Sel.Name
					}
				}
				i, ok := messageArg[name]
				if !ok || len(c.Args) <= i {
					return true
				}
				var b strings.Builder
				literal := false
				var walk func(e ast.Expr)
				walk = func(e ast.Expr) {
					switch v := e.(type) {
					case *ast.BasicLit:
						if s, err := strconv.Unquote(v.Value); err == nil {
							b.WriteString(s)
							literal = true
						}
					case *ast.BinaryExpr:
						walk(v.X)
						walk(v.Y)
					case *ast.CallExpr:
						if s, ok := v.Fun.(*ast.SelectorExpr); ok && s.Sel.Name == "Sprintf" {
							if lit, ok := v.Args[0].(*ast.BasicLit); ok {
								f, _ := strconv.Unquote(lit.Value)
								b.WriteString(verb.ReplaceAllString(f, "{}"))
								literal = true
								return
							}
						}
						b.WriteString("{}")
					default:
						b.WriteString("{}")
					}
				}
				walk(c.Args[i])
				if literal {
					out[b.String()] = fset.Position(c.Pos()).String()
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// A new message without its translation fails here, naming where it is
// written: add it to catalog.go (or write it as "中文 (English)").
func TestEveryMessageIsInTheCatalog(t *testing.T) {
	msgs := messages(t, "../../internal", "../../graph")
	if len(msgs) < 150 {
		t.Fatalf("found only %d messages; is the scan broken?", len(msgs))
	}
	for m, at := range msgs {
		sample := strings.ReplaceAll(m, "{}", "7")
		for _, l := range []Lang{Chinese, English} {
			got, ok := Localize(l, sample)
			if !ok {
				t.Errorf("%s: %q is not in the catalog", at, m)
				break
			}
			if hasHan(got) != (l == Chinese) {
				t.Errorf("%s: %q in language %d is %q", at, m, l, got)
			}
		}
	}
}

func TestCatalogSides(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range catalog {
		if hasHan(e[0]) || !hasHan(e[1]) {
			t.Errorf("entry %q / %q: English first, Chinese second", e[0], e[1])
		}
		if seen[e[0]] {
			t.Errorf("entry %q twice", e[0])
		}
		seen[e[0]] = true
		if strings.Count(e[0], "{}") != len(slot.FindAllString(e[1], -1)) {
			t.Errorf("entry %q / %q: the two sides have different parameters", e[0], e[1])
		}
	}
	for _, c := range []Code{Invalid, InvalidIDNumber, InvalidCredentials, TooManyAttempts, NotFound, Duplicate, Conflict,
		NotEligible, InsufficientBalance, CategoryNotAllowed, TokenExpired, TokenUsed, IdempotencyMismatch,
		InvalidTransition, OutOfJurisdiction, BudgetExceeded, Settled, WeakPassword, NotPermitted} {
		m, ok := codeMessages[string(c)]
		if !ok || hasHan(m[0]) || !hasHan(m[1]) {
			t.Errorf("code %s has no message of its own in both languages", c)
		}
	}
}

func TestMessage(t *testing.T) {
	cases := []struct {
		l         Lang
		code, msg string
		want      string
	}{
		{Chinese, "INVALID", "amount must be positive", "金额须大于零"},
		{English, "INVALID", "amount must be positive", "amount must be positive"},
		{English, "INVALID", "金额须大于零", "amount must be positive"},
		{Chinese, "NOT_FOUND", "resident not found", "未找到该居民"},
		// A parameter that is a catalog word is translated with its template.
		{Chinese, "NOT_FOUND", "service item not found", "未找到服务事项"},
		// Parameters keep their values and, with {0}/{1}, their places.
		{Chinese, "INVALID_TRANSITION", "APPROVE is not possible while the application is CLOSED", "申请状态为 CLOSED 时不能执行“APPROVE”"},
		{Chinese, "NOT_FOUND", "no such application", "未找到该申请"},
		// The "中文 (English)" form, with a detail after it.
		{Chinese, "INVALID_ID_NUMBER", "身份证号码无效 (not a valid resident identity number): bad checksum", "身份证号码无效: bad checksum"},
		{English, "INVALID_ID_NUMBER", "身份证号码无效 (not a valid resident identity number): bad checksum", "not a valid resident identity number: bad checksum"},
		{English, "BUDGET_EXCEEDED", "发放 3 张共 300 分将使本期达到 900 分，超出预算 800 分 (issuing 300 fen would bring the period to 900 fen, over the budget of 800 fen)",
			"issuing 300 fen would bring the period to 900 fen, over the budget of 800 fen"},
		// Not in the catalog: the code's own message in the other language.
		{Chinese, "CONFLICT", "something new and English", "该记录已被他人修改，请刷新后重试"},
		{English, "CONFLICT", "新的中文消息", "changed by someone else; reload and retry"},
		{Chinese, "CONFLICT", "新的中文消息", "新的中文消息"},
	}
	for _, c := range cases {
		if got := Message(c.l, c.code, c.msg); got != c.want {
			t.Errorf("Message(%d, %s, %q) = %q, want %q", c.l, c.code, c.msg, got, c.want)
		}
	}
}

func TestParseAcceptLanguage(t *testing.T) {
	for h, want := range map[string]Lang{
		"": Chinese, "en": English, "en-US,en;q=0.9": English, "zh-CN,zh;q=0.9,en;q=0.8": Chinese,
		"zh;q=0.5, en-GB;q=0.7": English, "fr": Chinese, "EN": English, "en;q=x": Chinese,
	} {
		if got := ParseAcceptLanguage(h); got != want {
			t.Errorf("%q: %d, want %d", h, got, want)
		}
	}
	ctx := WithLang(context.Background(), English)
	if LangFrom(ctx) != English || LangFrom(context.Background()) != Chinese {
		t.Error("the language does not travel in the context")
	}
}

func FuzzParseAcceptLanguage(f *testing.F) {
	for _, s := range []string{"en", "zh-CN,zh;q=0.9", "en;q=0.1,zh;q=0.2", ";;,q=", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		l := ParseAcceptLanguage(h)
		if l != Chinese && l != English {
			t.Fatal(fmt.Sprint("unknown language ", l))
		}
	})
}
