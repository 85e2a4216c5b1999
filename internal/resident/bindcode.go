package resident

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/proxy"
)

// Binding codes: the main path for elders, whose name, ID number and phone
// (bindResident's three factors) are widely known. A clerk checks the ID
// card in person and issues a code; the code binds the first account that
// presents it within 24 hours, once, under the same cap and notices as
// any bind (bindTx).

// BindingCodeTTL is how long a binding code is valid.
const BindingCodeTTL = 24 * time.Hour

// BindingCode is an issued code: shown once, stored hashed.
type BindingCode struct {
	Code      string
	ExpiresAt time.Time
}

// IssueBindingCode issues a binding code for resident id, for staff
// allowed IssueBindingCode on it. Earlier unused codes of the resident
// stay valid until they expire or are used.
func (s *Service) IssueBindingCode(ctx context.Context, id uuid.UUID) (*BindingCode, error) {
	v, err := policy.Require(ctx, policy.IssueBindingCode)
	if err != nil {
		return nil, err
	}
	code := proxy.NewCode()
	norm, _ := proxy.NormalizeCode(code)
	now := s.now()
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		path, found, err := lockResident(ctx, tx, id)
		if err != nil {
			return err
		}
		if !found {
			return problem.New(problem.NotFound, "未找到该居民 (no such resident)", "input", "residentId")
		}
		if ok, err := policy.On(v, policy.IssueBindingCode, policy.Subject{ID: id, OrgPath: path}); err != nil {
			return err
		} else if !ok {
			return policy.OutOfJurisdiction("input", "residentId")
		}
		if err := tx.WithContext(ctx).Exec(`INSERT INTO binding_codes (code_hash, resident_id, issued_by, issued_at, expires_at)
			VALUES (decode(?, 'hex'), ?, ?, ?, ?)`, proxy.HashCode(norm), id, v.ID, now, now.Add(BindingCodeTTL)).Error; err != nil {
			return database.Classify(fmt.Errorf("resident: binding code: %w", err))
		}
		return audit.Record(ctx, tx, audit.ActionIssueBindingCode, audit.EntityResident, &id, nil)
	})
	if err != nil {
		return nil, err
	}
	return &BindingCode{Code: code, ExpiresAt: now.Add(BindingCodeTTL)}, nil
}

// errCodeTries refuses a code tried too often, whoever tries it.
var errCodeTries = problem.New(problem.TooManyAttempts, "该码尝试次数过多，请15分钟后再试 (this code was tried too often; try again later)", "input", "code")

var errBadBindingCode = problem.New(problem.NotFound, "绑定码无效、已使用或已过期，请到服务窗口重新领取 (the binding code is invalid, used or expired)", "input", "code")

// BindWithCode binds the signed-in WeChat account to the resident a
// binding code was issued for. Attempts count against bindResident's
// throttles (per account and per client address), so codes cannot be
// guessed faster than the three factors, and against the code's own
// (BindLimits.PerCode): TOO_MANY_ATTEMPTS.
func (s *Service) BindWithCode(ctx context.Context, code string) (*Resident, error) {
	v, err := s.bindAttempt(ctx)
	if err != nil {
		return nil, err
	}
	norm, ok := proxy.NormalizeCode(code)
	if !ok {
		return nil, errBadBindingCode
	}
	if s.binds.PerCode != nil {
		if err := s.binds.PerCode.Take(ctx, "bindcode:"+proxy.HashCode(norm), errCodeTries); err != nil {
			return nil, err
		}
	}
	var rid uuid.UUID
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		var rows []struct {
			ResidentID uuid.UUID
			ExpiresAt  time.Time
			UsedAt     *time.Time
		}
		if err := tx.WithContext(ctx).Raw("SELECT resident_id, expires_at, used_at FROM binding_codes WHERE code_hash = decode(?, 'hex') FOR UPDATE",
			proxy.HashCode(norm)).Scan(&rows).Error; err != nil {
			return database.Classify(fmt.Errorf("resident: bind with code: %w", err))
		}
		now := s.now()
		if len(rows) == 0 || rows[0].UsedAt != nil || !now.Before(rows[0].ExpiresAt) {
			return errBadBindingCode
		}
		rid = rows[0].ResidentID
		if err := s.bindTx(ctx, tx, v.ID, rid); err != nil {
			return err
		}
		if err := tx.WithContext(ctx).Exec("UPDATE binding_codes SET used_at = ?, used_by = ? WHERE code_hash = decode(?, 'hex')",
			now, v.ID, proxy.HashCode(norm)).Error; err != nil {
			return database.Classify(fmt.Errorf("resident: bind with code: %w", err))
		}
		return audit.Record(ctx, tx, audit.ActionBindResidentWithCode, audit.EntityResident, &rid, map[string]any{"accountId": v.ID})
	})
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: bind with code: %w", err))
	}
	if err := s.bound(ctx, v, rid); err != nil {
		return nil, err
	}
	row, err := findByID(ctx, s.db, rid)
	if err != nil || row == nil {
		return nil, err
	}
	return row.resident().apply(policy.ViewFull), nil
}
