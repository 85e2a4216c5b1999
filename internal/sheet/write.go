package sheet

import (
	"bytes"
	"fmt"

	"github.com/xuri/excelize/v2"
)

// Template is a workbook to fill in: one sheet with the header row (text
// columns formatted as text, so that Excel keeps an ID number's 18 digits
// instead of rounding it to a float), example rows, and a sheet of notes.
type Template struct {
	Sheet   string
	Header  []string
	Text    map[string]bool
	Example [][]string
	// NotesSheet and Notes are the second sheet: one line per row.
	NotesSheet string
	Notes      []string
}

// XLSX renders the template.
func (t Template) XLSX() ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", t.Sheet); err != nil {
		return nil, err
	}
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49})
	if err != nil {
		return nil, err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, NumFmt: 49})
	if err != nil {
		return nil, err
	}
	for i, h := range t.Header {
		col := Column(i)
		if err := f.SetCellStr(t.Sheet, col+"1", h); err != nil {
			return nil, err
		}
		if err := f.SetColWidth(t.Sheet, col, col, 14); err != nil {
			return nil, err
		}
		if t.Text[h] {
			if err := f.SetColStyle(t.Sheet, col, text); err != nil {
				return nil, err
			}
			if err := f.SetColWidth(t.Sheet, col, col, 22); err != nil {
				return nil, err
			}
		}
	}
	if err := f.SetRowStyle(t.Sheet, 1, 1, bold); err != nil {
		return nil, err
	}
	for r, row := range t.Example {
		for i, v := range row {
			if err := f.SetCellStr(t.Sheet, fmt.Sprintf("%s%d", Column(i), r+2), v); err != nil {
				return nil, err
			}
		}
	}
	if t.NotesSheet != "" {
		if _, err := f.NewSheet(t.NotesSheet); err != nil {
			return nil, err
		}
		for i, line := range t.Notes {
			if err := f.SetCellStr(t.NotesSheet, fmt.Sprintf("A%d", i+1), line); err != nil {
				return nil, err
			}
		}
		if err := f.SetColWidth(t.NotesSheet, "A", "A", 100); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Writer streams a large one-sheet workbook (tests and the load
// generator build 100,000-row files with it): rows go to a temporary file,
// not memory.
type Writer struct {
	f  *excelize.File
	sw *excelize.StreamWriter
	n  int
}

// NewWriter starts a workbook whose first row is header.
func NewWriter(sheet string, header []string) (*Writer, error) {
	f := excelize.NewFile()
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return nil, err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return nil, err
	}
	w := &Writer{f: f, sw: sw}
	return w, w.Row(header)
}

// Row appends one row of text cells.
func (w *Writer) Row(cells []string) error {
	w.n++
	vals := make([]any, len(cells))
	for i, c := range cells {
		vals[i] = c
	}
	return w.sw.SetRow(fmt.Sprintf("A%d", w.n), vals)
}

// Bytes finishes the workbook and returns it.
func (w *Writer) Bytes() ([]byte, error) {
	defer w.f.Close()
	if err := w.sw.Flush(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := w.f.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
