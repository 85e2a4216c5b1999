package workday

import (
	"time"

	"github.com/jinjiang/residents/internal/civil"
)

// dayNumber returns the number of days from 1970-01-01 to d. Fields out of
// range (2026-02-30) denote the day time.Date normalizes them to.
func dayNumber(d civil.Date) int64 {
	secs := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Unix()
	return floorDiv(secs, 86400)
}

// fromDayNumber is the inverse of dayNumber.
func fromDayNumber(n int64) civil.Date {
	y, m, d := time.Unix(n*86400, 0).UTC().Date()
	return civil.Date{Year: y, Month: m, Day: d}
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
