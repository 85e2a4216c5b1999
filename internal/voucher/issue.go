package voucher

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jinjiang/residents/internal/disability"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// issueSQL issues, in one statement, one voucher per enrolled living
// resident who matches at least one rule, worth the highest matching
// amount, with its ISSUE ledger entry. Age and disability certificates are
// judged on the first day of the period. Residents who already hold a
// voucher for the period are skipped by the unique key. Rule.Matches and
// Program.Amount (eligibility.go) are the same rule in Go; a change here
// changes them too (TestMatchesAgreesWithIssueSQL).
//
// The living resident and the current certificate are the registry's and
// the disability domain's definitions (resident_facts.living,
// disability.CurrentOnSQL).
//
// Parameters: @program, @period, @pfrom, @puntil, @now.
var issueSQL = `
WITH cand AS (
  SELECT e.resident_id, best.amount
  FROM voucher_enrollments e
  JOIN resident_facts r ON r.id = e.resident_id AND r.living
  LEFT JOIN disability_certificates dc ON dc.resident_id = r.id AND ` + disability.CurrentOnSQL("dc", "CAST(@pfrom AS date)") + `
  CROSS JOIN LATERAL (
    SELECT max(ru.amount_fen) AS amount
    FROM voucher_program_rules ru
    WHERE ru.program_id = @program
      AND (ru.min_age IS NULL OR r.birth_date <= (CAST(@pfrom AS date) - make_interval(years => ru.min_age))::date)
      AND (ru.care_levels IS NULL OR r.care_level = ANY (ru.care_levels))
      AND (ru.statuses IS NULL OR r.statuses && ru.statuses)
      AND (ru.disability_grades IS NULL OR dc.grade = ANY (ru.disability_grades))
  ) best
  WHERE e.program_id = @program AND best.amount IS NOT NULL
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
SELECT (SELECT count(*) FROM led), (SELECT coalesce(sum(amount_fen), 0) FROM led), (SELECT count(*) FROM cand)`

// IssueVouchers issues the period's vouchers of an ACTIVE program (ADMIN).
// It is idempotent, serialized per program (the program row is locked), and
// all-or-nothing against the period budget.
func (s *Service) IssueVouchers(ctx context.Context, programID uuid.UUID, period string) (*IssueResult, error) {
	if _, err := policy.Require(ctx, policy.IssueVouchers); err != nil {
		return nil, err
	}
	m, err := civil.ParseMonth(period)
	if err != nil {
		return nil, problem.New(problem.Invalid, "period must be YYYY-MM", "input", "period")
	}
	var res IssueResult
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		// A district-wide batch: allowed longer than an interactive statement.
		if err := tx.Exec("SET LOCAL statement_timeout = '120s'").Error; err != nil {
			return database.Classify(err)
		}
		var p programRow
		if err := tx.Clauses(forNoKeyUpdate).Where("id = ?", programID).Take(&p).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return notFound("program", "input", "programId")
			}
			return database.Classify(err)
		}
		if p.Status != string(ProgramActive) {
			return problem.New(problem.NotEligible, "the program is not active", "input", "programId")
		}
		until := m.AddMonths(p.CarryOverPeriods).Last()
		var candidates int
		now := s.now()
		err := tx.Raw(issueSQL, sql.Named("program", programID), sql.Named("period", m.String()),
			sql.Named("pfrom", m.First().String()), sql.Named("puntil", until.String()), sql.Named("now", now)).
			Row().Scan(&res.IssuedCount, &res.IssuedFen, &candidates)
		if err != nil {
			return database.Classify(fmt.Errorf("voucher: issue: %w", err))
		}
		res.SkippedCount = candidates - res.IssuedCount
		if p.BudgetPerPeriodFen != nil {
			var total int64
			if err := tx.Raw("SELECT coalesce(sum(face_value_fen), 0) FROM vouchers WHERE program_id = ? AND period = ?",
				programID, m.String()).Row().Scan(&total); err != nil {
				return database.Classify(err)
			}
			if total > *p.BudgetPerPeriodFen {
				return problem.New(problem.BudgetExceeded,
					fmt.Sprintf("issuing %d fen would bring the period to %d fen, over the budget of %d fen", res.IssuedFen, total, *p.BudgetPerPeriodFen),
					"input", "programId")
			}
		}
		return audit.Record(ctx, tx, audit.ActionIssueVouchers, audit.EntityVoucherProgram, &programID,
			map[string]any{"period": m.String(), "issued": res.IssuedCount, "issuedFen": res.IssuedFen})
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}
