package voucher

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/page"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/run"
)

// IssuanceRun is the run issuing one program's vouchers for one period.
type IssuanceRun struct {
	ID             uuid.UUID
	ProgramID      uuid.UUID
	Period         string
	Status         run.Status
	ResidentsTotal int
	ResidentsDone  int
	IssuedCount    int
	SkippedCount   int
	IssuedFen      int64
	StartedAt      time.Time
	FinishedAt     *time.Time
	ErrorCode      *problem.Code
	Error          *string
}

// EnrollmentRun is the run enrolling everyone a residents filter matches
// (within the starter's jurisdiction) in one program.
type EnrollmentRun struct {
	ID             uuid.UUID
	ProgramID      uuid.UUID
	Status         run.Status
	ResidentsTotal int
	ResidentsDone  int
	EnrolledCount  int
	SkippedCount   int
	StartedAt      time.Time
	FinishedAt     *time.Time
	ErrorCode      *problem.Code
	Error          *string
}

func errorCode(r *run.Run) *problem.Code {
	if r.ErrorCode == nil {
		return nil
	}
	c := problem.Code(*r.ErrorCode)
	return &c
}

func issuanceRun(r *run.Run) *IssuanceRun {
	if r == nil {
		return nil
	}
	return &IssuanceRun{ID: r.ID, ProgramID: r.SubjectID, Period: r.Key, Status: r.Status, ResidentsTotal: int(r.TotalOrZero()),
		ResidentsDone: int(r.Done), IssuedCount: int(r.Count), SkippedCount: int(r.Skipped), IssuedFen: r.Fen,
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, ErrorCode: errorCode(r), Error: r.Error}
}

func enrollmentRun(r *run.Run) *EnrollmentRun {
	if r == nil {
		return nil
	}
	return &EnrollmentRun{ID: r.ID, ProgramID: r.SubjectID, Status: r.Status, ResidentsTotal: int(r.TotalOrZero()),
		ResidentsDone: int(r.Done), EnrolledCount: int(r.Count), SkippedCount: int(r.Skipped),
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, ErrorCode: errorCode(r), Error: r.Error}
}

// mayFollow reports whether v may follow a run started for scopePath (""
// is the whole district): ReadVoucherRuns reaching it.
func mayFollow(v *auth.Viewer, scopePath string) bool {
	sc := policy.ScopeOf(v, policy.ReadVoucherRuns)
	if sc.All() {
		return true
	}
	return sc.Reach == policy.Subtree && scopePath != "" && sc.Covers(uuid.Nil, scopePath)
}

// visibleRun loads a run of kind that the viewer may follow (nil when
// there is none or the viewer may not see it).
func (s *Service) visibleRun(ctx context.Context, kind run.Kind, id uuid.UUID) (*run.Run, error) {
	v, err := policy.Require(ctx, policy.ReadVoucherRuns)
	if err != nil {
		return nil, err
	}
	r, err := run.GetOf(ctx, s.db, id, kind)
	if err != nil || r == nil || !mayFollow(v, r.ScopePath) {
		return nil, err
	}
	return r, nil
}

// IssuanceRun returns one issuance run (node look-ups).
func (s *Service) IssuanceRun(ctx context.Context, id uuid.UUID) (*IssuanceRun, error) {
	r, err := s.visibleRun(ctx, run.IssueVouchers, id)
	return issuanceRun(r), err
}

// EnrollmentRun returns one enrollment run (node look-ups).
func (s *Service) EnrollmentRun(ctx context.Context, id uuid.UUID) (*EnrollmentRun, error) {
	r, err := s.visibleRun(ctx, run.EnrollResidents, id)
	return enrollmentRun(r), err
}

func (s *Service) listRuns(ctx context.Context, kind run.Kind, programID *uuid.UUID, p page.Request) ([]*run.Run, error) {
	v, err := policy.Require(ctx, policy.ReadVoucherRuns)
	if err != nil {
		return nil, err
	}
	f := run.ListFilter{Kind: kind, SubjectID: programID, After: p.After, Limit: p.First + 1}
	if sc := policy.ScopeOf(v, policy.ReadVoucherRuns); !sc.All() {
		f.ScopePrefix = &sc.Path
	}
	return run.List(ctx, s.db, f)
}

// IssuanceRuns lists issuance runs, newest first, optionally of one program.
func (s *Service) IssuanceRuns(ctx context.Context, programID *uuid.UUID, p page.Request) (page.Result[*IssuanceRun], error) {
	rs, err := s.listRuns(ctx, run.IssueVouchers, programID, p)
	if err != nil {
		return page.Result[*IssuanceRun]{}, err
	}
	out := make([]*IssuanceRun, len(rs))
	for i, r := range rs {
		out[i] = issuanceRun(r)
	}
	return page.Trim(p, out), nil
}

// EnrollmentRuns lists enrollment runs the viewer may follow, newest first.
func (s *Service) EnrollmentRuns(ctx context.Context, programID *uuid.UUID, p page.Request) (page.Result[*EnrollmentRun], error) {
	rs, err := s.listRuns(ctx, run.EnrollResidents, programID, p)
	if err != nil {
		return page.Result[*EnrollmentRun]{}, err
	}
	out := make([]*EnrollmentRun, len(rs))
	for i, r := range rs {
		out[i] = enrollmentRun(r)
	}
	return page.Trim(p, out), nil
}

// WatchEvery is how often a watched run is read again.
const WatchEvery = time.Second

// WatchIssuanceRun sends the run as it progresses (from any instance),
// until it has ended or ctx ends. The first value is the run as it is.
func (s *Service) WatchIssuanceRun(ctx context.Context, id uuid.UUID) (<-chan *IssuanceRun, error) {
	r, err := s.visibleRun(ctx, run.IssueVouchers, id)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, problem.BadInput("id: no such issuance run")
	}
	in := s.runs.Watch(ctx, id, WatchEvery)
	out := make(chan *IssuanceRun, 1)
	go func() {
		defer close(out)
		for r := range in {
			select {
			case out <- issuanceRun(r):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// lockActiveProgram locks a program's row inside tx (FOR NO KEY UPDATE:
// the starts of its runs are serialized there, one run per kind, program
// and key) and refuses a program that is not ACTIVE. field is the input
// path the user errors name.
func lockActiveProgram(tx *gorm.DB, id uuid.UUID, field ...string) (*programRow, error) {
	var p programRow
	if err := tx.Clauses(forNoKeyUpdate).Where("id = ?", id).Take(&p).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, notFound("program", field...)
		}
		return nil, database.Classify(err)
	}
	if p.Status != string(ProgramActive) {
		return nil, problem.New(problem.NotEligible, "服务券项目未启用 (the program is not active)", field...)
	}
	return &p, nil
}

// await drives r on this instance when it was started here, and waits up
// to wait for it to end: it returns the run as it is then.
func (s *Service) await(ctx context.Context, r *run.Run, started bool, wait time.Duration) (*run.Run, error) {
	if started {
		s.runs.Go(r.ID)
	}
	got, err := s.runs.Wait(ctx, r.ID, wait)
	if err != nil {
		return nil, err
	}
	if got == nil {
		return r, nil
	}
	return got, nil
}
