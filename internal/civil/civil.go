// Package civil holds calendar dates and months as the district uses them:
// business dates (service dates, deadlines, birth dates) are days in
// Asia/Shanghai, independent of the server's own zone.
package civil

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"time"
)

// Shanghai is the zone every business date is read in.
var Shanghai = mustZone("Asia/Shanghai")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		// The zone database ships with Go (time/tzdata is imported by main);
		// a fixed +08:00 zone is the same for China, which has no DST.
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}

// ErrInvalidDate is returned for anything that is not a real YYYY-MM-DD date.
var ErrInvalidDate = errors.New("invalid date: want YYYY-MM-DD")

// Date is a calendar day without a time or zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date of t in Asia/Shanghai.
func DateOf(t time.Time) Date {
	y, m, d := t.In(Shanghai).Date()
	return Date{y, m, d}
}

// ParseDate reads a strict YYYY-MM-DD date and refuses impossible days.
func ParseDate(s string) (Date, error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return Date{}, ErrInvalidDate
	}
	for i := 0; i < len(s); i++ {
		if i != 4 && i != 7 && (s[i] < '0' || s[i] > '9') {
			return Date{}, ErrInvalidDate // time.Parse would take "+026" as a year
		}
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, ErrInvalidDate
	}
	return Date{t.Year(), t.Month(), t.Day()}, nil
}

// String formats the date as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// In returns midnight of d in loc.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// AddDays returns the date n days after d (before it when n is negative).
func (d Date) AddDays(n int) Date {
	t := d.In(time.UTC).AddDate(0, 0, n)
	return Date{t.Year(), t.Month(), t.Day()}
}

// Before reports whether d is strictly earlier than o.
func (d Date) Before(o Date) bool { return d.Compare(o) < 0 }

// After reports whether d is strictly later than o.
func (d Date) After(o Date) bool { return d.Compare(o) > 0 }

// Compare returns -1, 0 or 1 as d is before, equal to or after o.
func (d Date) Compare(o Date) int { return d.In(time.UTC).Compare(o.In(time.UTC)) }

// Weekday returns the day of the week of d.
func (d Date) Weekday() time.Weekday { return d.In(time.UTC).Weekday() }

// Scan reads a Postgres date column.
func (d *Date) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*d = Date{v.Year(), v.Month(), v.Day()}
		return nil
	case string:
		p, err := ParseDate(v)
		*d = p
		return err
	case []byte:
		p, err := ParseDate(string(v))
		*d = p
		return err
	}
	return fmt.Errorf("civil.Date: cannot scan %T", src)
}

// Value writes d as a Postgres date.
func (d Date) Value() (driver.Value, error) { return d.String(), nil }

// Month is a calendar month, written YYYY-MM: voucher periods and settlement months.
type Month struct {
	Year  int
	Month time.Month
}

// ParseMonth reads a strict YYYY-MM month.
func ParseMonth(s string) (Month, error) {
	if len(s) != 7 {
		return Month{}, errors.New("invalid month: want YYYY-MM")
	}
	t, err := time.Parse("2006-01", s)
	if err != nil || t.Year() < 2000 || t.Year() > 2200 {
		return Month{}, errors.New("invalid month: want YYYY-MM")
	}
	return Month{t.Year(), t.Month()}, nil
}

// MonthOf returns the month a date falls in.
func MonthOf(d Date) Month { return Month{d.Year, d.Month} }

// String formats the month as YYYY-MM.
func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, m.Month) }

// First returns the first day of the month.
func (m Month) First() Date { return Date{m.Year, m.Month, 1} }

// Last returns the last day of the month.
func (m Month) Last() Date { return m.AddMonths(1).First().AddDays(-1) }

// AddMonths returns the month n months later.
func (m Month) AddMonths(n int) Month {
	t := time.Date(m.Year, m.Month+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	return Month{t.Year(), t.Month()}
}

// Contains reports whether d falls in m.
func (m Month) Contains(d Date) bool { return d.Year == m.Year && d.Month == m.Month }
