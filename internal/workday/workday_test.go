package workday

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/civil"
)

func mustDate(t testing.TB, s string) Date {
	t.Helper()
	d, err := civil.ParseDate(s)
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
		{"zero calendar weekday", &Calendar{}, date(2026, time.February, 16), true},
		{"zero calendar saturday", &Calendar{}, date(2026, time.February, 14), false},
		{"official holiday weekday", official, date(2026, time.February, 16), false},
		{"official make-up saturday", official, date(2026, time.February, 14), true},
		{"official make-up sunday", official, date(2026, time.January, 4), true},
		{"official weekend holiday", official, date(2026, time.February, 15), false},
		{"official plain weekday", official, date(2026, time.March, 3), true},
		{"official plain sunday", official, date(2026, time.March, 8), false},
		{"unnormalized date 02-30 is 03-02 monday", official, date(2026, time.February, 30), true},
		{"unnormalized date 01-32 is 02-01 sunday", official, date(2026, time.January, 32), false},
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
		date(2026, time.March, 3):  Holiday,
		date(2026, time.March, 4):  "holiday", // unknown kind: ignored
		date(2026, time.March, 7):  Workday,
		date(2026, time.March, 40): Holiday, // normalizes to 2026-04-09
		date(2026, time.April, 9):  Workday, // same date: HOLIDAY wins
	}
	cal := NewCalendar(in)
	in[date(2026, time.March, 5)] = Holiday // the map is copied
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
		if d.Year != 2026 || fromDayNumber(dayNumber(d)) != d {
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

// Date abbreviates civil.Date in the tables below.
type Date = civil.Date

func TestDayNumber(t *testing.T) {
	t.Run("round trip", func(t *testing.T) {
		for _, s := range []string{"1970-01-01", "1969-12-31", "0001-01-01", "2024-02-29", "2026-12-31", "9999-12-31"} {
			d := mustDate(t, s)
			if got := fromDayNumber(dayNumber(d)); got != d {
				t.Errorf("fromDayNumber(dayNumber(%s)) = %s", s, got)
			}
		}
		if n := dayNumber(mustDate(t, "1970-01-01")); n != 0 {
			t.Errorf("dayNumber(1970-01-01) = %d", n)
		}
		if n := dayNumber(mustDate(t, "1969-12-31")); n != -1 {
			t.Errorf("dayNumber(1969-12-31) = %d", n)
		}
	})
	t.Run("unnormalized dates denote the normalized day", func(t *testing.T) {
		if got := fromDayNumber(dayNumber(date(2026, time.February, 30))).String(); got != "2026-03-02" {
			t.Errorf("2026-02-30 = %s", got)
		}
	})
	t.Run("weekday agrees with civil", func(t *testing.T) {
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
			d := mustDate(t, tc.date)
			if got := weekdayOf(dayNumber(d)); got != tc.want || d.Weekday() != tc.want {
				t.Errorf("weekdayOf(%s) = %s, civil %s, want %s", tc.date, got, d.Weekday(), tc.want)
			}
		}
	})
	t.Run("floor division", func(t *testing.T) {
		for _, tc := range []struct{ a, b, q, m int64 }{{7, 7, 1, 0}, {-1, 7, -1, 6}, {-7, 7, -1, 0}, {-8, 7, -2, 6}, {8, -7, -2, -6}} {
			if q, m := floorDiv(tc.a, tc.b), floorMod(tc.a, tc.b); q != tc.q || m != tc.m {
				t.Errorf("floor(%d/%d) = %d rem %d, want %d rem %d", tc.a, tc.b, q, m, tc.q, tc.m)
			}
		}
	})
}

// FuzzAddWorkdays checks that Between inverts AddWorkdays for any start and n.
func FuzzAddWorkdays(f *testing.F) {
	f.Add(int64(20500), 10)
	f.Add(int64(20454), 0)
	f.Add(int64(-1), 300)
	cal := NewCalendar(Official2026)
	f.Fuzz(func(t *testing.T, day int64, n int) {
		day = floorMod(day, 3_000_000) - 700_000 // years about 0050..8000
		n = int(floorMod(int64(n), 2000))
		d := fromDayNumber(day)
		e := cal.AddWorkdays(d, n)
		if got := cal.Between(d, e); got != n {
			t.Fatalf("Between(%s, AddWorkdays(%s, %d)=%s) = %d", d, d, n, e, got)
		}
		if n > 0 && !cal.IsWorkday(e) {
			t.Fatalf("AddWorkdays(%s, %d) = %s is not a working day", d, n, e)
		}
	})
}
