package workday

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidDate is returned by ParseDate for anything that is not a real
// calendar date written exactly as YYYY-MM-DD.
var ErrInvalidDate = errors.New("workday: invalid date, want YYYY-MM-DD")

// Date is a calendar date without a time of day or a zone.
//
// A Date whose fields are out of range (for example 2026-02-30) is treated
// by every method as the date time.Date would normalize it to (2026-03-02).
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date of t in loc; a nil loc means t's own location.
func DateOf(t time.Time, loc *time.Location) Date {
	if loc != nil {
		t = t.In(loc)
	}
	y, m, d := t.Date()
	return Date{Year: y, Month: m, Day: d}
}

// ParseDate parses a date written strictly as YYYY-MM-DD: exactly ten
// characters, four-digit year from 0001, two-digit month and day, and a day
// that exists in that month. Anything else, including surrounding spaces,
// signs and dates such as 2026-02-30, returns ErrInvalidDate.
func ParseDate(s string) (Date, error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return Date{}, fmt.Errorf("%w: %q", ErrInvalidDate, s)
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || y < 1 || m < 1 || m > 12 || d < 1 || d > daysIn(y, time.Month(m)) {
		return Date{}, fmt.Errorf("%w: %q", ErrInvalidDate, s)
	}
	return Date{Year: y, Month: time.Month(m), Day: d}, nil
}

// digits parses s as an unsigned decimal number made only of ASCII digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// daysIn returns the number of days in month m of year y.
func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// String returns the date as YYYY-MM-DD.
func (d Date) String() string {
	n := d.normalize()
	return fmt.Sprintf("%04d-%02d-%02d", n.Year, int(n.Month), n.Day)
}

// AddDays returns the date n calendar days after d (before d when n is
// negative).
func (d Date) AddDays(n int) Date {
	return fromDayNumber(d.dayNumber() + int64(n))
}

// Before reports whether d is earlier than o.
func (d Date) Before(o Date) bool { return d.dayNumber() < o.dayNumber() }

// After reports whether d is later than o.
func (d Date) After(o Date) bool { return d.dayNumber() > o.dayNumber() }

// Weekday returns the day of the week of d.
func (d Date) Weekday() time.Weekday { return weekdayOf(d.dayNumber()) }

// Time returns midnight at the start of d in loc; a nil loc means UTC.
func (d Date) Time(loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// normalize returns d with its fields brought into range the way time.Date
// does it.
func (d Date) normalize() Date {
	return fromDayNumber(d.dayNumber())
}

// dayNumber returns the number of days from 1970-01-01 to d.
func (d Date) dayNumber() int64 {
	secs := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Unix()
	return floorDiv(secs, 86400)
}

// fromDayNumber is the inverse of dayNumber.
func fromDayNumber(n int64) Date {
	y, m, d := time.Unix(n*86400, 0).UTC().Date()
	return Date{Year: y, Month: m, Day: d}
}

// weekdayOf returns the weekday of day number n (1970-01-01 was a Thursday).
func weekdayOf(n int64) time.Weekday {
	return time.Weekday(floorMod(n+int64(time.Thursday), 7))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 {
	return a - floorDiv(a, b)*b
}
