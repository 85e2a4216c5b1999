package auth

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/problem"
)

// ChangePassword sets the signed-in user's own password, given the current
// one. Every session of the user ends (all refresh tokens revoked, every
// live session deleted, on every instance: whoever else held a session,
// perhaps the reason for the change, is out) and a new session is started
// for the caller, whose grant is returned. Wrong current passwords are
// throttled per user (a stolen access token is no password oracle).
func (s *Service) ChangePassword(ctx context.Context, current, next string) (*Grant, error) {
	v, err := RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	if v.Kind != SubjectUser || !s.MayChangeOwnPassword(v) {
		return nil, problem.Forbidden("only password accounts change a password; mini-program accounts have none")
	}
	u, err := findUser(ctx, s.db, v.ID)
	if err != nil {
		return nil, err
	}
	if u == nil || !u.Active {
		return nil, problem.ErrUnauthenticated
	}
	wrong := problem.New(problem.InvalidCredentials, "当前密码错误 (the current password is wrong)", "input", "currentPassword")
	if len(current) > 256 {
		return nil, wrong
	}
	if err := s.logins.AdmitCurrentPassword(ctx, u.ID.String()); err != nil {
		return nil, err
	}
	ok, err := s.hashes.Verify(ctx, u.PasswordHash, current)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, wrong
	}
	if err := s.logins.CurrentPasswordOK(ctx, u.ID.String()); err != nil {
		return nil, err
	}
	if ue := CheckPassword(u.Username, next, "input", "newPassword"); ue != nil {
		return nil, ue
	}
	if next == current {
		return nil, problem.New(problem.WeakPassword, "新密码不能与当前密码相同 (the new password must differ from the current one)", "input", "newPassword")
	}
	hash, err := s.hashes.Hash(ctx, next)
	if err != nil {
		return nil, err
	}
	var g *Grant
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if err := s.setPasswordTx(ctx, tx, u.ID, hash); err != nil {
			return err
		}
		nv, err := s.userViewer(ctx, tx, u)
		if err != nil {
			return err
		}
		if err := s.Audit(ctx, tx, AuditChangePassword, SubjectUser, u.ID, map[string]any{"sessionsRevoked": true}); err != nil {
			return err
		}
		g, err = s.startSession(ctx, tx, nv)
		return err
	})
	if err != nil {
		return nil, database.Classify(err)
	}
	return g, nil
}

// ResetPassword sets another account's password (ADMIN: the policy's
// ResetPassword) and ends every session of that account. The account's
// sign-in backoff is cleared: it is in its owner's hands again.
func (s *Service) ResetPassword(ctx context.Context, id uuid.UUID, next string) (*User, error) {
	v, err := RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	if !s.MayResetPassword(v) {
		return nil, problem.Forbidden("your role does not allow this")
	}
	u, err := findUser(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, problem.New(problem.NotFound, "user not found", "input", "userId")
	}
	if ue := CheckPassword(u.Username, next, "input", "newPassword"); ue != nil {
		return nil, ue
	}
	hash, err := s.hashes.Hash(ctx, next)
	if err != nil {
		return nil, err
	}
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if err := s.setPasswordTx(ctx, tx, u.ID, hash); err != nil {
			return err
		}
		return s.Audit(ctx, tx, AuditResetPassword, SubjectUser, u.ID, map[string]any{"sessionsRevoked": true})
	})
	if err != nil {
		return nil, database.Classify(err)
	}
	if err := s.logins.ClearUser(ctx, u.Username); err != nil {
		return nil, err
	}
	uu := u.user()
	return &uu, nil
}

// setPasswordTx stores a new hash and revokes the account's every refresh
// token and live session (as deactivation does). The sessions go before
// the commit: should the commit fail, they are ended anyway, the safe side.
func (s *Service) setPasswordTx(ctx context.Context, tx *gorm.DB, id uuid.UUID, hash string) error {
	res := tx.WithContext(ctx).Model(&userRow{}).Where("id = ?", id).Update("password_hash", hash)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return errors.New("auth: set password: user vanished")
	}
	return s.EndSessions(ctx, tx, id)
}
