package resident

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// A merge retires a duplicate record into its survivor: everything that
// points at the duplicate points at the survivor afterwards, in one
// transaction, or nothing changes. It names other domains' tables, which
// the registry otherwise never does, because a merge is exactly "every
// row about this person": MergeTables lists every foreign key to
// residents, and a test fails when a migration adds one it does not list.

// mergeConflicts are what both records may hold only once; a merge with
// one of them on both sides is refused (CONFLICT) for staff to settle
// first, since moving either would break a rule (one voucher per program
// and month; one current certificate; one usable card; one profile, home,
// plan, open escalation).
var mergeConflicts = []struct{ what, sql string }{
	{"同一项目同一月份的养老服务券", `SELECT count(*) FROM vouchers a JOIN vouchers b ON a.program_id = b.program_id AND a.period = b.period
		WHERE a.resident_id = @dup AND b.resident_id = @surv`},
	{"有效的残疾人证", `SELECT count(*) FROM disability_certificates a JOIN disability_certificates b ON a.superseded_at IS NULL AND b.superseded_at IS NULL
		WHERE a.resident_id = @dup AND b.resident_id = @surv`},
	{"可用的服务卡", `SELECT count(*) FROM service_cards a JOIN service_cards b ON a.status IN ('ACTIVE', 'LOCKED') AND b.status IN ('ACTIVE', 'LOCKED')
		WHERE a.resident_id = @dup AND b.resident_id = @surv`},
	{"照护档案", `SELECT count(*) FROM care_profiles a JOIN care_profiles b ON true WHERE a.resident_id = @dup AND b.resident_id = @surv`},
	{"居家位置", `SELECT count(*) FROM care_homes a JOIN care_homes b ON true WHERE a.resident_id = @dup AND b.resident_id = @surv`},
	{"探访计划", `SELECT count(*) FROM welfare_check_plans a JOIN welfare_check_plans b ON true WHERE a.resident_id = @dup AND b.resident_id = @surv`},
	{"未处理的探访预警", `SELECT count(*) FROM welfare_escalations a JOIN welfare_escalations b ON a.resolved_at IS NULL AND b.resolved_at IS NULL
		WHERE a.resident_id = @dup AND b.resident_id = @surv`},
	// One household a resident; and one history of statuses and of care
	// assessments, which checked changes write (two histories of one
	// person cannot be interleaved without a person deciding which holds).
	{"所在的户", `SELECT count(*) FROM household_members a JOIN household_members b ON a.left_on IS NULL AND b.left_on IS NULL
		WHERE a.resident_id = @dup AND b.resident_id = @surv`},
	{"状态记录", `SELECT count(*) FROM (SELECT 1 FROM status_periods WHERE resident_id = @dup LIMIT 1) a
		JOIN (SELECT 1 FROM status_periods WHERE resident_id = @surv LIMIT 1) b ON true`},
	{"能力评估记录", `SELECT count(*) FROM (SELECT 1 FROM care_assessments WHERE resident_id = @dup LIMIT 1) a
		JOIN (SELECT 1 FROM care_assessments WHERE resident_id = @surv LIMIT 1) b ON true`},
}

// pendingChangesSQL counts the duplicate's change requests still waiting
// for a checker: approved after the merge they would change a retired
// record, so they are decided or withdrawn first.
const pendingChangesSQL = `SELECT count(*) FROM fact_change_requests WHERE resident_id = @dup AND state = 'PENDING'`

