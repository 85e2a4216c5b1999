package application

import (
	"context"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// SetCalendarDay marks date as a HOLIDAY or a WORKDAY (ADMIN). Deadlines
// already set are not moved; new ones use the change.
func (s *Service) SetCalendarDay(ctx context.Context, date civil.Date, kind DayKind) error {
	if _, err := policy.Require(ctx, policy.ManageCalendar); err != nil {
		return err
	}
	if kind != Holiday && kind != Workday {
		return problem.BadInput("kind must be HOLIDAY or WORKDAY")
	}
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		row := calendarRow{Date: date, Kind: string(kind), UpdatedAt: s.now()}
		if err := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "date"}},
			DoUpdates: clause.AssignmentColumns([]string{"kind", "updated_at"}),
		}).Create(&row).Error; err != nil {
			return fmt.Errorf("application: set calendar day: %w", err)
		}
		return audit.Record(ctx, tx, audit.ActionSetCalendarDay, audit.EntityCalendarDay, nil, map[string]any{"date": date.String(), "kind": string(kind)})
	})
	s.invalidateCalendar()
	return database.Classify(err)
}

// WorkingDaysBetween counts working days in (from, to] (any signed-in viewer).
func (s *Service) WorkingDaysBetween(ctx context.Context, from, to civil.Date) (int, error) {
	if err := auth.Require(ctx); err != nil {
		return 0, err
	}
	if from.Year < 1900 || to.Year < 1900 || from.Year > 2200 || to.Year > 2200 {
		return 0, problem.BadInput("dates must lie between 1900 and 2200")
	}
	cal, err := s.calendar(ctx)
	if err != nil {
		return 0, err
	}
	return cal.Between(from, to), nil
}

// CalendarYears lists the loaded years, ascending (any signed-in viewer).
func (s *Service) CalendarYears(ctx context.Context) ([]int, error) {
	if err := auth.Require(ctx); err != nil {
		return nil, err
	}
	var ys []int
	if err := s.db.WithContext(ctx).Table("calendar_years").Order("year").Pluck("year", &ys).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("application: calendar years: %w", err))
	}
	return ys, nil
}
