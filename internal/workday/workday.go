// Package workday does working-day arithmetic for statutory time limits:
// weekends are off, HOLIDAY dates are off, WORKDAY dates (调休 weekend days
// worked in exchange) are on.
//
// Deadlines for government applications (一站受理、全区通办) are stated as a
// number of working days after acceptance; Calendar.AddWorkdays computes such
// a deadline and Calendar.Between counts the working days elapsed.
package workday

import (
	"sort"
	"time"

	"github.com/jinjiang/residents/internal/civil"
)

// Kind says whether an override date is a day off or a day worked.
type Kind string

// The override kinds.
const (
	// Holiday marks a date that is off even if it falls on a weekday.
	Holiday Kind = "HOLIDAY"
	// Workday marks a date that is worked even if it falls on a weekend
	// (a 调休 make-up day).
	Workday Kind = "WORKDAY"
)

// MaxWorkdays bounds the n accepted by AddWorkdays: a larger |n| is clamped
// to MaxWorkdays (about 40 years), which keeps the day loop bounded whatever
// the input. Statutory time limits are at most a few hundred working days.
const MaxWorkdays = 10000

// Calendar holds the overrides; the zero value is weekends-off only.
//
// A Calendar is never modified after NewCalendar returns, so it is safe for
// concurrent use. A nil *Calendar behaves like the zero value.
type Calendar struct {
	// kinds maps a day number to its effective override: only entries that
	// change the weekend rule are kept (HOLIDAY on a weekday, WORKDAY on a
	// weekend day).
	kinds map[int64]Kind
	// adj lists the effective overrides in day order with their effect on a
	// working-day count (-1 for a HOLIDAY, +1 for a WORKDAY), and prefix[i]
	// is the sum of the effects of adj[:i].
	adj    []adjust
	prefix []int
}

type adjust struct {
	day   int64
	delta int
}

// NewCalendar returns a calendar with the given overrides on top of the
// weekend rule. The map is copied. Entries of any other Kind are ignored,
// as are entries that restate the weekend rule (a HOLIDAY on a Saturday or
// Sunday, a WORKDAY on a weekday). Keys are normalized like time.Date; if two
// keys normalize to the same date with different kinds, HOLIDAY wins.
func NewCalendar(overrides map[civil.Date]Kind) *Calendar {
	c := &Calendar{kinds: make(map[int64]Kind)}
	for d, k := range overrides {
		if k != Holiday && k != Workday {
			continue
		}
		n := dayNumber(d)
		if prev, ok := c.kinds[n]; ok && prev == Holiday {
			continue
		}
		c.kinds[n] = k
	}
	for n, k := range c.kinds {
		weekend := isWeekend(n)
		switch {
		case k == Holiday && !weekend:
			c.adj = append(c.adj, adjust{day: n, delta: -1})
		case k == Workday && weekend:
			c.adj = append(c.adj, adjust{day: n, delta: +1})
		default:
			delete(c.kinds, n)
		}
	}
	sort.Slice(c.adj, func(i, j int) bool { return c.adj[i].day < c.adj[j].day })
	c.prefix = make([]int, len(c.adj)+1)
	for i, a := range c.adj {
		c.prefix[i+1] = c.prefix[i] + a.delta
	}
	return c
}

// IsWorkday reports whether d is a working day: a WORKDAY override, or a
// Monday to Friday that is not a HOLIDAY override.
func (c *Calendar) IsWorkday(d civil.Date) bool {
	return c.isWorkday(dayNumber(d))
}

func (c *Calendar) isWorkday(n int64) bool {
	if c != nil {
		if k, ok := c.kinds[n]; ok {
			return k == Workday
		}
	}
	return !isWeekend(n)
}

// AddWorkdays returns the n-th working day after start (start itself never
// counts). n=0 returns start. This is how a deadline is computed: acceptance
// date + time limit in working days.
//
// A negative n counts backwards and returns the |n|-th working day before
// start. |n| is clamped to MaxWorkdays. For n >= 0,
// Between(start, AddWorkdays(start, n)) == n always holds; for n < 0 it holds
// when start is itself a working day.
func (c *Calendar) AddWorkdays(start civil.Date, n int) civil.Date {
	n = min(max(n, -MaxWorkdays), MaxWorkdays)
	day := dayNumber(start)
	step := int64(1)
	if n < 0 {
		step, n = -1, -n
	}
	// Every weekday outside the finite override set is a working day, so the
	// loop ends after at most about 7n/5 + len(overrides) steps.
	for n > 0 {
		day += step
		if c.isWorkday(day) {
			n--
		}
	}
	if day == dayNumber(start) {
		return start
	}
	return fromDayNumber(day)
}

// Between counts working days in (from, to]: from exclusive, to inclusive;
// negative when to is before from (mirror), 0 when equal.
//
// It runs in time logarithmic in the number of overrides, however far apart
// the dates are.
func (c *Calendar) Between(from, to civil.Date) int {
	a, b := dayNumber(from), dayNumber(to)
	switch {
	case a == b:
		return 0
	case b < a:
		return -c.count(b, a)
	}
	return c.count(a, b)
}

// count returns the number of working days in (a, b], for a < b.
func (c *Calendar) count(a, b int64) int {
	n := weekdaysUpTo(b) - weekdaysUpTo(a)
	if c != nil && len(c.adj) > 0 {
		// Effective overrides with a < day <= b.
		lo := sort.Search(len(c.adj), func(i int) bool { return c.adj[i].day > a })
		hi := sort.Search(len(c.adj), func(i int) bool { return c.adj[i].day > b })
		n += int64(c.prefix[hi] - c.prefix[lo])
	}
	return int(n)
}

// monday0 is the day number of Monday 1970-01-05.
const monday0 = 4

// weekdaysUpTo returns a running count of Monday-to-Friday days ending at day
// number n, such that weekdaysUpTo(b)-weekdaysUpTo(a) is the number of
// weekdays in (a, b].
func weekdaysUpTo(n int64) int64 {
	k := n + 1 - monday0 // days since monday0, counting n itself
	return 5*floorDiv(k, 7) + min(floorMod(k, 7), 5)
}

// isWeekend reports whether day number n is a Saturday or a Sunday.
func isWeekend(n int64) bool {
	w := weekdayOf(n)
	return w == time.Saturday || w == time.Sunday
}
