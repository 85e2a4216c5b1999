package resident

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/notify"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// The WeChat mini-program accounts bound to residents: how many one record
// may have, who sees them, and how a counter unbinds one. A bound account
// reads the whole record with its full ID number, so a record with accounts
// nobody knows of is a leak nobody notices: the number is capped, the
// accounts already bound are told of a new one, and the counter sees and
// ends them.

// bindTx binds account to resident inside tx. The resident's row lock
// serialises every bind to one resident, so concurrent binds cannot pass
// the cap together; binding an account again to the same resident changes
// nothing and tells no one.
func (s *Service) bindTx(ctx context.Context, tx *gorm.DB, account, residentID uuid.UUID) error {
	_, found, err := lockResident(ctx, tx, residentID)
	if err != nil {
		return err
	}
	if !found {
		return errNoMatch
	}
	var bound []wechatRow
	if err := tx.WithContext(ctx).Where("resident_id = ?", residentID).Order("bound_at, id").Find(&bound).Error; err != nil {
		return database.Classify(fmt.Errorf("resident: bind: bound accounts: %w", err))
	}
	others := make([]uuid.UUID, 0, len(bound))
	for _, b := range bound {
		if b.ID == account {
			return nil // already bound here
		}
		others = append(others, b.ID)
	}
	if len(others) >= s.maxBindings {
		return problem.New(problem.Conflict, fmt.Sprintf("该居民已绑定%d个微信账号，请到服务窗口解绑后再试 (this resident already has the most mini-program accounts allowed; a counter can unbind one)", s.maxBindings))
	}
	now := s.now()
	if err := tx.WithContext(ctx).Model(&wechatRow{}).Where("id = ?", account).
		Updates(map[string]any{"resident_id": residentID, "bound_at": now}).Error; err != nil {
		return database.Classify(fmt.Errorf("resident: bind: %w", err))
	}
	// The accounts already bound learn of the new one (delivered once the
	// notification sender exists; recorded now, in this transaction).
	if err := notify.Enqueue(ctx, tx, notify.WechatBindingAdded, notify.Wechat, others,
		map[string]any{"residentId": residentID, "accountId": account, "boundAt": now}, now); err != nil {
		return err
	}
	return audit.Record(ctx, tx, audit.ActionBindResident, audit.EntityResident, &residentID,
		map[string]any{"accountId": account, "accountsNotified": len(others)})
}

// lockResident locks a resident's row for the rest of tx, which orders
// every bind and unbind of that resident, and answers its org path.
func lockResident(ctx context.Context, tx *gorm.DB, id uuid.UUID) (path string, found bool, err error) {
	var paths []string
	if err := tx.WithContext(ctx).Raw("SELECT org_path FROM residents WHERE id = ? FOR UPDATE", id).Scan(&paths).Error; err != nil {
		return "", false, database.Classify(fmt.Errorf("resident: lock: %w", err))
	}
	if len(paths) == 0 {
		return "", false, nil
	}
	return paths[0], true, nil
}

// bindingRow is an account with its resident's org path (empty when unbound).
type bindingRow struct {
	ID         uuid.UUID
	ResidentID *uuid.UUID
	BoundAt    *time.Time
	CreatedAt  time.Time
	OrgPath    string
}

func (b bindingRow) account() *auth.WechatAccount {
	return &auth.WechatAccount{ID: b.ID, ResidentID: b.ResidentID, BoundAt: b.BoundAt, CreatedAt: b.CreatedAt}
}

// mayReadAccount is who reads a WeChat account: the account itself, a
// viewer who reads staff and mini-program accounts (ADMIN, AUDITOR), and
// for a bound account whoever may list the bindings of its resident.
func mayReadAccount(v *auth.Viewer, b bindingRow) bool {
	if v.Kind == auth.SubjectWechat && v.ID == b.ID || policy.Allowed(v, policy.ReadStaff) {
		return true
	}
	if b.ResidentID == nil {
		return false
	}
	ok, _ := policy.On(v, policy.ReadWechatBindings, policy.Subject{ID: *b.ResidentID, OrgPath: b.OrgPath})
	return ok
}

