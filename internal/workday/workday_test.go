package workday

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func mustDate(t testing.TB, s string) Date {
	t.Helper()
	d, err := ParseDate(s)
	if err != nil {
		t.Fatalf("ParseDate(%q): %v", s, err)
	}
	return d
}

func TestAddWorkdays(t *testing.T) {
	plain := &Calendar{} // zero value: weekends off only
	official := NewCalendar(Official2026)
	tests := []struct {
		name  string
		cal   *Calendar
		start string
		n     int
		want  string
	}{
		// Plain weeks, no overrides. 2026-03-02 is a Monday.
		{"plain n=0 weekday", plain, "2026-03-02", 0, "2026-03-02"},
		{"plain n=0 saturday stays", plain, "2026-03-07", 0, "2026-03-07"},
		{"plain monday+1", plain, "2026-03-02", 1, "2026-03-03"},
		{"plain monday+4", plain, "2026-03-02", 4, "2026-03-06"},
		{"plain monday+5 skips weekend", plain, "2026-03-02", 5, "2026-03-09"},
		{"plain friday+1", plain, "2026-03-06", 1, "2026-03-09"},
		{"plain saturday+1", plain, "2026-03-07", 1, "2026-03-09"},
		{"plain sunday+1", plain, "2026-03-08", 1, "2026-03-09"},
		{"plain monday+20 is four weeks", plain, "2026-03-02", 20, "2026-03-30"},
		{"plain nil calendar", nil, "2026-03-06", 1, "2026-03-09"},
		{"plain spring festival ignored", plain, "2026-02-12", 5, "2026-02-19"},

		// Spring Festival: Feb 15–23 off, Feb 14 and Feb 28 (Saturdays) worked.
		{"spring festival 02-12+5", official, "2026-02-12", 5, "2026-02-26"},
		{"spring festival 02-12+10 counts 02-28", official, "2026-02-12", 10, "2026-03-04"},
		{"spring festival 02-13+2 jumps holiday", official, "2026-02-13", 2, "2026-02-24"},
		{"spring festival accepted on holiday", official, "2026-02-18", 1, "2026-02-24"},
		{"make-up saturday 02-14 counted", official, "2026-02-13", 1, "2026-02-14"},
		{"make-up saturday 02-28 counted", official, "2026-02-27", 1, "2026-02-28"},

		// National Day: Oct 1–7 off, Sep 20 (Sunday) and Oct 10 (Saturday) worked.
		{"national day 09-29+5", official, "2026-09-29", 5, "2026-10-12"},
		{"national day 09-30+1", official, "2026-09-30", 1, "2026-10-08"},
		{"make-up saturday 10-10 counted", official, "2026-10-09", 1, "2026-10-10"},
		{"make-up sunday 09-20 counted", official, "2026-09-18", 1, "2026-09-20"},
		{"mid-autumn 09-24+1", official, "2026-09-24", 1, "2026-09-28"},

		// Other 2026 holidays.
		{"new year make-up sunday 01-04", official, "2025-12-31", 1, "2026-01-04"},
		{"qingming 04-03+1", official, "2026-04-03", 1, "2026-04-07"},
		{"labour day 04-30+1", official, "2026-04-30", 1, "2026-05-06"},
		{"labour day make-up 05-09", official, "2026-05-08", 1, "2026-05-09"},
		{"dragon boat 06-18+1", official, "2026-06-18", 1, "2026-06-22"},

		// Year end: no 2027 overrides are loaded, so 2027-01-01 (Friday) counts.
		{"year end 12-30+3", official, "2026-12-30", 3, "2027-01-04"},
		{"year end 12-31+1", official, "2026-12-31", 1, "2027-01-01"},

		// Negative n counts backwards.
		{"backwards monday-1", plain, "2026-03-09", -1, "2026-03-06"},
		{"backwards over spring festival", official, "2026-02-24", -2, "2026-02-13"},
		{"backwards onto make-up day", official, "2026-02-24", -1, "2026-02-14"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cal.AddWorkdays(mustDate(t, tc.start), tc.n)
			if got.String() != tc.want {
				t.Errorf("AddWorkdays(%s, %d) = %s, want %s", tc.start, tc.n, got, tc.want)
			}
			if tc.n > 0 && !tc.cal.IsWorkday(got) {
				t.Errorf("result %s is not a working day", got)
			}
		})
	}
}

