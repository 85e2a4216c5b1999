package sheet

import (
	"errors"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func TestXLSXRoundTrip(t *testing.T) {
	w, err := NewWriter("居民", []string{"姓名", "身份证号"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][]string{{"张三", "11010519491231002X"}, {"", ""}, {" 李四 ", "110105491231002"}} {
		if err := w.Row(r); err != nil {
			t.Fatal(err)
		}
	}
	data, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Read(data, Limits{MaxRows: 10, MaxUnzipped: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Header) != 2 || tab.Header[1] != "身份证号" || len(tab.Rows) != 2 {
		t.Fatalf("table %+v", tab)
	}
	if tab.Rows[0].Number != 2 || tab.Rows[1].Number != 4 || tab.Rows[1].Cells[0] != "李四" || tab.Rows[1].Cells[1] != "110105491231002" {
		t.Fatalf("rows %+v", tab.Rows)
	}
	if _, err := Read(data, Limits{MaxRows: 1}); !errors.Is(err, ErrUnreadable) {
		t.Fatalf("row cap: %v", err)
	}
}

func TestCSV(t *testing.T) {
	text := "姓名,身份证号\n\n王五,510104194001010012\n赵六\n"
	gb, err := simplifiedchinese.GB18030.NewEncoder().String(text)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"utf8": []byte(text), "bom": []byte("\xef\xbb\xbf" + text), "gb18030": []byte(gb)} {
		tab, err := Read(data, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if tab.Header[0] != "姓名" || len(tab.Rows) != 2 || tab.Rows[0].Number != 3 || tab.Rows[1].Number != 4 ||
			tab.Rows[0].Cells[0] != "王五" || tab.Rows[1].Cells[1] != "" {
			t.Fatalf("%s: %+v", name, tab)
		}
	}
	if _, err := Read([]byte("\n\n"), Limits{}); !errors.Is(err, ErrUnreadable) {
		t.Fatalf("no header: %v", err)
	}
	if _, err := Read([]byte("PK\x03\x04garbage"), Limits{}); !errors.Is(err, ErrUnreadable) {
		t.Fatalf("bad zip: %v", err)
	}
}

func TestDate(t *testing.T) {
	for in, want := range map[string][3]int{"1949-12-31": {1949, 12, 31}, "1949/1/2": {1949, 1, 2}, "19491231": {1949, 12, 31},
		"18263": {1949, 12, 31}, "1949.12.31": {1949, 12, 31}} {
		y, m, d, ok := Date(in)
		if !ok || [3]int{y, m, d} != want {
			t.Errorf("Date(%q) = %d-%d-%d %v", in, y, m, d, ok)
		}
	}
	for _, in := range []string{"", "yesterday", "1949-12", "49-12-31", "123456"} {
		if _, _, _, ok := Date(in); ok {
			t.Errorf("Date(%q) ok", in)
		}
	}
}

func FuzzRead(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "\"x\n", "PK\x03\x04", "\xef\xbb\xbf姓名\n张三", "\xff\xfe"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := Read(data, Limits{MaxRows: 100, MaxUnzipped: 1 << 20})
		if err != nil {
			if !errors.Is(err, ErrUnreadable) {
				t.Fatalf("error does not wrap ErrUnreadable: %v", err)
			}
			return
		}
		last := 0
		for _, r := range tab.Rows {
			if len(r.Cells) != len(tab.Header) || r.Number <= last {
				t.Fatalf("row %+v after %d, header %d", r, last, len(tab.Header))
			}
			last = r.Number
		}
	})
}

func FuzzDate(f *testing.F) {
	for _, s := range []string{"1949-12-31", "18263", "19491231", "2024/2/29", "99999.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		y, m, d, ok := Date(s)
		if ok && (y < 0 || m < 0 || d < 0) {
			t.Fatalf("Date(%q) = %d-%d-%d", s, y, m, d)
		}
	})
}
