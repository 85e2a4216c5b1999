package disability_test

import (
	"strings"
	"testing"

	"github.com/jinjiang/residents/internal/disability"
	"github.com/jinjiang/residents/internal/testenv"
)

// TestIndexPredicatesFollowTheRules: the partial indexes on
// disability_certificates index current certificates; their predicate is
// SQL text in a migration, so this fails when it stops being part of
// CurrentOnSQL (one edited without the other).
func TestIndexPredicatesFollowTheRules(t *testing.T) {
	e := testenv.New(t)
	preds := testenv.PartialIndexes(t, e.DB, "disability_certificates")
	if len(preds) == 0 {
		t.Fatal("no partial index on disability_certificates")
	}
	current := disability.CurrentOnSQL("c", "?")
	for name, pred := range preds {
		cond := "c." + strings.TrimSuffix(strings.TrimPrefix(pred, "("), ")")
		if !strings.Contains(current, cond) {
			t.Errorf("%s indexes %s, which CurrentOnSQL (%s) does not require", name, pred, current)
		}
	}
}