func TestAddWorkdaysClamp(t *testing.T) {
	cal := NewCalendar(Official2026)
	start := mustDate(t, "2026-02-12")
	tests := []struct {
		name string
		n    int
		same int
	}{
		{"huge positive", 1_000_000_000, MaxWorkdays},
		{"max int", math.MaxInt, MaxWorkdays},
		{"huge negative", -1_000_000_000, -MaxWorkdays},
		{"min int", math.MinInt, -MaxWorkdays},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := cal.AddWorkdays(start, tc.n)
			want := cal.AddWorkdays(start, tc.same)
			if got != want {
				t.Errorf("AddWorkdays(%s, %d) = %s, want clamped %s", start, tc.n, got, want)
			}
			if b := cal.Between(start, got); b != tc.same {
				t.Errorf("Between(%s, %s) = %d, want %d", start, got, b, tc.same)
			}
		})
	}
}

func TestBetween(t *testing.T) {
	plain := &Calendar{}
	official := NewCalendar(Official2026)
	tests := []struct {
		name     string
		cal      *Calendar
		from, to string
		want     int
	}{
		{"equal", official, "2026-02-12", "2026-02-12", 0},
		{"equal on holiday", official, "2026-02-16", "2026-02-16", 0},
		{"plain one week", plain, "2026-03-02", "2026-03-09", 5},
		{"plain friday to monday", plain, "2026-03-06", "2026-03-09", 1},
		{"plain friday to sunday", plain, "2026-03-06", "2026-03-08", 0},
		{"plain across years", plain, "2025-12-31", "2026-12-31", 261},
		{"spring festival", official, "2026-02-12", "2026-02-26", 5},
		{"national day", official, "2026-09-29", "2026-10-12", 5},
		{"whole 2026", official, "2025-12-31", "2026-12-31", 248},
		{"negative mirror", official, "2026-02-26", "2026-02-12", -5},
		{"negative plain week", plain, "2026-03-09", "2026-03-02", -5},
		{"negative saturday to friday", plain, "2026-03-07", "2026-03-06", 0},
		{"negative monday to friday", plain, "2026-03-09", "2026-03-06", -1},
		{"negative whole 2026", official, "2026-12-31", "2025-12-31", -248},
		{"nil calendar", nil, "2026-03-02", "2026-03-09", 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from, to := mustDate(t, tc.from), mustDate(t, tc.to)
			if got := tc.cal.Between(from, to); got != tc.want {
				t.Errorf("Between(%s, %s) = %d, want %d", tc.from, tc.to, got, tc.want)
			}
			if got := tc.cal.Between(to, from); got != -tc.want {
				t.Errorf("Between(%s, %s) = %d, want %d (mirror)", tc.to, tc.from, got, -tc.want)
			}
		})
	}
}

// bruteBetween counts working days in (from, to] one day at a time.
func bruteBetween(c *Calendar, from, to Date) int {
	if to.Before(from) {
		return -bruteBetween(c, to, from)
	}
	n := 0
	for d := from.AddDays(1); !d.After(to); d = d.AddDays(1) {
		if c.IsWorkday(d) {
			n++
		}
	}
	return n
}

func TestBetweenProperties(t *testing.T) {
	cals := map[string]*Calendar{
		"plain":    {},
		"official": NewCalendar(Official2026),
	}
	first, last := mustDate(t, "2025-11-01"), mustDate(t, "2027-02-28")
	for name, cal := range cals {
		t.Run(name+"/symmetric with AddWorkdays", func(t *testing.T) {
			for d := first; !d.After(last); d = d.AddDays(1) {
				for n := 0; n <= 300; n++ {
					e := cal.AddWorkdays(d, n)
					if got := cal.Between(d, e); got != n {
						t.Fatalf("Between(%s, AddWorkdays(%s, %d)=%s) = %d", d, d, n, e, got)
					}
					if got := cal.Between(e, d); got != -n {
						t.Fatalf("Between(%s, %s) = %d, want %d", e, d, got, -n)
					}
				}
				if cal.IsWorkday(d) {
					for n := -1; n >= -60; n-- {
						e := cal.AddWorkdays(d, n)
						if got := cal.Between(d, e); got != n {
							t.Fatalf("Between(%s, AddWorkdays(%s, %d)=%s) = %d", d, d, n, e, got)
						}
					}
				}
			}
		})
		t.Run(name+"/matches day loop", func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			const span = 900 // days, starting 100 days before first
			for i := 0; i < 2000; i++ {
				a := first.AddDays(r.IntN(span) - 100)
				b := first.AddDays(r.IntN(span) - 100)
				if got, want := cal.Between(a, b), bruteBetween(cal, a, b); got != want {
					t.Fatalf("Between(%s, %s) = %d, day loop says %d", a, b, got, want)
				}
			}
		})
	}
}

