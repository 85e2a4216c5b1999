package application

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/workday"
)

// NoticeWorkingDays is §32's window: an application not answered with a
// 补正 notice (or a refusal) within five working days of receipt is
// accepted by law from the day of receipt. §82 counts every limit of the
// law in working days.
const NoticeWorkingDays = 5

// calendarView is the working-day calendar and the years it knows: a year
// not loaded has no holidays or 调休 days in it, so any date computed
// across it is provisional.
type calendarView struct {
	*workday.Calendar
	years map[int]bool
}

// knows reports whether every year from a to b (inclusive) is loaded.
func (c calendarView) knows(a, b civil.Date) bool {
	for y := a.Year; y <= b.Year; y++ {
		if !c.years[y] {
			return false
		}
	}
	return true
}

// noticeDue is the last day on which a 补正 notice or a refusal may answer
// an application received on received (§32).
func (c calendarView) noticeDue(received civil.Date) civil.Date {
	return c.AddWorkdays(received, NoticeWorkingDays)
}

// deadlineInput is what an application's deadlines are computed from.
type deadlineInput struct {
	accepted civil.Date
	statute  int
	promised *int
	// extension is the working days of the one EXTEND, 0 when not extended.
	extension int
	pauses    []Pause
}

// deadlineResult is both deadlines and whether they are provisional.
type deadlineResult struct {
	statutory, promised civil.Date
	hasPromised         bool
	provisional         bool
}

// deadlines computes an application's deadlines: the acceptance date plus
// the limit (and the extension once granted) in working days, then moved
// on by the working days of each ended §45 pause (its first and last day
// included: none of them counts). Derived from the inputs every time, so
// a calendar import recomputes them the same way.
func (c calendarView) deadlines(in deadlineInput) deadlineResult {
	paused := 0
	for _, p := range in.pauses {
		if p.EndedOn != nil {
			paused += c.Between(p.StartedOn.AddDays(-1), *p.EndedOn)
		}
	}
	out := deadlineResult{statutory: c.AddWorkdays(in.accepted, in.statute+in.extension+paused)}
	last := out.statutory
	if in.promised != nil {
		// The extension (§42) lengthens the statutory limit only: a promise is
		// not extended.
		out.promised, out.hasPromised = c.AddWorkdays(in.accepted, *in.promised+paused), true
	}
	out.provisional = !c.knows(in.accepted, last)
	return out
}

// apply writes r into the columns of an update.
func (r deadlineResult) apply(upd map[string]any) {
	upd["deadline"], upd["deadline_provisional"] = r.statutory, r.provisional
	if r.hasPromised {
		upd["promised_deadline"] = r.promised
	} else {
		upd["promised_deadline"] = nil
	}
}

// deadlineInputOf gathers an accepted application's deadline inputs inside tx.
func deadlineInputOf(ctx context.Context, tx *gorm.DB, row *applicationRow, it *Item, accepted civil.Date, extended bool) (deadlineInput, error) {
	in := deadlineInput{accepted: accepted, statute: it.TimeLimitWorkingDays, promised: it.PromisedLimitWorkingDays}
	if extended {
		in.extension = it.ExtensionWorkingDays
	}
	var prs []pauseRow
	if err := tx.WithContext(ctx).Where("application_id = ?", row.ID).Order("started_on").Find(&prs).Error; err != nil {
		return in, fmt.Errorf("application: pauses: %w", err)
	}
	for _, p := range prs {
		in.pauses = append(in.pauses, *p.pause())
	}
	return in, nil
}

// calendar returns the working-day calendar, loading it when the cached
// copy is missing or older than calendarTTL. The TTL runs on the wall
// clock: it is a cache lifetime, not business time.
func (s *Service) calendar(ctx context.Context) (calendarView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cal.Calendar != nil && time.Now().Before(s.calUntil) {
		return s.cal, nil
	}
	var rows []calendarRow
	if err := s.db.WithContext(ctx).Find(&rows).Error; err != nil {
		return calendarView{}, database.Classify(fmt.Errorf("application: calendar: %w", err))
	}
	var years []int
	if err := s.db.WithContext(ctx).Table("calendar_years").Pluck("year", &years).Error; err != nil {
		return calendarView{}, database.Classify(fmt.Errorf("application: calendar years: %w", err))
	}
	m := make(map[civil.Date]workday.Kind, len(rows))
	for _, r := range rows {
		m[r.Date] = workday.Kind(r.Kind)
	}
	known := make(map[int]bool, len(years))
	for _, y := range years {
		known[y] = true
	}
	s.cal, s.calUntil = calendarView{Calendar: workday.NewCalendar(m), years: known}, time.Now().Add(calendarTTL)
	return s.cal, nil
}

func (s *Service) invalidateCalendar() {
	s.mu.Lock()
	s.cal = calendarView{}
	s.mu.Unlock()
}
