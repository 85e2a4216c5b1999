package resident

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/page"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/run"
)

// DuplicateReason is why a pair of residents looks like one person.
type DuplicateReason string

// Reasons.
const (
	SameNameBirthGender DuplicateReason = "SAME_NAME_BIRTH_GENDER"
	SharedPhone         DuplicateReason = "SHARED_PHONE"
)

// DuplicateStatus is a candidate pair's state: OPEN until dismissed or merged.
type DuplicateStatus string

// Statuses.
const (
	DuplicateOpen      DuplicateStatus = "OPEN"
	DuplicateDismissed DuplicateStatus = "DISMISSED"
	DuplicateMerged    DuplicateStatus = "MERGED"
)

// Candidate is a pair a duplicates report found; ResidentA < ResidentB.
type Candidate struct {
	ID                   uuid.UUID
	ResidentA, ResidentB uuid.UUID
	Reason               DuplicateReason
	Status               DuplicateStatus
	FoundAt              time.Time
	DecidedAt            *time.Time
	DecisionNote         *string
}

// candidateRow is a duplicate_candidates row.
type candidateRow struct {
	ID           uuid.UUID
	ResidentA    uuid.UUID
	ResidentB    uuid.UUID
	Reason       string
	Status       string
	FoundAt      time.Time
	SeenRun      *uuid.UUID
	DecidedAt    *time.Time
	DecidedBy    *uuid.UUID
	DecisionNote *string
}

func (candidateRow) TableName() string { return "duplicate_candidates" }

func (r candidateRow) candidate() *Candidate {
	return &Candidate{ID: r.ID, ResidentA: r.ResidentA, ResidentB: r.ResidentB, Reason: DuplicateReason(r.Reason),
		Status: DuplicateStatus(r.Status), FoundAt: r.FoundAt, DecidedAt: r.DecidedAt, DecisionNote: r.DecisionNote}
}

// ElderAge is the age from which one phone number on several residents
// makes them a likely duplicate (家庭共用座机 below it is ordinary).
const ElderAge = 60

// SharedPhoneMax is the most elders one phone number may be on and still
// pair them: a number on more is a care home's, a community office's or a
// family's landline (养老院、社区座机), not one person recorded twice, and
// pairing all of them would fill the queue with n·(n−1)/2 pairs.
const SharedPhoneMax = 3

// duplicatesSubject is the runs.subject_id of duplicates reports: the
// registry is one thing, reported on one run at a time.
var duplicatesSubject = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:jinjiang:duplicates"))

// livingSQL is resident_facts.living on the residents table itself (alias r).
const livingSQL = "%[1]s.deceased_on IS NULL AND %[1]s.moved_out_on IS NULL AND %[1]s.merged_into IS NULL"

func living(alias string) string { return fmt.Sprintf(livingSQL, alias) }

// FindDuplicates starts the duplicates report (ADMIN), or answers the one
// running; audited.
func (s *Service) FindDuplicates(ctx context.Context) (*run.Run, error) {
	v, err := policy.Require(ctx, policy.FindDuplicates)
	if err != nil {
		return nil, err
	}
	if s.runs == nil {
		return nil, fmt.Errorf("resident: no run worker wired")
	}
	var out *run.Run
	started := false
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		cur, err := run.RunningOf(ctx, tx, run.FindDuplicates, duplicatesSubject, "")
		if err != nil {
			return err
		}
		if cur != nil {
			out = cur
			return audit.Record(ctx, tx, audit.ActionFindDuplicates, audit.EntityDuplicateCandidate, nil, map[string]any{"runId": cur.ID, "joined": true})
		}
		out = &run.Run{Kind: run.FindDuplicates, SubjectID: duplicatesSubject, Params: json.RawMessage(`{}`),
			StartedBy: &v.ID, StartedByKind: string(v.Kind), RequestID: auth.RequestID(ctx), StartedAt: s.now()}
		if err := s.runs.Create(ctx, tx, out); err != nil {
			return err
		}
		started = true
		return audit.Record(ctx, tx, audit.ActionFindDuplicates, audit.EntityDuplicateCandidate, nil, map[string]any{"runId": out.ID})
	})
	if err != nil {
		return nil, database.Classify(err)
	}
	if started {
		s.runs.Go(out.ID)
	}
	return out, nil
}

// DuplicateReport returns a report run (ADMIN).
func (s *Service) DuplicateReport(ctx context.Context, id uuid.UUID) (*run.Run, error) {
	if _, err := policy.Require(ctx, policy.FindDuplicates); err != nil {
		return nil, err
	}
	return run.GetOf(ctx, s.db, id, run.FindDuplicates)
}