const bindingSelect = `SELECT w.id, w.resident_id, w.bound_at, w.created_at, coalesce(r.org_path, '') AS org_path
  FROM wechat_accounts w LEFT JOIN residents r ON r.id = w.resident_id`

// WechatAccount returns one account the viewer may read (mayReadAccount),
// nil when there is none, FORBIDDEN otherwise.
func (s *Service) WechatAccount(ctx context.Context, id uuid.UUID) (*auth.WechatAccount, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	var rows []bindingRow
	if err := s.db.WithContext(ctx).Raw(bindingSelect+" WHERE w.id = ?", id).Scan(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("resident: wechat account: %w", err))
	}
	if len(rows) == 0 {
		return nil, nil
	}
	if !mayReadAccount(v, rows[0]) {
		return nil, problem.Forbidden("you may not read this mini-program account")
	}
	return rows[0].account(), nil
}

// WechatAccounts lists the accounts bound to resident r, earliest first,
// for a viewer the policy lets list r's bindings (ReadWechatBindings);
// FORBIDDEN otherwise.
func (s *Service) WechatAccounts(ctx context.Context, r *Resident) ([]*auth.WechatAccount, error) {
	if _, err := policy.RequireOn(ctx, policy.ReadWechatBindings, policy.Subject{ID: r.ID, OrgPath: r.OrgPath}); err != nil {
		return nil, err
	}
	var rows []bindingRow
	if err := s.db.WithContext(ctx).Raw(bindingSelect+" WHERE w.resident_id = ? ORDER BY w.bound_at, w.id", r.ID).Scan(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("resident: wechat accounts: %w", err))
	}
	out := make([]*auth.WechatAccount, len(rows))
	for i, b := range rows {
		out[i] = b.account()
	}
	return out, nil
}

// UnbindWechatAccount unbinds an account from its resident at the counter:
// the viewer must be allowed on that resident (UnbindWechatAccount), the
// reason is audited, and every session of the account ends at once (it
// can sign in again, unbound). It returns the account as it is now.
func (s *Service) UnbindWechatAccount(ctx context.Context, id uuid.UUID, reason string) (*auth.WechatAccount, error) {
	v, err := policy.Require(ctx, policy.UnbindWechatAccount)
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if n := utf8.RuneCountInString(reason); n < 1 || n > 200 {
		return nil, problem.New(problem.Invalid, "请填写解绑原因（1至200字） (a reason of 1 to 200 characters is required)", "input", "reason")
	}
	var out *auth.WechatAccount
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		var acc wechatRow
		err := tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&acc).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return problem.New(problem.NotFound, "未找到该微信账号 (no such mini-program account)", "input", "accountId")
		}
		if err != nil {
			return database.Classify(fmt.Errorf("resident: unbind: %w", err))
		}
		if acc.ResidentID == nil {
			return problem.New(problem.InvalidTransition, "该微信账号未绑定居民 (the account is not bound to a resident)", "input", "accountId")
		}
		rid := *acc.ResidentID
		// The resident's lock orders this with binds to the same record.
		path, found, err := lockResident(ctx, tx, rid)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("resident: unbind: account %s bound to a missing resident", id)
		}
		if ok, err := policy.On(v, policy.UnbindWechatAccount, policy.Subject{ID: rid, OrgPath: path}); err != nil || !ok {
			if err != nil {
				return err
			}
			return policy.OutOfJurisdiction("input", "accountId")
		}
		if err := tx.WithContext(ctx).Model(&wechatRow{}).Where("id = ?", id).
			Updates(map[string]any{"resident_id": nil, "bound_at": nil}).Error; err != nil {
			return database.Classify(fmt.Errorf("resident: unbind: %w", err))
		}
		if err := audit.Record(ctx, tx, audit.ActionUnbindWechatAccount, audit.EntityWechatAccount, &id,
			map[string]any{"residentId": rid, "reason": reason}); err != nil {
			return err
		}
		out = &auth.WechatAccount{ID: id, CreatedAt: acc.CreatedAt}
		// Last, so a failure here rolls the unbinding back with it.
		return s.sessions.EndSessions(ctx, tx, id)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