// MergeTables is every table.column that refers to a resident, and what
// a merge does with it: "move" repoints the rows at the survivor;
// "path" also gives them the survivor's org path; the others are said at
// their statements (mergeSpecial).
var MergeTables = map[string]string{
	"applications.applicant_id":             "move",
	"binding_codes.resident_id":             "move",
	"care_homes.resident_id":                "move",
	"care_profiles.resident_id":             "move",
	"disability_certificates.resident_id":   "move",
	"disability_services.resident_id":       "move",
	"emergency_calls.resident_id":           "path",
	"emergency_contacts.resident_id":        "move",
	"emergency_devices.resident_id":         "move",
	"life_events.resident_id":               "move",
	"notifications.resident_id":             "move",
	"proxy_invitations.resident_id":         "move",
	"redemptions.resident_id":               "move",
	"resident_proxies.resident_id":          "proxies",
	"service_cards.resident_id":             "move",
	"service_orders.resident_id":            "move",
	"voucher_enrollments.resident_id":       "enrollments",
	"voucher_enrollments_ended.resident_id": "move",
	"vouchers.resident_id":                  "move",
	"wechat_accounts.resident_id":           "move",
	"welfare_check_plans.resident_id":       "move",
	"welfare_checks.resident_id":            "move",
	"welfare_escalations.resident_id":       "path",
	"households.head_id":                    "move",
	"household_members.resident_id":         "move",
	"fact_change_requests.resident_id":      "move",
	"status_periods.resident_id":            "move",
	"care_assessments.resident_id":          "move",
	"duplicate_candidates.resident_a":       "kept",
	"duplicate_candidates.resident_b":       "kept",
	"residents.merged_into":                 "kept",
}

// MergeResult is what a merge did.
type MergeResult struct {
	Candidate *Candidate
	Survivor  uuid.UUID
	// Moved is rows repointed at the survivor, per table.
	Moved map[string]int64
}

// MergeResidents retires the other record of a pair into survivor
// (CASE_WORKER over both residents, ADMIN; audited; one transaction).
// Both must be living. Vouchers move with their ledger entries (which
// name the voucher, not the resident), so every balance and the books are
// unchanged.
func (s *Service) MergeResidents(ctx context.Context, candidateID, survivor uuid.UUID) (*MergeResult, error) {
	v, err := policy.Require(ctx, policy.ReviewDuplicates)
	if err != nil {
		return nil, err
	}
	out := &MergeResult{Survivor: survivor, Moved: map[string]int64{}}
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		c, err := s.lockCandidate(ctx, tx, v, candidateID, true)
		if err != nil {
			return err
		}
		dup := c.ResidentA
		switch survivor {
		case c.ResidentA:
			dup = c.ResidentB
		case c.ResidentB:
		default:
			return problem.New(problem.Invalid, "survivorId 须为该对记录之一", "input", "survivorId")
		}
		// Both records locked, in id order (the order every merge takes).
		var rows []struct {
			ID      uuid.UUID
			OrgPath string
			Living  bool
		}
		if err := tx.WithContext(ctx).Raw(`SELECT id, org_path, `+living("r")+` AS living FROM residents r
			WHERE id IN (?, ?) ORDER BY id FOR UPDATE`, c.ResidentA, c.ResidentB).Scan(&rows).Error; err != nil {
			return fmt.Errorf("resident: merge lock: %w", err)
		}
		var survPath string
		for _, r := range rows {
			if !r.Living {
				return problem.New(problem.InvalidTransition, "只能合并在册的居民记录（已死亡、迁出或已合并的不能合并）", "input", "candidateId")
			}
			if r.ID == survivor {
				survPath = r.OrgPath
			}
		}
		args := map[string]any{"dup": dup, "surv": survivor, "path": survPath, "actor": v.ID}
		for _, cf := range mergeConflicts {
			var n int64
			if err := tx.WithContext(ctx).Raw(cf.sql, args).Row().Scan(&n); err != nil {
				return fmt.Errorf("resident: merge check: %w", err)
			}
			if n > 0 {
				return problem.New(problem.Conflict, "两条记录都有"+cf.what+"，请先处理后再合并", "input", "candidateId")
			}
		}
		var pending int64
		if err := tx.WithContext(ctx).Raw(pendingChangesSQL, args).Row().Scan(&pending); err != nil {
			return fmt.Errorf("resident: merge check: %w", err)
		}
		if pending > 0 {
			return problem.New(problem.Conflict, "被合并的记录有待审核的变更申请，请先审核或撤回", "input", "candidateId")
		}
		for col, how := range MergeTables {
			table, column, _ := strings.Cut(col, ".")
			var sql string
			switch how {
			case "move":
				sql = `UPDATE ` + table + ` SET ` + column + ` = @surv WHERE ` + column + ` = @dup`
			case "path":
				sql = `UPDATE ` + table + ` SET ` + column + ` = @surv, org_path = @path WHERE ` + column + ` = @dup`
			default:
				continue
			}
			res := tx.WithContext(ctx).Exec(sql, args)
			if res.Error != nil {
				return fmt.Errorf("resident: merge %s: %w", col, res.Error)
			}
			if res.RowsAffected > 0 {
				out.Moved[table] += res.RowsAffected
			}
		}
		if err := s.mergeSpecial(ctx, tx, args, out.Moved); err != nil {
			return err
		}
		// Mini-program sessions bound to the duplicate name it: they end,
		// and the next sign-in finds the survivor.
		var accounts []uuid.UUID
		if err := tx.WithContext(ctx).Table("wechat_accounts").Where("resident_id = ?", survivor).Pluck("id", &accounts).Error; err != nil {
			return fmt.Errorf("resident: merge accounts: %w", err)
		}
		if out.Moved["wechat_accounts"] > 0 {
			for _, id := range accounts {
				if err := s.sessions.EndSessions(ctx, tx, id); err != nil {
					return err
				}
			}
		}
		if err := tx.WithContext(ctx).Exec(`UPDATE residents SET merged_into = ?, version = version + 1, updated_at = now() WHERE id = ?`,
			survivor, dup).Error; err != nil {
			return fmt.Errorf("resident: merge retire: %w", err)
		}
		now, note := s.now(), "合并入 "+survivor.String()
		if err := tx.WithContext(ctx).Model(&candidateRow{}).Where("id = ?", c.ID).
			Updates(map[string]any{"status": string(DuplicateMerged), "decided_at": now, "decided_by": v.ID, "decision_note": note}).Error; err != nil {
			return fmt.Errorf("resident: merge candidate: %w", err)
		}
		c.Status, c.DecidedAt, c.DecisionNote = string(DuplicateMerged), &now, &note
		out.Candidate = c.candidate()
		return audit.Record(ctx, tx, audit.ActionMergeResidents, audit.EntityDuplicateCandidate, &c.ID,
			map[string]any{"survivor": survivor, "retired": dup, "moved": out.Moved})
	})
	if err != nil {
		return nil, database.Classify(err)
	}
	return out, nil
}

