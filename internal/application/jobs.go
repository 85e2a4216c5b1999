package application

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/periodic"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/run"
)

// acceptByLawLockKey is the advisory lock that keeps the §32 job on one instance.
const acceptByLawLockKey = 7_050_032

// acceptByLawChunk is how many applications one transaction of the job accepts.
const acceptByLawChunk = 500

// SystemActorName is the name events the system takes by law carry.
const SystemActorName = "系统（依法视为受理）"

// lastDueReceipt is the latest receipt date whose §32 window has closed
// by today: every application received on it or before, still SUBMITTED,
// is accepted by law. noticeDue is monotonic in the receipt date, so the
// search walks back from five calendar days before today (the window is
// at least that long) over at most a holiday's length.
func (c calendarView) lastDueReceipt(today civil.Date) civil.Date {
	d := today.AddDays(-NoticeWorkingDays)
	for !c.noticeDue(d).Before(today) {
		d = d.AddDays(-1)
	}
	return d
}

// AcceptByLaw runs the §32 job once: every application still SUBMITTED
// five working days after its materials were received, with no 补正 notice
// or refusal, is accepted by law from the day of receipt, its deadlines
// computed from that day, with a DEEMED_ACCEPT event saying so. It runs
// under a session advisory lock (another instance running it makes this
// call a no-op), in chunks, each its own transaction that takes only rows
// still SUBMITTED (so an interrupted run loses nothing and repeats
// nothing: the next run finds what is left). It returns how many it accepted.
func (s *Service) AcceptByLaw(ctx context.Context) (total int, err error) {
	_, err = database.Exclusively(ctx, s.db, acceptByLawLockKey, func(*sql.Conn) error {
		total, err = s.acceptDue(ctx)
		return err
	})
	return total, err
}

// acceptDue accepts, chunk by chunk, what is due (AcceptByLaw, under its
// lock).
func (s *Service) acceptDue(ctx context.Context) (int, error) {
	cal, err := s.calendar(ctx)
	if err != nil {
		return 0, err
	}
	now := s.now()
	// Received before the start of the day after the last due receipt date.
	cut := cal.lastDueReceipt(civil.DateOf(now)).AddDays(1).In(civil.Shanghai)
	items := map[uuid.UUID]*Item{}
	total := 0
	for {
		n := 0
		err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
			var rows []applicationRow
			err := tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"}).
				Where("status = ? AND received_at < ?", string(Submitted), cut).
				Order("received_at, id").Limit(acceptByLawChunk).Find(&rows).Error
			if err != nil {
				return fmt.Errorf("application: accept by law: %w", err)
			}
			for i := range rows {
				if err := s.acceptByLaw(ctx, tx, cal, &rows[i], items, now); err != nil {
					return err
				}
			}
			n = len(rows)
			return nil
		})
		if err != nil {
			return total, database.Classify(err)
		}
		total += n
		if n < acceptByLawChunk {
			return total, nil
		}
	}
}

// acceptByLaw accepts one application by law inside tx.
func (s *Service) acceptByLaw(ctx context.Context, tx *gorm.DB, cal calendarView, row *applicationRow, items map[uuid.UUID]*Item, now time.Time) error {
	it := items[row.ItemID]
	if it == nil {
		var ir itemRow
		if err := tx.WithContext(ctx).Where("id = ?", row.ItemID).Take(&ir).Error; err != nil {
			return fmt.Errorf("application: item: %w", err)
		}
		var err error
		if it, err = ir.item(); err != nil {
			return err
		}
		items[row.ItemID] = it
	}
	received := civil.DateOf(row.ReceivedAt)
	upd := map[string]any{"status": string(Accepted), "accepted_at": row.ReceivedAt, "accepted_by_law": true, "updated_at": now}
	cal.deadlines(deadlineInput{accepted: received, statute: it.TimeLimitWorkingDays, promised: it.PromisedLimitWorkingDays}).apply(upd)
	if err := tx.WithContext(ctx).Model(&applicationRow{}).Where("id = ?", row.ID).Updates(upd).Error; err != nil {
		return fmt.Errorf("application: accept by law: %w", err)
	}
	note := fmt.Sprintf("收到申请材料后五个工作日内（至 %s）未告知补正，依《中华人民共和国行政许可法》第三十二条，自收到申请材料之日（%s）起即为受理",
		cal.noticeDue(received), received)
	return insertEvent(ctx, tx, row, DeemedAccept, Submitted, Accepted, auth.SubjectKind("SYSTEM"), uuid.Nil, SystemActorName, &note, now)
}

