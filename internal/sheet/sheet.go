// Package sheet reads an uploaded table, an XLSX workbook's first sheet or
// a CSV file, as a header row and data rows of strings, and writes the
// small XLSX workbooks a counter downloads (an import template). It knows
// nothing of what the columns mean.
package sheet

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// ErrUnreadable is wrapped by every error about the file itself (not an
// XLSX workbook or CSV text, no header row, too many rows).
var ErrUnreadable = errors.New("sheet: unreadable file")

// Limits bound what a file may expand to.
type Limits struct {
	// MaxRows is the most data rows (the header not counted).
	MaxRows int
	// MaxUnzipped is the most bytes an XLSX workbook may unpack to (a
	// small zip may unpack to gigabytes).
	MaxUnzipped int64
}

// Table is a file's header and data rows. Row numbers are the
// spreadsheet's: the header is row 1, so the first data row is 2.
type Table struct {
	Header []string
	Rows   []Row
}

// Row is one data row: its number in the file and its cells, trimmed, as
// many as the header has columns (missing cells are "").
type Row struct {
	Number int
	Cells  []string
}

// Read reads data: an XLSX workbook (recognized by its zip signature) or
// CSV text (UTF-8 with or without a byte-order mark, or GB 18030 as Excel
// saves CSV on a Chinese system). Blank rows are skipped; their numbers
// are not reused, so a row's number is where the user sees it.
func Read(data []byte, lim Limits) (*Table, error) {
	if bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		return readXLSX(data, lim)
	}
	return readCSV(data, lim)
}

func unreadable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnreadable, fmt.Sprintf(format, args...))
}

func readXLSX(data []byte, lim Limits) (*Table, error) {
	opt := excelize.Options{RawCellValue: true}
	if lim.MaxUnzipped > 0 {
		opt.UnzipSizeLimit = lim.MaxUnzipped
		opt.UnzipXMLSizeLimit = min(lim.MaxUnzipped, 16<<20)
	}
	f, err := excelize.OpenReader(bytes.NewReader(data), opt)
	if err != nil {
		return nil, unreadable("not an XLSX workbook")
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, unreadable("the workbook has no sheet")
	}
	rows, err := f.Rows(sheets[0])
	if err != nil {
		return nil, unreadable("the first sheet cannot be read")
	}
	defer rows.Close()
	t := &Table{}
	// Raw values: a date cell reads as its serial number (Date converts
	// it) and a number as its digits, never as the cell's display format
	// ("1.10105E+17").
	for n := 1; rows.Next(); n++ {
		cells, err := rows.Columns(opt)
		if err != nil {
			return nil, unreadable("row %d cannot be read", n)
		}
		if err := t.add(n, cells, lim); err != nil {
			return nil, err
		}
	}
	if rows.Error() != nil {
		return nil, unreadable("the first sheet cannot be read")
	}
	return t.done()
}

func readCSV(data []byte, lim Limits) (*Table, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		d, err := simplifiedchinese.GB18030.NewDecoder().Bytes(data)
		if err != nil {
			return nil, unreadable("the CSV text is neither UTF-8 nor GB 18030")
		}
		data = d
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	t := &Table{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, unreadable("CSV line %d is malformed", pe.StartLine)
			}
			return nil, unreadable("the CSV text cannot be read")
		}
		line, _ := r.FieldPos(0)
		if err := t.add(line, rec, lim); err != nil {
			return nil, err
		}
	}
	return t.done()
}

// add takes row n: the first non-blank row is the header.
func (t *Table) add(n int, cells []string, lim Limits) error {
	blank := true
	for i := range cells {
		cells[i] = strings.TrimSpace(strings.Trim(cells[i], "\u200b\ufeff"))
		if cells[i] != "" {
			blank = false
		}
	}
	if blank {
		return nil
	}
	if t.Header == nil {
		t.Header = cells
		return nil
	}
	if lim.MaxRows > 0 && len(t.Rows) >= lim.MaxRows {
		return unreadable("more than %d rows", lim.MaxRows)
	}
	row := make([]string, len(t.Header))
	copy(row, cells)
	t.Rows = append(t.Rows, Row{Number: n, Cells: row})
	return nil
}

func (t *Table) done() (*Table, error) {
	if t.Header == nil {
		return nil, unreadable("the file has no header row")
	}
	return t, nil
}

// Column is the letter(s) of the 0-based column i ("A", …, "Z", "AA").
func Column(i int) string {
	name, err := excelize.ColumnNumberToName(i + 1)
	if err != nil {
		return ""
	}
	return name
}

// Date reads a date cell: an XLSX serial number (what a date-formatted
// cell holds), or text as YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD or YYYYMMDD.
// ok is false for anything else.
func Date(s string) (y, m, d int, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, 0, 0, false
	}
	if serial, err := parseSerial(s); err == nil {
		t, err := excelize.ExcelDateToTime(serial, false)
		if err != nil {
			return 0, 0, 0, false
		}
		return t.Year(), int(t.Month()), t.Day(), true
	}
	if len(s) == 8 && allDigits(s) {
		return atoi(s[:4]), atoi(s[4:6]), atoi(s[6:]), true
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '/' || r == '.' })
	if len(parts) != 3 || len(parts[0]) != 4 || len(parts[1]) < 1 || len(parts[1]) > 2 || len(parts[2]) < 1 || len(parts[2]) > 2 {
		return 0, 0, 0, false
	}
	for _, p := range parts {
		if !allDigits(p) {
			return 0, 0, 0, false
		}
	}
	return atoi(parts[0]), atoi(parts[1]), atoi(parts[2]), true
}

// parseSerial accepts an XLSX date serial: 1 to 5 digits (days since
// 1899-12-30, so up to the year 2173), with an optional fraction.
func parseSerial(s string) (float64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if len(whole) < 1 || len(whole) > 5 || !allDigits(whole) || (frac != "" && !allDigits(frac)) {
		return 0, errors.New("not a serial")
	}
	v := float64(atoi(whole))
	return v, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}
