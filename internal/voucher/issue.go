package voucher

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/disability"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/resident"
	"github.com/jinjiang/residents/internal/run"
)

// candidatesSQL selects, for the enrolled residents the CTE named from
// gives (a resident_id column), those living who match at least one of
// the program's rules, with the highest matching amount. Age and
// disability certificates are judged on the period's first day (@pfrom).
// Rule.Matches and Program.Amount (eligibility.go) are the same rule in
// Go; a change here changes them too (TestMatchesAgreesWithIssueSQL).
//
// The living resident and the current certificate are the registry's and
// the disability domain's definitions (resident_facts.living,
// disability.CurrentOnSQL). Statuses (the resident's own and their
// household's) and the care level are as they stood on @pfrom
// (resident.StatusesOnSQL, CareLevelOnSQL): the current columns, except
// for the few residents whose facts changed after that day, whose history
// is read.
//
// The program's rules are read once per statement (a materialized CTE):
// read per resident, they cost a third of a chunk.
func candidatesSQL(from string) string {
	return `
  WITH ru AS MATERIALIZED (SELECT * FROM voucher_program_rules WHERE program_id = @program)
  SELECT e.resident_id, best.amount
  FROM ` + from + ` e
  JOIN resident_facts r ON r.id = e.resident_id AND r.living
  LEFT JOIN disability_certificates dc ON dc.resident_id = r.id AND ` + disability.CurrentOnSQL("dc", "CAST(@pfrom AS date)") + `
  CROSS JOIN LATERAL (SELECT ` + resident.StatusesOnSQL("r", "CAST(@pfrom AS date)") + ` AS statuses,
    ` + resident.CareLevelOnSQL("r", "CAST(@pfrom AS date)") + ` AS care_level) f
  CROSS JOIN LATERAL (
    SELECT max(ru.amount_fen) AS amount
    FROM ru
    WHERE (ru.min_age IS NULL OR r.birth_date <= (CAST(@pfrom AS date) - make_interval(years => ru.min_age))::date)
      AND (ru.care_levels IS NULL OR f.care_level = ANY (ru.care_levels))
      AND (ru.statuses IS NULL OR f.statuses && ru.statuses)
      AND (ru.disability_grades IS NULL OR dc.grade = ANY (ru.disability_grades))
  ) best
  WHERE best.amount IS NOT NULL`
}

// issueChunkSQL issues one chunk of a period: the next @n enrolled
// residents after @after (by id, the enrollments' primary key), one
// voucher each to those who match and hold none for the period yet, worth
// the highest matching amount, with its ISSUE ledger entry. The unique key
// (program, resident, period) is the last word: a voucher is never issued
// twice, whoever else issues the same chunk.
//
// Whether a resident holds the period's voucher is one probe of that key
// per resident (a scalar subquery, which the planner cannot turn into a
// join): as NOT EXISTS, with the period's rows not yet in the statistics,
// it became a scan of the program's every voucher per chunk (0.2 s a
// chunk at 300,000 vouchers, and growing), or a hash of them all.
//
// It returns the chunk's size and last resident, the vouchers issued and
// their sum, and how many of the chunk held a voucher already.
var issueChunkSQL = `
WITH chunk AS (
  SELECT resident_id FROM voucher_enrollments
  WHERE program_id = @program AND resident_id > @after
  ORDER BY resident_id LIMIT @n
),
todo AS (
  SELECT c.resident_id FROM chunk c
  WHERE (SELECT 1 FROM vouchers v WHERE v.program_id = @program AND v.resident_id = c.resident_id AND v.period = @period LIMIT 1) IS NULL
),
cand AS (` + candidatesSQL("todo") + `
),
ins AS (
  INSERT INTO vouchers (id, program_id, resident_id, period, face_value_fen, balance_fen, status, valid_from, valid_until, created_at, updated_at)
  SELECT uuid_v7(), @program, c.resident_id, @period, c.amount, c.amount, 'ACTIVE', CAST(@pfrom AS date), CAST(@puntil AS date), @now, @now
  FROM cand c
  ON CONFLICT (program_id, resident_id, period) DO NOTHING
  RETURNING id, face_value_fen
),
led AS (
  INSERT INTO voucher_ledger (id, voucher_id, kind, amount_fen, balance_after_fen, at)
  SELECT uuid_v7(), ins.id, 'ISSUE', ins.face_value_fen, ins.face_value_fen, @now FROM ins
  RETURNING amount_fen
)
SELECT (SELECT count(*) FROM chunk), (SELECT resident_id FROM chunk ORDER BY resident_id DESC LIMIT 1),
  (SELECT count(*) FROM led), (SELECT coalesce(sum(amount_fen), 0) FROM led),
  (SELECT count(*) FROM chunk) - (SELECT count(*) FROM todo)`

