// Package page holds cursor pagination: the page size rules every list
// follows and the opaque cursors that carry a keyset position.
package page

import (
	"encoding/base64"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/problem"
)

// MaxFirst is the largest page a client may ask for.
const MaxFirst = 100

// DefaultFirst is the page size when the client gives none.
const DefaultFirst = 20

// Request is a validated page request: at most First rows after the keyset
// position After (nil for the first page).
type Request struct {
	First int
	After *uuid.UUID
	// Total asks for the total count too; a list counts only when the
	// client selected it (a count over a district's million rows is most of
	// a page's cost).
	Total bool
}

// ExactTotalUpTo is how far a total is counted exactly; a larger one may be
// the planner's estimate (Result.TotalIsEstimate), since counting a million
// rows exactly takes longer than serving the page.
const ExactTotalUpTo = 10000

// New validates first (1..100, default 20) and decodes the after cursor.
func New(first *int, after *string) (Request, error) {
	r := Request{First: DefaultFirst}
	if first != nil {
		if *first < 1 || *first > MaxFirst {
			return Request{}, problem.BadInput("first must be between 1 and 100")
		}
		r.First = *first
	}
	if after != nil && *after != "" {
		id, err := DecodeCursor(*after)
		if err != nil {
			return Request{}, err
		}
		r.After = &id
	}
	return r, nil
}

const cursorPrefix = "c1:"

// EncodeCursor returns the opaque cursor of a row keyed by id.
func EncodeCursor(id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + id.String()))
}

// DecodeCursor reads a cursor made by EncodeCursor.
func DecodeCursor(s string) (uuid.UUID, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) {
		return uuid.Nil, problem.BadInput("invalid cursor")
	}
	id, err := uuid.Parse(strings.TrimPrefix(string(b), cursorPrefix))
	if err != nil || EncodeCursor(id) != s {
		return uuid.Nil, problem.BadInput("invalid cursor")
	}
	return id, nil
}

// Result is one page of rows plus what a Relay connection needs.
type Result[T any] struct {
	Items       []T
	HasNext     bool
	HasPrevious bool
	TotalCount  int
	// TotalIsEstimate: TotalCount is above ExactTotalUpTo and estimated.
	TotalIsEstimate bool
}

// Trim cuts rows fetched with limit First+1 down to the page and reports
// whether there is a next page.
func Trim[T any](r Request, rows []T) Result[T] {
	res := Result[T]{Items: rows, HasPrevious: r.After != nil}
	if len(rows) > r.First {
		res.Items = rows[:r.First]
		res.HasNext = true
	}
	return res
}

// NewestFirst narrows q to page r of a list newest first by its UUIDv7 key
// col ("id", or "c.id" in a join): the rows before the cursor, one more
// than asked for, so that Trim can tell whether there is a next page.
func NewestFirst(q *gorm.DB, col string, r Request) *gorm.DB {
	if r.After != nil {
		q = q.Where(col+" < ?", *r.After)
	}
	return q.Order(col + " DESC").Limit(r.First + 1)
}