func TestIsWorkday(t *testing.T) {
	official := NewCalendar(Official2026)
	tests := []struct {
		name string
		cal  *Calendar
		date Date
		want bool
	}{
		{"zero calendar weekday", &Calendar{}, Date{2026, time.February, 16}, true},
		{"zero calendar saturday", &Calendar{}, Date{2026, time.February, 14}, false},
		{"official holiday weekday", official, Date{2026, time.February, 16}, false},
		{"official make-up saturday", official, Date{2026, time.February, 14}, true},
		{"official make-up sunday", official, Date{2026, time.January, 4}, true},
		{"official weekend holiday", official, Date{2026, time.February, 15}, false},
		{"official plain weekday", official, Date{2026, time.March, 3}, true},
		{"official plain sunday", official, Date{2026, time.March, 8}, false},
		{"unnormalized date 02-30 is 03-02 monday", official, Date{2026, time.February, 30}, true},
		{"unnormalized date 01-32 is 02-01 sunday", official, Date{2026, time.January, 32}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cal.IsWorkday(tc.date); got != tc.want {
				t.Errorf("IsWorkday(%s) = %v, want %v", tc.date, got, tc.want)
			}
		})
	}
}

func TestNewCalendar(t *testing.T) {
	in := map[Date]Kind{
		{2026, time.March, 3}:  Holiday,
		{2026, time.March, 4}:  "holiday", // unknown kind: ignored
		{2026, time.March, 7}:  Workday,
		{2026, time.March, 40}: Holiday, // normalizes to 2026-04-09
		{2026, time.April, 9}:  Workday, // same date: HOLIDAY wins
	}
	cal := NewCalendar(in)
	in[Date{2026, time.March, 5}] = Holiday // the map is copied
	tests := []struct {
		date string
		want bool
	}{
		{"2026-03-03", false},
		{"2026-03-04", true},
		{"2026-03-05", true},
		{"2026-03-07", true},
		{"2026-04-09", false},
	}
	for _, tc := range tests {
		t.Run(tc.date, func(t *testing.T) {
			if got := cal.IsWorkday(mustDate(t, tc.date)); got != tc.want {
				t.Errorf("IsWorkday(%s) = %v, want %v", tc.date, got, tc.want)
			}
		})
	}
	if got := NewCalendar(nil).AddWorkdays(mustDate(t, "2026-03-06"), 1); got.String() != "2026-03-09" {
		t.Errorf("NewCalendar(nil).AddWorkdays = %s", got)
	}
}

func TestOfficial2026(t *testing.T) {
	var holidays, workdays int
	for d, k := range Official2026 {
		if d.Year != 2026 || d.String() != (Date{d.Year, d.Month, d.Day}).String() {
			t.Errorf("entry %v is not a normalized 2026 date", d)
		}
		switch k {
		case Holiday:
			holidays++
		case Workday:
			workdays++
			if w := d.Weekday(); w != time.Saturday && w != time.Sunday {
				t.Errorf("make-up day %s is a %s", d, w)
			}
		default:
			t.Errorf("entry %s has kind %q", d, k)
		}
	}
	// 3 + 9 + 3 + 5 + 3 + 3 + 7 days off; 1 + 2 + 1 + 2 make-up days.
	if holidays != 33 || workdays != 6 {
		t.Errorf("got %d HOLIDAY and %d WORKDAY entries, want 33 and 6", holidays, workdays)
	}
}

