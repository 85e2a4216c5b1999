package auth

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
)

// WechatAccount is a WeChat mini-program account as the API shows it: its
// openid and unionid stay inside. Who reads one is the registry's rule
// (resident.Service.WechatAccount), since it depends on the resident the
// account is bound to.
type WechatAccount struct {
	ID         uuid.UUID
	ResidentID *uuid.UUID
	BoundAt    *time.Time
	CreatedAt  time.Time
}

// EndSessions ends every session of subject id at once, on every instance,
// and revokes its refresh tokens inside tx (an unbound WeChat account, a
// deactivated user, a changed or reset password): nothing it was signed in
// with works any more.
func (s *Service) EndSessions(ctx context.Context, tx *gorm.DB, id uuid.UUID) error {
	if err := tx.WithContext(ctx).Model(&refreshRow{}).Where("subject_id = ? AND revoked_at IS NULL", id).
		Update("revoked_at", s.now()).Error; err != nil {
		return database.Classify(err)
	}
	return s.sessions.DeleteSubject(ctx, id)
}
