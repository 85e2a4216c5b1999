package civil

import (
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	for _, bad := range []string{"", "2026-02-30", "2026-2-1", " 2026-01-01", "2026-01-01T00:00:00Z", "２０２６-01-01", "+026-01-01", "2026-01-+1"} {
		if _, err := ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) accepted", bad)
		}
	}
	d, err := ParseDate("2024-02-29")
	if err != nil || d.String() != "2024-02-29" || d.AddDays(1).String() != "2024-03-01" || d.Weekday() != time.Thursday {
		t.Fatalf("%v %v", d, err)
	}
	m, _ := ParseMonth("2026-12")
	if m.Last().String() != "2026-12-31" || m.AddMonths(1).String() != "2027-01" || !m.Contains(Date{2026, 12, 5}) {
		t.Fatalf("month arithmetic: %v", m)
	}
	// 2026-11-26T17:30Z is already the 27th in Shanghai.
	if got := DateOf(time.Date(2026, 11, 26, 17, 30, 0, 0, time.UTC)); got.String() != "2026-11-27" {
		t.Fatalf("DateOf = %s", got)
	}
}

func FuzzParseDate(f *testing.F) {
	f.Add("2026-11-27")
	f.Add("2026-02-30")
	f.Add("0000-01-01")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDate(s)
		if err != nil {
			return
		}
		if d.String() != s {
			t.Fatalf("%q parsed as %s", s, d)
		}
	})
}
