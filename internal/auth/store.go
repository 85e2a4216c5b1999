package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
)

type userRow struct {
	ID           uuid.UUID
	Username     string
	PasswordHash string
	DisplayName  string
	Roles        pq.StringArray `gorm:"type:text[]"`
	OrgUnitID    *uuid.UUID
	ProviderID   *uuid.UUID
	Active       bool
	CreatedAt    time.Time
}

func (userRow) TableName() string { return "users" }

func (r userRow) user() User {
	roles := make([]Role, len(r.Roles))
	for i, x := range r.Roles {
		roles[i] = Role(x)
	}
	return User{ID: r.ID, Username: r.Username, DisplayName: r.DisplayName, Roles: roles, OrgUnitID: r.OrgUnitID, ProviderID: r.ProviderID, Active: r.Active}
}

type refreshRow struct {
	ID          uuid.UUID
	FamilyID    uuid.UUID
	SubjectKind string
	SubjectID   uuid.UUID
	SessionID   uuid.UUID
	TokenHash   []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time
	UsedAt      *time.Time
	RevokedAt   *time.Time
}

func (refreshRow) TableName() string { return "refresh_tokens" }

type wechatRow struct {
	ID         uuid.UUID
	Openid     string
	Unionid    *string
	ResidentID *uuid.UUID
	BoundAt    *time.Time
	CreatedAt  time.Time
}

func (wechatRow) TableName() string { return "wechat_accounts" }

func findUserByName(ctx context.Context, db *gorm.DB, username string) (*userRow, error) {
	var r userRow
	err := db.WithContext(ctx).Where("lower(username) = lower(?)", username).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, database.Classify(fmt.Errorf("auth: find user: %w", err))
	}
	return &r, nil
}

func findUser(ctx context.Context, db *gorm.DB, id uuid.UUID) (*userRow, error) {
	var r userRow
	err := db.WithContext(ctx).Where("id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, database.Classify(fmt.Errorf("auth: find user: %w", err))
	}
	return &r, nil
}

func orgPath(ctx context.Context, db *gorm.DB, id *uuid.UUID) (string, error) {
	if id == nil {
		return "", nil
	}
	var path string
	err := db.WithContext(ctx).Raw("SELECT path FROM org_units WHERE id = ?", *id).Scan(&path).Error
	return path, database.Classify(err)
}