// issueTotalSQL is, before anything is issued, what the period holds
// already and what issuing it to every enrolled resident who holds none
// yet would add: the all-or-nothing budget check.
var issueTotalSQL = `
WITH todo AS (
  SELECT e.resident_id FROM voucher_enrollments e
  WHERE e.program_id = @program
    AND NOT EXISTS (SELECT 1 FROM vouchers v WHERE v.program_id = @program AND v.resident_id = e.resident_id AND v.period = @period)
),
cand AS (` + candidatesSQL("todo") + `
)
SELECT (SELECT coalesce(sum(face_value_fen), 0) FROM vouchers WHERE program_id = @program AND period = @period),
  (SELECT coalesce(sum(amount), 0) FROM cand), (SELECT count(*) FROM cand)`

// IssueInput is what issueVouchers asks for.
type IssueInput struct {
	ProgramID uuid.UUID
	Period    string
	// AllowBackfill lets a period outside this month and the next be
	// issued (an ADMIN's decision, audited).
	AllowBackfill bool
}

// issueParams is an issuance run's frozen input.
type issueParams struct {
	From  string `json:"from"`
	Until string `json:"until"`
	// RoomFen is what the budget leaves for this run (set when planned,
	// for programs with a budget).
	RoomFen  *int64 `json:"roomFen,omitempty"`
	Backfill bool   `json:"backfill,omitempty"`
}

// IssueWait is how long issueVouchers waits for its run before answering
// with the run still RUNNING.
const IssueWait = 2 * time.Second

// IssueVouchers starts the run issuing a period's vouchers of an ACTIVE
// program (ADMIN), or joins the one running for that program and period,
// and waits up to IssueWait for it. The period is this month or the next
// (Asia/Shanghai), unless an ADMIN allows a backfill (audited). The run
// checks the budget before it issues anything (all or nothing: a run over
// budget fails BUDGET_EXCEEDED having issued nothing), then issues in
// chunks; a rerun issues nothing twice.
func (s *Service) IssueVouchers(ctx context.Context, in IssueInput) (*IssuanceRun, error) {
	r, started, err := s.startIssuance(ctx, in)
	if err != nil {
		return nil, err
	}
	r, err = s.await(ctx, r, started, IssueWait)
	if err != nil {
		return nil, err
	}
	return issuanceRun(r), nil
}

// StartIssuance starts (or joins) the run without driving or waiting for
// it (the CLI drives it itself); started says whether it is new.
func (s *Service) StartIssuance(ctx context.Context, in IssueInput) (*IssuanceRun, bool, error) {
	r, started, err := s.startIssuance(ctx, in)
	if err != nil {
		return nil, false, err
	}
	return issuanceRun(r), started, nil
}

func (s *Service) startIssuance(ctx context.Context, in IssueInput) (*run.Run, bool, error) {
	v, err := policy.Require(ctx, policy.IssueVouchers)
	if err != nil {
		return nil, false, err
	}
	m, err := civil.ParseMonth(in.Period)
	if err != nil {
		return nil, false, problem.New(problem.Invalid, "期间格式应为 YYYY-MM (period must be YYYY-MM)", "input", "period")
	}
	current := civil.MonthOf(s.today())
	backfill := m.First().Before(current.First()) || current.AddMonths(1).First().Before(m.First())
	if backfill {
		if !in.AllowBackfill {
			return nil, false, problem.New(problem.Invalid, fmt.Sprintf(
				"只能发放本月或下月的服务券；补发其他期间须由管理员设置 allowBackfill (only %s or %s may be issued without allowBackfill)",
				current, current.AddMonths(1)), "input", "period")
		}
		if !policy.Allowed(v, policy.BackfillVouchers) {
			return nil, false, problem.Forbidden("your role does not allow issuing other periods")
		}
	}
	var out *run.Run
	started := false
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		// The program row serializes starts: one run per program and period.
		p, err := lockActiveProgram(tx, in.ProgramID, "input", "programId")
		if err != nil {
			return err
		}
		cur, err := run.RunningOf(ctx, tx, run.IssueVouchers, in.ProgramID, m.String())
		if err != nil {
			return err
		}
		if cur != nil {
			out = cur
			return audit.Record(ctx, tx, audit.ActionIssueVouchers, audit.EntityIssuanceRun, &cur.ID,
				map[string]any{"programId": in.ProgramID, "period": m.String(), "joined": true})
		}
		params, _ := json.Marshal(issueParams{From: m.First().String(), Until: m.AddMonths(p.CarryOverPeriods).Last().String(), Backfill: backfill})
		out = &run.Run{Kind: run.IssueVouchers, SubjectID: in.ProgramID, Key: m.String(), Params: params,
			StartedBy: &v.ID, StartedByKind: string(v.Kind), RequestID: auth.RequestID(ctx), StartedAt: s.now()}
		if err := s.runs.Create(ctx, tx, out); err != nil {
			return err
		}
		started = true
		detail := map[string]any{"programId": in.ProgramID, "period": m.String()}
		if backfill {
			detail["allowBackfill"] = true
		}
		return audit.Record(ctx, tx, audit.ActionIssueVouchers, audit.EntityIssuanceRun, &out.ID, detail)
	})
	if err != nil {
		return nil, false, err
	}
	return out, started, nil
}

