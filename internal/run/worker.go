package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/problem"
)

// Handler does one kind of run's work.
type Handler interface {
	// Step does the run's next chunk inside tx, which holds the run's row
	// lock, and moves r's progress (Total, Done, Cursor, Count, Fen,
	// Skipped, Params); the worker saves r in the same transaction. It
	// reports true when the run is complete. A *problem.UserError fails
	// the run (that chunk's work rolled back); any other error is retried.
	Step(ctx context.Context, tx *gorm.DB, r *Run) (done bool, err error)
	// Ended records the run's end (SUCCEEDED or FAILED) inside tx: its
	// audit entry.
	Ended(ctx context.Context, tx *gorm.DB, r *Run) error
}

// Options tune a Worker.
type Options struct {
	// Lease is how long a run stays with the instance driving it without
	// a committed chunk; then any instance may claim it.
	Lease time.Duration
	// Poll is how often the worker loop looks for runs to claim.
	Poll time.Duration
	Log  *slog.Logger
}

// maxAttempts is how many consecutive internal failures of one chunk fail
// the run.
const maxAttempts = 5

// Worker creates, claims and drives runs. Every serving instance runs one
// (Loop); an instance that starts a run drives it at once (Go).
type Worker struct {
	db       *gorm.DB
	opt      Options
	owner    string
	handlers map[Kind]Handler

	mu      sync.Mutex
	base    context.Context
	driving map[uuid.UUID]chan struct{}
	kick    chan struct{}
	// afterStep: see SetAfterStep.
	afterStep func(r *Run) error
}

// SetAfterStep sets a function (tests) run after each committed chunk of
// a run this worker drives; an error stops driving it there without
// releasing the lease, as if the process had died. nil removes it.
func (w *Worker) SetAfterStep(f func(r *Run) error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.afterStep = f
}

// NewWorker builds a worker; its lease owner is unique per process.
func NewWorker(db *gorm.DB, opt Options) *Worker {
	if opt.Lease <= 0 {
		opt.Lease = 30 * time.Second
	}
	if opt.Poll <= 0 {
		opt.Poll = 5 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	return &Worker{db: db, opt: opt, owner: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), uuid.NewString()[:8]),
		handlers: map[Kind]Handler{}, driving: map[uuid.UUID]chan struct{}{}, kick: make(chan struct{}, 1)}
}

// Handle registers the handler of a kind (at wiring time).
func (w *Worker) Handle(k Kind, h Handler) { w.handlers[k] = h }

// Owner is this worker's lease owner name.
func (w *Worker) Owner() string { return w.owner }

// ErrRunning is returned by Create when a run of the same kind, subject
// and key is RUNNING already (a concurrent start).
var ErrRunning = errors.New("run: a run of this kind, subject and key is running")

// Create inserts r as RUNNING inside the caller's transaction, leased to
// this worker (call Go after the commit to drive it here).
func (w *Worker) Create(ctx context.Context, tx *gorm.DB, r *Run) error {
	if r.ID == uuid.Nil {
		r.ID = uuid.Must(uuid.NewV7())
	}
	params := string(r.Params)
	if params == "" {
		params = "{}"
	}
	if r.StartedByKind == "" {
		r.StartedByKind = "SYSTEM"
	}
	r.Status, r.LeaseOwner = Running, &w.owner
	err := tx.WithContext(ctx).Raw(`INSERT INTO runs (id, kind, subject_id, run_key, params, scope_path, status, started_by, started_by_kind,
			request_id, started_at, updated_at, lease_owner, lease_until)
		VALUES (?, ?, ?, ?, CAST(? AS jsonb), ?, 'RUNNING', ?, ?, ?, ?, ?, ?, now() + make_interval(secs => ?))
		RETURNING lease_until`,
		r.ID, string(r.Kind), r.SubjectID, r.Key, params, r.ScopePath, r.StartedBy, r.StartedByKind, r.RequestID,
		r.StartedAt, r.StartedAt, w.owner, w.opt.Lease.Seconds()).Row().Scan(&r.LeaseUntil)
	if c, ok := database.IsUniqueViolation(err); ok && c == "runs_one_running_key" {
		return ErrRunning
	}
	if err != nil {
		return database.Classify(fmt.Errorf("run: create: %w", err))
	}
	r.UpdatedAt = r.StartedAt
	return nil
}