func TestParseDate(t *testing.T) {
	good := []struct {
		in   string
		want Date
	}{
		{"2026-01-01", Date{2026, time.January, 1}},
		{"2024-02-29", Date{2024, time.February, 29}},
		{"2026-12-31", Date{2026, time.December, 31}},
		{"0001-01-01", Date{1, time.January, 1}},
		{"9999-12-31", Date{9999, time.December, 31}},
	}
	for _, tc := range good {
		t.Run("accept "+tc.in, func(t *testing.T) {
			got, err := ParseDate(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("ParseDate(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			if got.String() != tc.in {
				t.Errorf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
	bad := []string{
		"2026-02-30",
		"2025-02-29",
		"2026-04-31",
		"2026-2-1",
		"2026-02-1",
		"",
		" 2026-01-01",
		"2026-01-01 ",
		"2026-01-01\n",
		"2026/01/01",
		"20260101",
		"2026-13-01",
		"2026-00-10",
		"2026-01-00",
		"0000-01-01",
		"+026-01-01",
		"-026-01-01",
		"2026-+1-01",
		"2026-01-01T00:00:00Z",
		"２０２６-01-01",
	}
	for _, in := range bad {
		t.Run("refuse "+in, func(t *testing.T) {
			d, err := ParseDate(in)
			if err == nil {
				t.Fatalf("ParseDate(%q) = %v, want error", in, d)
			}
			if !errors.Is(err, ErrInvalidDate) {
				t.Errorf("error %v does not wrap ErrInvalidDate", err)
			}
			if d != (Date{}) {
				t.Errorf("ParseDate(%q) returned %v with error", in, d)
			}
		})
	}
}

func TestDate(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	t.Run("DateOf uses loc", func(t *testing.T) {
		instant := time.Date(2025, time.December, 31, 16, 30, 0, 0, time.UTC)
		if got := DateOf(instant, cst).String(); got != "2026-01-01" {
			t.Errorf("DateOf in CST = %s", got)
		}
		if got := DateOf(instant, time.UTC).String(); got != "2025-12-31" {
			t.Errorf("DateOf in UTC = %s", got)
		}
		if got := DateOf(instant.In(cst), nil).String(); got != "2026-01-01" {
			t.Errorf("DateOf with nil loc = %s", got)
		}
	})
	t.Run("Time is midnight in loc", func(t *testing.T) {
		d := Date{2026, time.February, 12}
		if got, want := d.Time(cst), time.Date(2026, time.February, 12, 0, 0, 0, 0, cst); !got.Equal(want) || got.Location() != cst {
			t.Errorf("Time(cst) = %v, want %v", got, want)
		}
		if got := d.Time(nil); got.Location() != time.UTC || got.Hour() != 0 {
			t.Errorf("Time(nil) = %v", got)
		}
		if got := DateOf(d.Time(cst), cst); got != d {
			t.Errorf("DateOf(Time) = %v, want %v", got, d)
		}
	})
	t.Run("AddDays", func(t *testing.T) {
		tests := []struct {
			start string
			n     int
			want  string
		}{
			{"2026-02-28", 1, "2026-03-01"},
			{"2024-02-28", 1, "2024-02-29"},
			{"2026-12-31", 1, "2027-01-01"},
			{"2026-01-01", -1, "2025-12-31"},
			{"2026-01-01", 365, "2027-01-01"},
			{"2026-03-01", 0, "2026-03-01"},
		}
		for _, tc := range tests {
			if got := mustDate(t, tc.start).AddDays(tc.n).String(); got != tc.want {
				t.Errorf("%s.AddDays(%d) = %s, want %s", tc.start, tc.n, got, tc.want)
			}
		}
	})
	t.Run("Before After", func(t *testing.T) {
		a, b := mustDate(t, "2026-02-12"), mustDate(t, "2026-02-13")
		if !a.Before(b) || a.After(b) || b.Before(a) || !b.After(a) || a.Before(a) || a.After(a) {
			t.Error("Before/After disagree with calendar order")
		}
		if !(Date{2026, time.January, 32}).After(Date{2026, time.February, 1}.AddDays(-1)) {
			t.Error("unnormalized dates compare by the day they denote")
		}
	})
	t.Run("Weekday", func(t *testing.T) {
		tests := []struct {
			date string
			want time.Weekday
		}{
			{"2026-01-01", time.Thursday},
			{"2026-02-14", time.Saturday},
			{"2026-09-20", time.Sunday},
			{"2026-10-10", time.Saturday},
			{"1970-01-01", time.Thursday},
			{"1969-12-31", time.Wednesday},
			{"0001-01-01", time.Monday},
		}
		for _, tc := range tests {
			if got := mustDate(t, tc.date).Weekday(); got != tc.want {
				t.Errorf("%s.Weekday() = %s, want %s", tc.date, got, tc.want)
			}
		}
	})
	t.Run("String normalizes", func(t *testing.T) {
		if got := (Date{2026, time.February, 30}).String(); got != "2026-03-02" {
			t.Errorf("String() = %s", got)
		}
	})
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{
		"2026-01-01", "2024-02-29", "2026-02-30", "2026-2-1", "", " 2026-01-01",
		"0000-01-01", "9999-12-31", "+026-01-01", "2026-01-0a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDate(s)
		// Oracle: the standard library's layout parser, made strict by a
		// round trip and the year range.
		tm, terr := time.Parse(time.DateOnly, s)
		want := terr == nil && tm.Format(time.DateOnly) == s && tm.Year() >= 1
		if (err == nil) != want {
			t.Fatalf("ParseDate(%q) error = %v, time.Parse oracle accepts = %v", s, err, want)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidDate) {
				t.Fatalf("error %v does not wrap ErrInvalidDate", err)
			}
			return
		}
		if d.String() != s {
			t.Fatalf("ParseDate(%q).String() = %q", s, d.String())
		}
		if y, m, dd := tm.Date(); d != (Date{y, m, dd}) {
			t.Fatalf("ParseDate(%q) = %v, time.Parse gives %v", s, d, tm)
		}
		if d.AddDays(1).AddDays(-1) != d {
			t.Fatalf("AddDays round trip changed %v", d)
		}
	})
}