// dupFinder is the report's handler: residents by id, a chunk per step;
// each chunk finds, from the indexes, the residents after each one (by
// id, so a pair is found once) with the same name, birth date and gender,
// or, both elders, the same phone (on at most SharedPhoneMax elders). Pairs insert idempotently; a dismissed
// or merged pair is left as it is. The last step drops open pairs this
// report no longer found.
type dupFinder struct{ s *Service }

func (h dupFinder) Step(ctx context.Context, tx *gorm.DB, r *run.Run) (bool, error) {
	if !r.Planned() {
		var n int64
		if err := tx.WithContext(ctx).Table("residents AS r").Where(living("r")).Count(&n).Error; err != nil {
			return false, fmt.Errorf("resident: duplicates plan: %w", err)
		}
		r.Total = &n
		return false, nil
	}
	elder := yearsBefore(civil.DateOf(r.StartedAt), ElderAge)
	var found, seen int64
	var last *uuid.UUID
	err := tx.WithContext(ctx).Raw(`WITH a AS (
			SELECT id, name, birth_date, gender, phone_bidx FROM residents r
			WHERE id > @cursor AND `+living("r")+` ORDER BY id LIMIT @chunk),
		pairs AS (
			SELECT a.id AS x, b.id AS y, 'SAME_NAME_BIRTH_GENDER' AS reason FROM a JOIN residents b
			  ON b.name = a.name AND b.birth_date = a.birth_date AND b.gender = a.gender AND b.id > a.id AND `+living("b")+`
			UNION ALL
			SELECT a.id, b.id, 'SHARED_PHONE' FROM a JOIN residents b
			  ON b.phone_bidx = a.phone_bidx AND b.id > a.id AND `+living("b")+` AND b.birth_date <= @elder
			WHERE a.phone_bidx IS NOT NULL AND a.birth_date <= @elder
			  AND (SELECT count(*) FROM (SELECT 1 FROM residents c WHERE c.phone_bidx = a.phone_bidx AND `+living("c")+`
			       AND c.birth_date <= @elder LIMIT @phone_max + 1) n) <= @phone_max),
		ins AS (
			INSERT INTO duplicate_candidates (id, resident_a, resident_b, reason, found_at, seen_run)
			SELECT uuid_v7(), x, y, reason, now(), @run FROM pairs
			ON CONFLICT (resident_a, resident_b, reason) DO UPDATE SET seen_run = EXCLUDED.seen_run
			WHERE duplicate_candidates.status = 'OPEN'
			RETURNING 1)
		SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM a), (SELECT max(id::text)::uuid FROM a)`,
		map[string]any{"cursor": r.CursorOrZero(), "chunk": h.s.runChunk, "elder": elder, "run": r.ID, "phone_max": SharedPhoneMax}).Row().Scan(&found, &seen, &last)
	if err != nil {
		return false, fmt.Errorf("resident: duplicates chunk: %w", err)
	}
	if seen == 0 {
		if err := tx.WithContext(ctx).Exec(`DELETE FROM duplicate_candidates WHERE status = 'OPEN' AND seen_run IS DISTINCT FROM ?`, r.ID).Error; err != nil {
			return false, fmt.Errorf("resident: duplicates sweep: %w", err)
		}
		return true, nil
	}
	r.Done += seen
	r.Count += found
	r.Cursor = last
	return false, nil
}

func (h dupFinder) Ended(ctx context.Context, tx *gorm.DB, r *run.Run) error {
	return audit.Record(ctx, tx, audit.ActionFindDuplicates, audit.EntityDuplicateCandidate, nil,
		map[string]any{"runId": r.ID, "status": string(r.Status), "pairs": r.Count})
}

// DuplicateCandidates lists pairs of a status (OPEN by default), newest
// first: ADMIN all, a CASE_WORKER the pairs with a resident in their subtree.
func (s *Service) DuplicateCandidates(ctx context.Context, status DuplicateStatus, p page.Request) (page.Result[*Candidate], error) {
	var zero page.Result[*Candidate]
	v, err := policy.Require(ctx, policy.ReadDuplicates)
	if err != nil {
		return zero, err
	}
	if status == "" {
		status = DuplicateOpen
	}
	sc := policy.ScopeOf(v, policy.ReadDuplicates)
	wa, aa := sc.Where("ra.org_path", "ra.id")
	wb, ab := sc.Where("rb.org_path", "rb.id")
	q := s.db.WithContext(ctx).Table("duplicate_candidates c").Select("c.*").
		Joins("JOIN residents ra ON ra.id = c.resident_a").Joins("JOIN residents rb ON rb.id = c.resident_b").
		Where("c.status = ?", string(status)).Where("("+wa+") OR ("+wb+")", append(aa, ab...)...)
	var rows []candidateRow
	if err := page.NewestFirst(q, "c.id", p).Scan(&rows).Error; err != nil {
		return zero, database.Classify(fmt.Errorf("resident: duplicate candidates: %w", err))
	}
	out := make([]*Candidate, len(rows))
	for i, r := range rows {
		out[i] = r.candidate()
	}
	return page.Trim(p, out), nil
}

