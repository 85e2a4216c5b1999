package testenv

import (
	"regexp"
	"strings"
	"testing"

	"gorm.io/gorm"
)

// PartialIndexes returns the predicate of every partial index on table, by
// index name, as the database prints it (pg_get_expr). Index predicates
// cannot take parameters, so they repeat rules the Go code defines once;
// tests compare the two with it.
func PartialIndexes(t testing.TB, db *gorm.DB, table string) map[string]string {
	t.Helper()
	rows, err := db.Raw(`SELECT c.relname, pg_get_expr(i.indpred, i.indrelid)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = CAST(? AS regclass) AND i.indpred IS NOT NULL`, table).Rows()
	if err != nil {
		t.Fatalf("partial indexes of %s: %v", table, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, pred string
		if err := rows.Scan(&name, &pred); err != nil {
			t.Fatalf("partial indexes of %s: %v", table, err)
		}
		out[name] = pred
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("partial indexes of %s: %v", table, err)
	}
	return out
}

var textLiteral = regexp.MustCompile(`'((?:[^']|'')*)'::text`)

// TextLiterals returns the text literals of a predicate as pg_get_expr
// prints them ("(status = ANY (ARRAY['A'::text, 'B'::text]))" gives A, B),
// in order.
func TextLiterals(pred string) []string {
	var out []string
	for _, m := range textLiteral.FindAllStringSubmatch(pred, -1) {
		out = append(out, strings.ReplaceAll(m[1], "''", "'"))
	}
	return out
}
