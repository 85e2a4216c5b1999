package resident

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
)

// Selection is a residents-list filter compiled for bulk work (enrolling
// everyone it matches): validated by the list's own rules, ages fixed to
// the day it was compiled, and bound to the jurisdiction scope of whoever
// asked. It is plain data, so a durable run stores it and whichever
// instance resumes the run selects exactly the same residents.
type Selection struct {
	Scope          policy.Scope `json:"scope"`
	Prefixes       []string     `json:"prefixes,omitempty"`
	Community      *uuid.UUID   `json:"community,omitempty"`
	Grid           *uuid.UUID   `json:"grid,omitempty"`
	NameContains   string       `json:"nameContains,omitempty"`
	Search         string       `json:"search,omitempty"`
	BornOnOrBefore *civil.Date  `json:"bornOnOrBefore,omitempty"`
	BornAfter      *civil.Date  `json:"bornAfter,omitempty"`
	Statuses       []string     `json:"statuses,omitempty"`
	CareLevels     []string     `json:"careLevels,omitempty"`
}

// Select compiles f, ages judged on today, within scope (the caller's
// scope of the action the selection is for).
func Select(ctx context.Context, db *gorm.DB, f Filter, scope policy.Scope, today civil.Date) (Selection, error) {
	q, err := compile(ctx, db, f, today)
	if err != nil {
		return Selection{}, err
	}
	sel := Selection{Scope: scope, Prefixes: q.prefixes, Community: q.community, Grid: q.grid,
		NameContains: q.nameContains, Search: q.search, BornOnOrBefore: q.bornOnOrBefore,
		BornAfter: q.bornAfter, Statuses: q.statuses, CareLevels: q.careLevels}
	// One order, so that the same filter compiles to the same value.
	slices.Sort(sel.Prefixes)
	sel.Statuses = slices.Compact(slices.Sorted(slices.Values(sel.Statuses)))
	sel.CareLevels = slices.Compact(slices.Sorted(slices.Values(sel.CareLevels)))
	return sel, nil
}

func (sel Selection) query() query {
	return query{prefixes: sel.Prefixes, community: sel.Community, grid: sel.Grid, nameContains: sel.NameContains,
		search: sel.Search, bornOnOrBefore: sel.BornOnOrBefore, bornAfter: sel.BornAfter, statuses: sel.Statuses,
		careLevels: sel.CareLevels}
}

func (sel Selection) where(db *gorm.DB) *gorm.DB {
	where, args := sel.Scope.Where("org_path", "id")
	return sel.query().apply(db.Model(&residentRow{})).Where(where, args...)
}

// IDsAfter is a subquery of the ids of the next limit selected residents
// after the keyset position, in id order (for the caller's own statement:
// other domains never name the residents table).
func (sel Selection) IDsAfter(db *gorm.DB, after uuid.UUID, limit int) *gorm.DB {
	return sel.where(db).Select("id").Where("id > ?", after).Order("id").Limit(limit)
}

// Count is how many residents the selection matches.
func (sel Selection) Count(ctx context.Context, db *gorm.DB) (int64, error) {
	var n int64
	if err := sel.where(db.WithContext(ctx)).Count(&n).Error; err != nil {
		return 0, database.Classify(fmt.Errorf("resident: count selection: %w", err))
	}
	return n, nil
}