// Start runs Loop in the background; runs started on this instance (Go)
// are driven on ctx too, so that shutdown stops them and releases their
// leases.
func (w *Worker) Start(ctx context.Context) {
	w.mu.Lock()
	w.base = ctx
	w.mu.Unlock()
	go w.Loop(ctx)
}

// Loop claims runs whose lease lapsed and drives them, one at a time,
// until ctx ends; runs started on this instance (Go) are driven beside it.
func (w *Worker) Loop(ctx context.Context) {
	w.mu.Lock()
	if w.base == nil {
		w.base = ctx
	}
	w.mu.Unlock()
	t := time.NewTicker(w.opt.Poll)
	defer t.Stop()
	for {
		for ctx.Err() == nil {
			id, err := w.ClaimOne(ctx)
			if err != nil {
				if ctx.Err() == nil {
					w.opt.Log.Warn("run: claim failed", "err", err.Error())
				}
				break
			}
			if id == nil {
				break
			}
			w.opt.Log.Info("run: claimed", "run_id", *id)
			w.drive(ctx, *id)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		}
	}
}

// Kick makes the loop look for claimable runs now.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// ClaimOne takes the lease of one RUNNING run nobody holds (or whose
// holder's lease lapsed) and returns its id, or nil when there is none.
// A run whose row a chunk holds locked is skipped, never waited for.
func (w *Worker) ClaimOne(ctx context.Context) (*uuid.UUID, error) {
	var ids []uuid.UUID
	err := w.db.WithContext(ctx).Raw(`UPDATE runs SET lease_owner = ?, lease_until = now() + make_interval(secs => ?)
		WHERE id = (SELECT id FROM runs WHERE status = 'RUNNING' AND (lease_until IS NULL OR lease_until < now())
			ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING id`, w.owner, w.opt.Lease.Seconds()).Scan(&ids).Error
	if err != nil {
		return nil, database.Classify(fmt.Errorf("run: claim: %w", err))
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return &ids[0], nil
}

// ClaimRun takes the lease of one RUNNING run when nobody holds it (or
// its holder's lease lapsed), and reports whether it did.
func (w *Worker) ClaimRun(ctx context.Context, id uuid.UUID) (bool, error) {
	res := w.db.WithContext(ctx).Exec(`UPDATE runs SET lease_owner = ?, lease_until = now() + make_interval(secs => ?)
		WHERE id = ? AND status = 'RUNNING' AND (lease_until IS NULL OR lease_until < now())`, w.owner, w.opt.Lease.Seconds(), id)
	if res.Error != nil {
		return false, database.Classify(fmt.Errorf("run: claim: %w", res.Error))
	}
	return res.RowsAffected == 1, nil
}

// Driving reports whether this worker is driving the run now.
func (w *Worker) Driving(id uuid.UUID) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.driving[id]
	return ok
}

// Go drives a run this worker holds in the background (on the worker
// loop's context, so shutdown stops it and releases the lease).
func (w *Worker) Go(id uuid.UUID) {
	w.mu.Lock()
	base := w.base
	if base == nil {
		base = context.Background()
	}
	w.mu.Unlock()
	go w.drive(base, id)
}

// Drive drives a run this worker holds until it ends, the lease is lost,
// or ctx ends (the lease is then released for another instance).
func (w *Worker) Drive(ctx context.Context, id uuid.UUID) { w.drive(ctx, id) }

