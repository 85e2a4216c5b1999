package auth

import (
	"context"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/problem"
)

// ProviderUsers lists the accounts of provider id that hold role, oldest
// first. Callers check who may read them (internal/homecare: the
// provider's own users).
func (s *Service) ProviderUsers(ctx context.Context, providerID uuid.UUID, role Role) ([]*User, error) {
	var rows []userRow
	if err := s.db.WithContext(ctx).Where("provider_id = ? AND ? = ANY(roles)", providerID, string(role)).
		Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	out := make([]*User, len(rows))
	for i := range rows {
		u := rows[i].user()
		out[i] = &u
	}
	return out, nil
}

// UserTx reads one account inside tx, locked for update; nil when there is
// none.
func (s *Service) UserTx(ctx context.Context, tx *gorm.DB, id uuid.UUID) (*User, error) {
	var r userRow
	err := tx.WithContext(ctx).Raw("SELECT * FROM users WHERE id = ? FOR UPDATE", id).Scan(&r).Error
	if err != nil {
		return nil, database.Classify(err)
	}
	if r.ID == uuid.Nil {
		return nil, nil
	}
	u := r.user()
	return &u, nil
}

// UpdateUserTx changes an account's display name and whether it is active
// inside tx (nil leaves a field as it is). Deactivating ends every session
// of the account at once, on every instance, and revokes its refresh
// tokens. Callers check who may change it.
func (s *Service) UpdateUserTx(ctx context.Context, tx *gorm.DB, id uuid.UUID, displayName *string, active *bool) (*User, error) {
	set := map[string]any{}
	if displayName != nil {
		if n := len([]rune(*displayName)); n < 1 || n > 64 {
			return nil, problem.New(problem.Invalid, "姓名须为1至64个字符", "input", "displayName")
		}
		set["display_name"] = *displayName
	}
	if active != nil {
		set["active"] = *active
	}
	if len(set) > 0 {
		if err := tx.WithContext(ctx).Model(&userRow{}).Where("id = ?", id).Updates(set).Error; err != nil {
			return nil, database.Classify(err)
		}
	}
	if active != nil && !*active {
		if err := s.EndSessions(ctx, tx, id); err != nil {
			return nil, err
		}
	}
	r, err := findUser(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, problem.New(problem.NotFound, "账号不存在", "input", "id")
	}
	u := r.user()
	return &u, nil
}