// issuer is the handler of issuance runs.
type issuer struct {
	s     *Service
	chunk int
}

func (h issuer) Step(ctx context.Context, tx *gorm.DB, r *run.Run) (bool, error) {
	var p issueParams
	if err := json.Unmarshal(r.Params, &p); err != nil {
		return false, fmt.Errorf("voucher: issuance params: %w", err)
	}
	now := h.s.now()
	args := []any{sql.Named("program", r.SubjectID), sql.Named("period", r.Key), sql.Named("pfrom", p.From),
		sql.Named("puntil", p.Until), sql.Named("now", now)}
	if !r.Planned() {
		return false, h.plan(ctx, tx, r, &p, args)
	}
	var size, issued, skipped int64
	var fen int64
	var last *uuid.UUID
	err := tx.WithContext(ctx).Raw(issueChunkSQL, append(args, sql.Named("after", r.CursorOrZero()), sql.Named("n", h.chunk))...).
		Row().Scan(&size, &last, &issued, &fen, &skipped)
	if err != nil {
		return false, database.Classify(fmt.Errorf("voucher: issue chunk: %w", err))
	}
	if p.RoomFen != nil && r.Fen+fen > *p.RoomFen {
		// The facts changed under the run (a resident's care level rose):
		// the budget still holds; the chunk is rolled back.
		return false, problem.New(problem.BudgetExceeded, fmt.Sprintf(
			"发放将超出本期预算 (issuing would take the period over its budget: %d fen left, this run needs more)", *p.RoomFen-r.Fen),
			"input", "programId")
	}
	if err := notifyIssued(ctx, tx, r.SubjectID, r.Key, r.CursorOrZero(), last, now); err != nil {
		return false, err
	}
	if last != nil {
		r.Cursor = last
	}
	r.Done += size
	r.Count += issued
	r.Fen += fen
	r.Skipped += skipped
	return size < int64(h.chunk), nil
}

// plan counts the enrolled residents and, for a program with a budget,
// checks that the whole period fits before anything is issued.
func (h issuer) plan(ctx context.Context, tx *gorm.DB, r *run.Run, p *issueParams, args []any) error {
	// Enrollments come in bulk (enrollResidents: a district at once), and
	// until autovacuum catches up the planner believes there are a few:
	// then every chunk read the program's whole enrollment list and sorted
	// it (1 s a chunk at 10^6). Fresh statistics make it read the chunk's
	// rows off the index. Sampling takes a fraction of a second.
	if err := tx.WithContext(ctx).Exec("ANALYZE voucher_enrollments").Error; err != nil {
		return database.Classify(fmt.Errorf("voucher: issuance plan: %w", err))
	}
	var total int64
	if err := tx.WithContext(ctx).Raw("SELECT count(*) FROM voucher_enrollments WHERE program_id = ?", r.SubjectID).Row().Scan(&total); err != nil {
		return database.Classify(fmt.Errorf("voucher: issuance plan: %w", err))
	}
	var budget *int64
	if err := tx.WithContext(ctx).Raw("SELECT budget_per_period_fen FROM voucher_programs WHERE id = ?", r.SubjectID).Row().Scan(&budget); err != nil {
		return database.Classify(fmt.Errorf("voucher: issuance plan: %w", err))
	}
	if budget != nil {
		var held, need, count int64
		if err := tx.WithContext(ctx).Raw(issueTotalSQL, args...).Row().Scan(&held, &need, &count); err != nil {
			return database.Classify(fmt.Errorf("voucher: issuance budget: %w", err))
		}
		if held+need > *budget {
			return problem.New(problem.BudgetExceeded, fmt.Sprintf(
				"发放 %d 张共 %d 分将使本期达到 %d 分，超出预算 %d 分 (issuing %d fen would bring the period to %d fen, over the budget of %d fen)",
				count, need, held+need, *budget, need, held+need, *budget), "input", "programId")
		}
		room := *budget - held
		p.RoomFen = &room
		b, _ := json.Marshal(p)
		r.Params = b
	}
	r.Total = &total
	return nil
}

func (h issuer) Ended(ctx context.Context, tx *gorm.DB, r *run.Run) error {
	detail := map[string]any{"programId": r.SubjectID, "period": r.Key, "status": string(r.Status),
		"issued": r.Count, "issuedFen": r.Fen, "residentsDone": r.Done}
	if r.ErrorCode != nil {
		detail["errorCode"] = *r.ErrorCode
	}
	return audit.Record(ctx, tx, audit.ActionIssueVouchers, audit.EntityIssuanceRun, &r.ID, detail)
}