// RunAcceptByLaw runs AcceptByLaw every interval until ctx ends.
func (s *Service) RunAcceptByLaw(ctx context.Context, interval time.Duration, warn func(msg string, args ...any)) {
	periodic.Every(ctx, interval, false, nil, func(ctx context.Context) {
		if _, err := s.AcceptByLaw(ctx); err != nil && ctx.Err() == nil && warn != nil {
			warn("application: accept by law failed", "err", err.Error())
		}
	})
}

// CalendarDay is one override of a year being imported.
type CalendarDay struct {
	Date civil.Date
	Kind DayKind
}

// ImportResult is what importCalendarYear did.
type ImportResult struct {
	Year int
	Days int
	// Run recomputes the deadlines of the open applications the year affects.
	Run *run.Run
}

// calendarSubject is the runs.subject_id of deadline recomputations: the
// calendar is one thing; the year is the run's key.
var calendarSubject = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:jinjiang:calendar"))

// SetRuns wires the run worker that recomputes deadlines (at start-up).
func (s *Service) SetRuns(w *run.Worker, chunk int) {
	s.runs, s.runChunk = w, chunk
	w.Handle(run.RecomputeDeadlines, recomputer{s: s})
}

// ImportCalendarYear loads a year's holidays and 调休 days (ADMIN),
// replacing what was set for that year, marks the year known, and starts
// the run that recomputes the deadlines of open applications it affects;
// audited in the same transaction.
func (s *Service) ImportCalendarYear(ctx context.Context, year int, days []CalendarDay) (*ImportResult, error) {
	v, err := policy.Require(ctx, policy.ManageCalendar)
	if err != nil {
		return nil, err
	}
	if year < 1900 || year > 2200 {
		return nil, problem.New(problem.Invalid, "年份须在 1900 至 2200 之间", "year")
	}
	if s.runs == nil {
		return nil, fmt.Errorf("application: no run worker wired")
	}
	seen := map[civil.Date]bool{}
	for i, d := range days {
		switch {
		case d.Date.Year != year:
			return nil, problem.New(problem.Invalid, fmt.Sprintf("%s 不在 %d 年内", d.Date, year), "days", strconv.Itoa(i), "date")
		case d.Kind != Holiday && d.Kind != Workday:
			return nil, problem.New(problem.Invalid, "类型须为 HOLIDAY 或 WORKDAY", "days", strconv.Itoa(i), "kind")
		case seen[d.Date]:
			return nil, problem.New(problem.Duplicate, d.Date.String()+" 列了两次", "days", strconv.Itoa(i), "date")
		}
		seen[d.Date] = true
	}
	now := s.now()
	out := &ImportResult{Year: year, Days: len(days)}
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		first, next := civil.Date{Year: year, Month: time.January, Day: 1}, civil.Date{Year: year + 1, Month: time.January, Day: 1}
		if err := tx.WithContext(ctx).Where("date >= ? AND date < ?", first, next).Delete(&calendarRow{}).Error; err != nil {
			return fmt.Errorf("application: import calendar: %w", err)
		}
		for _, d := range days {
			if err := tx.WithContext(ctx).Create(&calendarRow{Date: d.Date, Kind: string(d.Kind), UpdatedAt: now}).Error; err != nil {
				return fmt.Errorf("application: import calendar: %w", err)
			}
		}
		if err := tx.WithContext(ctx).Exec(`INSERT INTO calendar_years (year, imported_at) VALUES (?, ?)
			ON CONFLICT (year) DO UPDATE SET imported_at = EXCLUDED.imported_at`, year, now).Error; err != nil {
			return fmt.Errorf("application: import calendar: %w", err)
		}
		cur, err := run.RunningOf(ctx, tx, run.RecomputeDeadlines, calendarSubject, strconv.Itoa(year))
		if err != nil {
			return err
		}
		if cur != nil {
			// A recomputation of this year is under way: it reads the
			// calendar as committed when each chunk runs, so it sees this import.
			out.Run = cur
		} else {
			out.Run = &run.Run{Kind: run.RecomputeDeadlines, SubjectID: calendarSubject, Key: strconv.Itoa(year), Params: json.RawMessage(`{}`),
				StartedBy: &v.ID, StartedByKind: string(v.Kind), RequestID: auth.RequestID(ctx), StartedAt: now}
			if err := s.runs.Create(ctx, tx, out.Run); err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx, audit.ActionImportCalendarYear, audit.EntityCalendarDay, nil,
			map[string]any{"year": year, "days": len(days), "runId": out.Run.ID})
	})
	s.invalidateCalendar()
	if err != nil {
		return nil, database.Classify(err)
	}
	s.runs.Go(out.Run.ID)
	return out, nil
}

