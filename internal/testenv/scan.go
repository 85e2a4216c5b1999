package testenv

import (
	"testing"

	"gorm.io/gorm"
)

// MustScan runs query, which must return exactly one row, and scans it into
// dest, failing the test on any error. A test that read a value with a
// dropped error would assert on the zero value a failed query leaves behind,
// which can be exactly the value it expects.
func MustScan(t testing.TB, db *gorm.DB, query string, args []any, dest ...any) {
	t.Helper()
	rows, err := db.Raw(query, args...).Rows()
	if err != nil {
		t.Fatalf("query %q: %v", query, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			t.Fatalf("query %q: %v", query, err)
		}
		t.Fatalf("query %q returned no row", query)
	}
	if err := rows.Scan(dest...); err != nil {
		t.Fatalf("scan %q: %v", query, err)
	}
	if rows.Next() {
		t.Fatalf("query %q returned more than one row", query)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("query %q: %v", query, err)
	}
}

// Args spells a MustScan argument list: MustScan(t, db, q, Args(a, b), &x).
func Args(a ...any) []any { return a }
