package graph

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
)

// TestReadmeExamplesValidate: every operation in the README's graphql
// blocks (the examples and the three clients' screens) is valid against
// the schema, so a renamed field breaks this test, not a new user's first
// query. Placeholders are strings ("<id>"), which ID arguments accept.
func TestReadmeExamplesValidate(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	schema := NewExecutableSchema(Config{}).Schema()
	blocks := regexp.MustCompile("(?s)```graphql\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	start := regexp.MustCompile(`(?m)^(query|mutation|subscription)\b`)
	n := 0
	for _, b := range blocks {
		text := b[1]
		idx := start.FindAllStringIndex(text, -1)
		for i, at := range idx {
			end := len(text)
			if i+1 < len(idx) {
				end = idx[i+1][0]
			}
			op := text[at[0]:end]
			n++
			if _, errs := gqlparser.LoadQuery(schema, op); len(errs) > 0 {
				t.Errorf("README operation %q:\n%v", strings.SplitN(op, "\n", 2)[0], errs)
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d operations found in the README", n)
	}
}