// CandidatesByIDs loads pairs the viewer may review (node lookups).
func (s *Service) CandidatesByIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*Candidate, error) {
	v := auth.ViewerFrom(ctx)
	if !policy.Allowed(v, policy.ReadDuplicates) {
		return map[uuid.UUID]*Candidate{}, nil
	}
	var rows []candidateRow
	if err := s.db.WithContext(ctx).Where("id = ANY(?)", database.UUIDs(ids)).Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("resident: candidates: %w", err))
	}
	out := map[uuid.UUID]*Candidate{}
	for _, r := range rows {
		if ok, _ := s.mayReview(ctx, s.db, v, policy.ReadDuplicates, r, false); ok {
			out[r.ID] = r.candidate()
		}
	}
	return out, nil
}

// mayReview: act reaches one of the pair for the viewer (both, to merge).
func (s *Service) mayReview(ctx context.Context, db *gorm.DB, v *auth.Viewer, act policy.Action, c candidateRow, both bool) (bool, error) {
	var rows []struct {
		ID      uuid.UUID
		OrgPath string
	}
	if err := db.WithContext(ctx).Table("residents").Select("id, org_path").Where("id IN ?", []uuid.UUID{c.ResidentA, c.ResidentB}).Scan(&rows).Error; err != nil {
		return false, fmt.Errorf("resident: candidate paths: %w", err)
	}
	n := 0
	for _, r := range rows {
		if ok, _ := policy.On(v, act, policy.Subject{ID: r.ID, OrgPath: r.OrgPath}); ok {
			n++
		}
	}
	if both {
		return n == 2, nil
	}
	return n > 0, nil
}

// lockCandidate locks an OPEN pair the viewer may review.
func (s *Service) lockCandidate(ctx context.Context, tx *gorm.DB, v *auth.Viewer, id uuid.UUID, both bool) (*candidateRow, error) {
	var c candidateRow
	if err := tx.WithContext(ctx).Raw("SELECT * FROM duplicate_candidates WHERE id = ? FOR UPDATE", id).Scan(&c).Error; err != nil {
		return nil, fmt.Errorf("resident: lock candidate: %w", err)
	}
	if c.ID == uuid.Nil {
		return nil, problem.New(problem.NotFound, "duplicate candidate not found", "input", "candidateId")
	}
	ok, err := s.mayReview(ctx, tx, v, policy.ReviewDuplicates, c, both)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, policy.OutOfJurisdiction("input", "candidateId")
	}
	if c.Status != string(DuplicateOpen) {
		return nil, problem.New(problem.InvalidTransition, "该疑似重复记录已处理", "input", "candidateId")
	}
	return &c, nil
}

// DismissDuplicate marks a pair as two people (audited); later reports
// leave it dismissed.
func (s *Service) DismissDuplicate(ctx context.Context, id uuid.UUID, reason string) (*Candidate, error) {
	v, err := policy.Require(ctx, policy.ReviewDuplicates)
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if n := utf8.RuneCountInString(reason); n < 1 || n > 500 {
		return nil, problem.New(problem.Invalid, "理由须为 1 至 500 个字符", "input", "reason")
	}
	var out *Candidate
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		c, err := s.lockCandidate(ctx, tx, v, id, false)
		if err != nil {
			return err
		}
		now := s.now()
		if err := tx.WithContext(ctx).Model(&candidateRow{}).Where("id = ?", id).
			Updates(map[string]any{"status": string(DuplicateDismissed), "decided_at": now, "decided_by": v.ID, "decision_note": reason}).Error; err != nil {
			return fmt.Errorf("resident: dismiss: %w", err)
		}
		c.Status, c.DecidedAt, c.DecisionNote = string(DuplicateDismissed), &now, &reason
		out = c.candidate()
		return audit.Record(ctx, tx, audit.ActionDismissDuplicate, audit.EntityDuplicateCandidate, &id, map[string]any{"reason": c.Reason})
	})
	if err != nil {
		return nil, database.Classify(err)
	}
	return out, nil
}
