package org

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/run"
)

// moveParams is a move run's frozen input, and its result once done.
type moveParams struct {
	NewParentID uuid.UUID        `json:"newParentId"`
	To          string           `json:"to,omitempty"`
	Changed     map[string]int64 `json:"changed,omitempty"`
}

// MoveChanges reads a finished move run's rows changed per table.
func MoveChanges(r *run.Run) map[string]int64 {
	var p moveParams
	_ = json.Unmarshal(r.Params, &p)
	return p.Changed
}

// SetRuns wires the run worker that moves big subtrees (at start-up).
func (s *Service) SetRuns(w *run.Worker) {
	s.runs = w
	w.Handle(run.MoveOrgUnit, mover{s: s})
}

// MoveRun returns a move run (ADMIN).
func (s *Service) MoveRun(ctx context.Context, id uuid.UUID) (*run.Run, error) {
	if _, err := policy.Require(ctx, policy.ManageOrgTree); err != nil {
		return nil, err
	}
	return run.GetOf(ctx, s.db, id, run.MoveOrgUnit)
}

// mover is the handler of move runs: a first step counts the residents
// (progress has its total), the second moves everything in its one
// transaction, as the synchronous move does. Both re-check the move
// against the tree as it is then.
type mover struct{ s *Service }

func (h mover) Step(ctx context.Context, tx *gorm.DB, r *run.Run) (bool, error) {
	var p moveParams
	if err := json.Unmarshal(r.Params, &p); err != nil {
		return false, fmt.Errorf("org: move params: %w", err)
	}
	if err := lockTimeouts(ctx, tx); err != nil {
		return false, err
	}
	u, par, m, err := h.s.plan(ctx, tx, r.SubjectID, p.NewParentID, r.ID)
	if err != nil {
		return false, err
	}
	if !r.Planned() {
		n, err := h.s.occupancy(ctx, tx, m.From, 0)
		if err != nil {
			return false, err
		}
		r.Total = &n
		return false, nil
	}
	changed, err := h.s.move(ctx, tx, u, par, m)
	if err != nil {
		return false, err
	}
	p.To, p.Changed = m.To, changed
	if r.Params, err = json.Marshal(p); err != nil {
		return false, err
	}
	r.Done, r.Count = *r.Total, changed["residents"]
	return true, audit.Record(ctx, tx, audit.ActionMoveOrgUnit, audit.EntityOrgUnit, &r.SubjectID,
		map[string]any{"from": m.From, "to": m.To, "newParentId": par.ID, "runId": r.ID, "changed": changed})
}

func (h mover) Ended(ctx context.Context, tx *gorm.DB, r *run.Run) error {
	if r.Status == run.Succeeded {
		return nil // the last step's entry says what moved
	}
	return audit.Record(ctx, tx, audit.ActionMoveOrgUnit, audit.EntityOrgUnit, &r.SubjectID,
		map[string]any{"runId": r.ID, "status": string(r.Status)})
}

// Committed drops the caches once the move is committed.
func (h mover) Committed(ctx context.Context, r *run.Run) {
	var p moveParams
	if json.Unmarshal(r.Params, &p) == nil {
		h.s.changed(ctx, p.To)
	}
}
