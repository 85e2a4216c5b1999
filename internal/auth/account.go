package auth

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/problem"
)

// WechatAccount is a WeChat mini-program account as the API shows it: its
// openid and unionid stay inside.
type WechatAccount struct {
	ID         uuid.UUID
	ResidentID *uuid.UUID
	BoundAt    *time.Time
	CreatedAt  time.Time
}

// WechatAccount returns one account, nil when there is none. ADMIN and
// AUDITOR read any (audit entries and application events name accounts);
// a resident reads their own.
func (s *Service) WechatAccount(ctx context.Context, id uuid.UUID) (*WechatAccount, error) {
	v, err := RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	if !s.MayReadStaff(v) && !(v.Kind == SubjectWechat && v.ID == id) {
		return nil, problem.Forbidden("only administrators and auditors read WeChat accounts")
	}
	var w wechatRow
	err = s.db.WithContext(ctx).Where("id = ?", id).Take(&w).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, database.Classify(err)
	}
	return &WechatAccount{ID: w.ID, ResidentID: w.ResidentID, BoundAt: w.BoundAt, CreatedAt: w.CreatedAt}, nil
}