func (w *Worker) drive(ctx context.Context, id uuid.UUID) {
	w.mu.Lock()
	if _, busy := w.driving[id]; busy {
		w.mu.Unlock()
		return
	}
	done := make(chan struct{})
	w.driving[id] = done
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.driving, id)
		w.mu.Unlock()
		close(done)
	}()
	for {
		if ctx.Err() != nil {
			w.release(id)
			return
		}
		r, stop, err := w.step(ctx, id)
		if err != nil {
			var ue *problem.UserError
			switch {
			case errors.As(err, &ue):
				if err := w.fail(ctx, id, ue); err != nil {
					w.opt.Log.Warn("run: recording failure failed", "run_id", id, "err", err.Error())
				}
				return
			case ctx.Err() != nil:
				w.release(id)
				return
			}
			w.opt.Log.Warn("run: chunk failed", "run_id", id, "err", err.Error())
			if w.retryLater(ctx, id) {
				continue
			}
			return
		}
		if stop {
			return
		}
		if r.Finished() {
			if c, ok := w.handlers[r.Kind].(Committer); ok {
				c.Committed(ctx, r)
			}
		}
		w.mu.Lock()
		after := w.afterStep
		w.mu.Unlock()
		if after != nil {
			if err := after(r); err != nil {
				return
			}
		}
		if r.Finished() {
			return
		}
	}
}

// step does one chunk in one transaction. stop means the run is not this
// worker's to drive (ended, or its lease taken over).
func (w *Worker) step(ctx context.Context, id uuid.UUID) (*Run, bool, error) {
	var cur *Run
	stop := false
	err := database.Tx(ctx, w.db, func(tx *gorm.DB) error {
		// A chunk is bounded; this is its ceiling on a busy machine, not
		// the interactive statement timeout.
		if err := tx.Exec("SET LOCAL statement_timeout = '300s'").Error; err != nil {
			return err
		}
		var rw row
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&rw).Error; err != nil {
			return err
		}
		if rw.Status != string(Running) || rw.LeaseOwner == nil || *rw.LeaseOwner != w.owner {
			stop = true
			return nil
		}
		cur = rw.run()
		h := w.handlers[cur.Kind]
		if h == nil {
			return fmt.Errorf("run: no handler for kind %s", cur.Kind)
		}
		finished, err := h.Step(ctx, tx, cur)
		if err != nil {
			return err
		}
		if finished {
			cur.Status = Succeeded
			if err := h.Ended(starterContext(ctx, cur), tx, cur); err != nil {
				return err
			}
		}
		return w.save(ctx, tx, cur)
	})
	if err != nil {
		return nil, false, err
	}
	return cur, stop, nil
}

// save writes r's progress and renews (or, once it ended, drops) the
// lease.
func (w *Worker) save(ctx context.Context, tx *gorm.DB, r *Run) error {
	params := string(r.Params)
	if params == "" {
		params = "{}"
	}
	err := tx.WithContext(ctx).Raw(`UPDATE runs SET items_total = ?, items_done = ?, affected_count = ?, affected_fen = ?, skipped_count = ?,
			cursor_id = ?, params = CAST(? AS jsonb), attempts = 0, status = ?, updated_at = clock_timestamp(),
			finished_at = CASE WHEN ? = 'RUNNING' THEN NULL ELSE clock_timestamp() END,
			lease_owner = CASE WHEN ? = 'RUNNING' THEN lease_owner END,
			lease_until = CASE WHEN ? = 'RUNNING' THEN now() + make_interval(secs => ?) END
		WHERE id = ? RETURNING updated_at, finished_at`,
		r.Total, r.Done, r.Count, r.Fen, r.Skipped, r.Cursor, params, string(r.Status), string(r.Status), string(r.Status),
		string(r.Status), w.opt.Lease.Seconds(), r.ID).Row().Scan(&r.UpdatedAt, &r.FinishedAt)
	if err != nil {
		return fmt.Errorf("run: save: %w", err)
	}
	return nil
}

// fail ends the run FAILED for a business reason, with its audit entry.
func (w *Worker) fail(ctx context.Context, id uuid.UUID, ue *problem.UserError) error {
	code := string(ue.Code)
	return w.end(ctx, id, &code, ue.Message)
}

