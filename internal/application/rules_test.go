package application_test

import (
	"slices"
	"testing"

	"github.com/jinjiang/residents/internal/application"
	"github.com/jinjiang/residents/internal/testenv"
)

// TestIndexPredicatesFollowTheRules: a partial index's predicate is SQL text
// in a migration and cannot take the Go list as a parameter, so this reads
// the migrated predicate back and fails when it and application.OpenStatuses
// disagree (one edited without the other).
func TestIndexPredicatesFollowTheRules(t *testing.T) {
	e := testenv.New(t)
	preds := testenv.PartialIndexes(t, e.DB, "applications")
	pred, ok := preds["applications_open_deadline_idx"]
	if !ok {
		t.Fatalf("applications_open_deadline_idx is not a partial index; partial indexes: %v", preds)
	}
	got := testenv.TextLiterals(pred)
	var want []string
	for _, s := range application.OpenStatuses {
		want = append(want, string(s))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("applications_open_deadline_idx covers %v (%s), application.OpenStatuses is %v", got, pred, want)
	}
}