// mergeSpecial moves what may exist once per resident and key: an
// enrollment in a program the survivor is enrolled in already is dropped
// (the survivor's stays); a proxy link of an account linked to the
// survivor already is revoked on the retired record.
func (s *Service) mergeSpecial(ctx context.Context, tx *gorm.DB, args map[string]any, moved map[string]int64) error {
	steps := []struct{ table, sql string }{
		{"voucher_enrollments", `DELETE FROM voucher_enrollments d WHERE d.resident_id = @dup
			AND EXISTS (SELECT 1 FROM voucher_enrollments s WHERE s.resident_id = @surv AND s.program_id = d.program_id)`},
		{"voucher_enrollments", `UPDATE voucher_enrollments SET resident_id = @surv WHERE resident_id = @dup`},
		{"resident_proxies", `UPDATE resident_proxies d SET revoked_at = now(), revoked_by = @actor, revoked_by_kind = 'STAFF',
			revoke_reason = '重复记录合并：该账户已是保留记录的代理人' WHERE d.resident_id = @dup AND d.revoked_at IS NULL
			AND EXISTS (SELECT 1 FROM resident_proxies s WHERE s.resident_id = @surv AND s.account_id = d.account_id AND s.revoked_at IS NULL)`},
		{"resident_proxies", `UPDATE resident_proxies SET resident_id = @surv WHERE resident_id = @dup`},
	}
	for _, st := range steps {
		res := tx.WithContext(ctx).Exec(st.sql, args)
		if res.Error != nil {
			return fmt.Errorf("resident: merge %s: %w", st.table, res.Error)
		}
		if res.RowsAffected > 0 && !strings.HasPrefix(st.sql, "DELETE") {
			moved[st.table] += res.RowsAffected
		}
	}
	return nil
}
