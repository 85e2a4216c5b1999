// Package run works bulk jobs as durable runs: a row in the runs table,
// worked through in chunks (by keyset), each chunk one transaction that
// also records the run's cursor and counters. A run is driven by one
// instance at a time, the one holding its lease; every instance's worker
// loop claims runs whose lease lapsed (FOR UPDATE SKIP LOCKED), so a run
// interrupted by a crash, kill -9 or deploy resumes after its last committed
// chunk on whichever instance claims it next. What a chunk does is the
// handler's (registered per Kind by the domain that owns the work); the
// handler's SQL must be idempotent per item (a unique key), so that nothing
// is done twice however the run is interrupted.
package run

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Kind names the work a run does; its handler is registered under it.
type Kind string

// The kinds (the runs table's CHECK lists them).
const (
	IssueVouchers   Kind = "ISSUE_VOUCHERS"
	EnrollResidents Kind = "ENROLL_RESIDENTS"
	// RecomputeDeadlines recomputes application deadlines after a calendar
	// year is imported (internal/application).
	RecomputeDeadlines Kind = "RECOMPUTE_DEADLINES"
	// ImportResidents applies an uploaded file of residents
	// (internal/resident): subject the import, items its staged rows.
	ImportResidents Kind = "IMPORT_RESIDENTS"
	// MoveOrgUnit moves a big org subtree in one transaction (internal/org);
	// FindDuplicates reports likely duplicate residents and ExportResidents
	// writes a residents list to XLSX (internal/resident).
	MoveOrgUnit     Kind = "MOVE_ORG_UNIT"
	FindDuplicates  Kind = "FIND_DUPLICATES"
	ExportResidents Kind = "EXPORT_RESIDENTS"
)

// Status is a run's state: RUNNING until it SUCCEEDED or FAILED.
type Status string

// Statuses.
const (
	Running   Status = "RUNNING"
	Succeeded Status = "SUCCEEDED"
	Failed    Status = "FAILED"
)

// Run is one run and its progress.
type Run struct {
	ID        uuid.UUID
	Kind      Kind
	SubjectID uuid.UUID
	// Key tells apart runs of one subject (an issuance's period); one run
	// per kind, subject and key may be RUNNING.
	Key string
	// Params is the handler's frozen input.
	Params json.RawMessage
	// ScopePath is the org-unit subtree the run was started for ("" for
	// the whole district).
	ScopePath string
	Status    Status
	// Total is what the run goes through, nil until it has planned.
	Total *int64
	Done  int64
	// Count, Fen and Skipped are the handler's results (vouchers issued
	// and their sum, residents enrolled; items skipped as done already).
	Count   int64
	Fen     int64
	Skipped int64
	// Cursor is the last item done (the keyset position).
	Cursor *uuid.UUID
	// ErrorCode is a user-error code (problem.Code) when the run failed
	// for a business reason; Error the message.
	ErrorCode *string
	Error     *string
	Attempts  int

	StartedBy     *uuid.UUID
	StartedByKind string
	RequestID     string
	StartedAt     time.Time
	UpdatedAt     time.Time
	FinishedAt    *time.Time
	LeaseOwner    *string
	LeaseUntil    *time.Time
}

// Finished reports whether the run has ended.
func (r *Run) Finished() bool { return r.Status != Running }

// Planned reports whether the run has counted what it goes through.
func (r *Run) Planned() bool { return r.Total != nil }

// TotalOrZero is Total, or 0 before the run has planned.
func (r *Run) TotalOrZero() int64 {
	if r.Total == nil {
		return 0
	}
	return *r.Total
}

// CursorOrZero is the keyset position to continue after (the zero UUID,
// below every UUIDv7, before the first chunk).
func (r *Run) CursorOrZero() uuid.UUID {
	if r.Cursor == nil {
		return uuid.Nil
	}
	return *r.Cursor
}