func (w *Worker) end(ctx context.Context, id uuid.UUID, code *string, msg string) error {
	ctx = context.WithoutCancel(ctx)
	return database.Tx(ctx, w.db, func(tx *gorm.DB) error {
		var rw row
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&rw).Error; err != nil {
			return err
		}
		if rw.Status != string(Running) || rw.LeaseOwner == nil || *rw.LeaseOwner != w.owner {
			return nil
		}
		r := rw.run()
		r.Status, r.ErrorCode, r.Error = Failed, code, &msg
		if h := w.handlers[r.Kind]; h != nil {
			if err := h.Ended(starterContext(ctx, r), tx, r); err != nil {
				return err
			}
		}
		return tx.Exec(`UPDATE runs SET status = 'FAILED', error_code = ?, error = ?, finished_at = clock_timestamp(),
			updated_at = clock_timestamp(), lease_owner = NULL, lease_until = NULL WHERE id = ?`, code, msg, id).Error
	})
}

// retryLater counts a failed attempt at the next chunk and waits before
// the next one; after maxAttempts in a row the run fails. It reports
// whether to try again.
func (w *Worker) retryLater(ctx context.Context, id uuid.UUID) bool {
	var attempts int
	err := w.db.WithContext(ctx).Raw(`UPDATE runs SET attempts = attempts + 1 WHERE id = ? AND lease_owner = ? AND status = 'RUNNING'
		RETURNING attempts`, id, w.owner).Row().Scan(&attempts)
	if err != nil {
		return false // lost, or the database is away: the lease lapses and another attempt comes
	}
	if attempts >= maxAttempts {
		if err := w.end(ctx, id, nil, "内部错误，已记录日志 (internal error, logged)"); err != nil {
			w.opt.Log.Warn("run: recording failure failed", "run_id", id, "err", err.Error())
		}
		return false
	}
	select {
	case <-ctx.Done():
		w.release(id)
		return false
	case <-time.After(time.Duration(attempts) * time.Second):
		return true
	}
}

// release gives the lease up at once (a graceful stop), so another
// instance claims the run without waiting for it to lapse.
func (w *Worker) release(id uuid.UUID) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := w.db.WithContext(ctx).Exec(`UPDATE runs SET lease_owner = NULL, lease_until = NULL
		WHERE id = ? AND lease_owner = ? AND status = 'RUNNING'`, id, w.owner).Error
	if err != nil {
		w.opt.Log.Warn("run: releasing lease failed", "run_id", id, "err", err.Error())
	}
}

// Wait returns the run once it has ended or after at most max, whichever
// comes first.
func (w *Worker) Wait(ctx context.Context, id uuid.UUID, max time.Duration) (*Run, error) {
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		w.mu.Lock()
		local := w.driving[id]
		w.mu.Unlock()
		r, err := Get(ctx, w.db, id)
		if err != nil || r == nil || r.Finished() {
			return r, err
		}
		select {
		case <-ctx.Done():
			return r, nil
		case <-deadline.C:
			return r, nil
		case <-local: // nil (never ready) unless driven here
		case <-tick.C:
		}
	}
}

// Watch sends the run each time it changes (checked every interval, so
// it sees changes made on any instance) until it has ended or ctx ends.
// The first value is the run as it is.
func (w *Worker) Watch(ctx context.Context, id uuid.UUID, every time.Duration) <-chan *Run {
	out := make(chan *Run, 1)
	go func() {
		defer close(out)
		t := time.NewTicker(every)
		defer t.Stop()
		var last time.Time
		for {
			r, err := Get(ctx, w.db, id)
			if err != nil && ctx.Err() == nil {
				w.opt.Log.Warn("run: watch failed", "run_id", id, "err", err.Error())
			}
			if r != nil && (r.UpdatedAt != last || r.Finished()) {
				last = r.UpdatedAt
				select {
				case out <- r:
				case <-ctx.Done():
					return
				}
				if r.Finished() {
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// starterContext carries the run's starter as the viewer, and the request
// that started it: the entry a run writes at its end is its starter's,
// under that request id, whichever instance drove the run to it.
func starterContext(ctx context.Context, r *Run) context.Context {
	if r.StartedBy != nil {
		ctx = auth.WithViewer(ctx, &auth.Viewer{Kind: auth.SubjectKind(r.StartedByKind), ID: *r.StartedBy})
	}
	return auth.WithRequestID(ctx, r.RequestID)
}
