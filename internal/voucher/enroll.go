package voucher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/resident"
	"github.com/jinjiang/residents/internal/run"
)

// enrollParams is an enrollment run's frozen input: the compiled filter.
type enrollParams struct {
	Selection resident.Selection `json:"selection"`
}

// EnrollWait is how long enrollResidents waits for its run before
// answering with the run still RUNNING.
const EnrollWait = 2 * time.Second

// EnrollResidents starts the run enrolling, in an ACTIVE program, every
// living resident the residents-list filter matches inside the viewer's
// jurisdiction (ADMIN anywhere, a CASE_WORKER in their subtree); the same
// filter started again while it runs joins it. Enrolling is idempotent:
// residents enrolled already are skipped. It waits up to EnrollWait.
func (s *Service) EnrollResidents(ctx context.Context, programID uuid.UUID, f resident.Filter) (*EnrollmentRun, error) {
	v, err := policy.Require(ctx, policy.EnrollResident)
	if err != nil {
		return nil, err
	}
	scope := policy.ScopeOf(v, policy.EnrollResident)
	if scope.Reach < policy.Subtree {
		return nil, problem.Forbidden("your role does not allow enrolling residents in bulk")
	}
	sel, err := resident.Select(ctx, s.db, f, scope, s.today())
	if err != nil {
		return nil, err
	}
	params, err := json.Marshal(enrollParams{Selection: sel})
	if err != nil {
		return nil, fmt.Errorf("voucher: enrollment params: %w", err)
	}
	sum := sha256.Sum256(params)
	key := hex.EncodeToString(sum[:16])
	scopePath := ""
	if !scope.All() {
		scopePath = scope.Path
	}
	var out *run.Run
	started := false
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if _, err := lockActiveProgram(tx, programID, "programId"); err != nil {
			return err
		}
		cur, err := run.RunningOf(ctx, tx, run.EnrollResidents, programID, key)
		if err != nil {
			return err
		}
		if cur != nil {
			out = cur
			return audit.Record(ctx, tx, audit.ActionEnrollResidents, audit.EntityEnrollmentRun, &cur.ID,
				map[string]any{"programId": programID, "joined": true})
		}
		out = &run.Run{Kind: run.EnrollResidents, SubjectID: programID, Key: key, Params: params, ScopePath: scopePath,
			StartedBy: &v.ID, StartedByKind: string(v.Kind), RequestID: auth.RequestID(ctx), StartedAt: s.now()}
		if err := s.runs.Create(ctx, tx, out); err != nil {
			return err
		}
		started = true
		return audit.Record(ctx, tx, audit.ActionEnrollResidents, audit.EntityEnrollmentRun, &out.ID,
			map[string]any{"programId": programID, "scope": scopePath})
	})
	if err != nil {
		return nil, err
	}
	out, err = s.await(ctx, out, started, EnrollWait)
	if err != nil {
		return nil, err
	}
	return enrollmentRun(out), nil
}

// enrollChunkSQL enrolls one chunk: of the selected residents (the
// registry's subquery, by id after the cursor), the living ones, skipping
// those enrolled already (the primary key). It returns the chunk's size
// and last resident and how many it enrolled.
const enrollChunkSQL = `
WITH chunk AS (?),
ins AS (
  INSERT INTO voucher_enrollments (program_id, resident_id, enrolled_at)
  SELECT ?, f.id, ? FROM chunk c JOIN resident_facts f ON f.id = c.id AND f.living
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT (SELECT count(*) FROM chunk), (SELECT id FROM chunk ORDER BY id DESC LIMIT 1), (SELECT count(*) FROM ins)`

// enroller is the handler of enrollment runs.
type enroller struct {
	s     *Service
	chunk int
}

func (h enroller) Step(ctx context.Context, tx *gorm.DB, r *run.Run) (bool, error) {
	var p enrollParams
	if err := json.Unmarshal(r.Params, &p); err != nil {
		return false, fmt.Errorf("voucher: enrollment params: %w", err)
	}
	if !r.Planned() {
		n, err := p.Selection.Count(ctx, tx)
		if err != nil {
			return false, err
		}
		r.Total = &n
		return false, nil
	}
	var size, enrolled int64
	var last *uuid.UUID
	err := tx.WithContext(ctx).Raw(enrollChunkSQL, p.Selection.IDsAfter(tx, r.CursorOrZero(), h.chunk), r.SubjectID, h.s.now()).
		Row().Scan(&size, &last, &enrolled)
	if err != nil {
		return false, database.Classify(fmt.Errorf("voucher: enroll chunk: %w", err))
	}
	if last != nil {
		r.Cursor = last
	}
	r.Done += size
	r.Count += enrolled
	r.Skipped += size - enrolled
	return size < int64(h.chunk), nil
}

func (h enroller) Ended(ctx context.Context, tx *gorm.DB, r *run.Run) error {
	if r.Status == run.Succeeded && r.Count > 0 {
		// The issuance that follows plans on these rows' statistics.
		if err := tx.WithContext(ctx).Exec("ANALYZE voucher_enrollments").Error; err != nil {
			return database.Classify(fmt.Errorf("voucher: enrollment end: %w", err))
		}
	}
	detail := map[string]any{"programId": r.SubjectID, "status": string(r.Status), "enrolled": r.Count, "residentsDone": r.Done}
	if r.ErrorCode != nil {
		detail["errorCode"] = *r.ErrorCode
	}
	return audit.Record(ctx, tx, audit.ActionEnrollResidents, audit.EntityEnrollmentRun, &r.ID, detail)
}

// Unenroll takes a resident out of a program (ADMIN anywhere, a
// CASE_WORKER within their jurisdiction), with a reason, audited. No
// later period is issued to them; vouchers they hold already are kept and
// stay spendable until they expire like any other (they were issued for
// months the resident was enrolled). Not enrolled is NOT_FOUND.
func (s *Service) Unenroll(ctx context.Context, programID, residentID uuid.UUID, reason string) (*Program, error) {
	v, err := policy.Require(ctx, policy.EnrollResident)
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if n := utf8.RuneCountInString(reason); n < 1 || n > 200 {
		return nil, problem.New(problem.Invalid, "请填写退出原因（1 至 200 字）(reason must be 1 to 200 characters)", "reason")
	}
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if err := enrollable(tx, v, residentID); err != nil {
			return err
		}
		res := tx.Exec("DELETE FROM voucher_enrollments WHERE program_id = ? AND resident_id = ?", programID, residentID)
		if res.Error != nil {
			return database.Classify(res.Error)
		}
		if res.RowsAffected == 0 {
			return problem.New(problem.NotFound, "该居民未参加此项目 (the resident is not enrolled in this program)", "residentId")
		}
		return audit.Record(ctx, tx, audit.ActionUnenrollResident, audit.EntityVoucherProgram, &programID,
			map[string]any{"residentId": residentID, "reason": reason})
	})
	if err != nil {
		return nil, err
	}
	return s.program(ctx, s.db, programID)
}