// DeadlineRun returns a recomputation run (ADMIN, who starts them).
func (s *Service) DeadlineRun(ctx context.Context, id uuid.UUID) (*run.Run, error) {
	if _, err := policy.Require(ctx, policy.ManageCalendar); err != nil {
		return nil, err
	}
	return run.GetOf(ctx, s.db, id, run.RecomputeDeadlines)
}

// recomputer is the handler of deadline recomputations: the open,
// accepted applications whose deadline span reaches into the year (or is
// provisional), by id, a chunk per step.
type recomputer struct{ s *Service }

// affectedSQL selects the applications a calendar year can move.
var affectedSQL = openSQL + ` AND deadline IS NOT NULL AND (deadline_provisional OR deadline >= ?) AND accepted_at < ?`

func (h recomputer) Step(ctx context.Context, tx *gorm.DB, r *run.Run) (bool, error) {
	year, err := strconv.Atoi(r.Key)
	if err != nil {
		return false, fmt.Errorf("application: recompute key %q: %w", r.Key, err)
	}
	first := civil.Date{Year: year, Month: time.January, Day: 1}
	end := civil.Date{Year: year + 1, Month: time.January, Day: 1}.In(civil.Shanghai)
	if !r.Planned() {
		var n int64
		if err := tx.WithContext(ctx).Model(&applicationRow{}).Where(affectedSQL, first, end).Count(&n).Error; err != nil {
			return false, fmt.Errorf("application: recompute plan: %w", err)
		}
		r.Total = &n
		return n == 0, nil
	}
	h.s.invalidateCalendar()
	cal, err := h.s.calendar(ctx)
	if err != nil {
		return false, err
	}
	chunk := h.s.runChunk
	if chunk <= 0 {
		chunk = 1000
	}
	var rows []applicationRow
	err = tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where(affectedSQL+" AND id > ?", first, end, r.CursorOrZero()).
		Order("id").Limit(chunk).Find(&rows).Error
	if err != nil {
		return false, fmt.Errorf("application: recompute: %w", err)
	}
	items := map[uuid.UUID]*Item{}
	for i := range rows {
		row := &rows[i]
		it := items[row.ItemID]
		if it == nil {
			var ir itemRow
			if err := tx.WithContext(ctx).Where("id = ?", row.ItemID).Take(&ir).Error; err != nil {
				return false, fmt.Errorf("application: item: %w", err)
			}
			if it, err = ir.item(); err != nil {
				return false, err
			}
			items[row.ItemID] = it
		}
		in, err := deadlineInputOf(ctx, tx, row, it, civil.DateOf(*row.AcceptedAt), row.Extended)
		if err != nil {
			return false, err
		}
		res := cal.deadlines(in)
		changed := row.Deadline == nil || *row.Deadline != res.statutory || row.DeadlineProvisional != res.provisional
		if changed {
			upd := map[string]any{}
			res.apply(upd)
			if err := tx.WithContext(ctx).Model(&applicationRow{}).Where("id = ?", row.ID).Updates(upd).Error; err != nil {
				return false, fmt.Errorf("application: recompute: %w", err)
			}
			r.Count++
		} else {
			r.Skipped++
		}
		r.Done++
		id := row.ID
		r.Cursor = &id
	}
	return len(rows) < chunk, nil
}

func (h recomputer) Ended(ctx context.Context, tx *gorm.DB, r *run.Run) error {
	detail := map[string]any{"year": r.Key, "status": string(r.Status), "recomputed": r.Count, "unchanged": r.Skipped, "runId": r.ID}
	if r.ErrorCode != nil {
		detail["errorCode"] = *r.ErrorCode
	}
	return audit.Record(ctx, tx, audit.ActionImportCalendarYear, audit.EntityCalendarDay, nil, detail)
}
