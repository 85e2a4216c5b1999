// Package seed fills a database with the district's reference data and, in
// development, demo accounts and synthetic residents. Every step is
// idempotent: running seed twice changes nothing.
package seed

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/org"
)

// Options say what to seed.
type Options struct {
	AdminPassword string
	// Demo adds demo staff accounts (development only).
	Demo bool
	// Residents is the number of synthetic residents to ensure exist.
	Residents int
}

// DemoPassword is the password of every demo account (development only).
const DemoPassword = "demo-password"

// DemoAccount is a demo staff login.
type DemoAccount struct {
	Username, DisplayName string
	Roles                 []auth.Role
	// OrgCode is the account's org unit.
	OrgCode string
}

// Admin is the first administrator, seeded everywhere (its password is
// SEED_ADMIN_PASSWORD's).
var Admin = DemoAccount{"admin", "区民政局管理员", []auth.Role{auth.Admin}, org.DistrictCode}

// DemoAccounts are created in development so every role can be tried.
var DemoAccounts = []DemoAccount{
	{"clerk", "王柜员 (春熙路便民服务中心)", []auth.Role{auth.Clerk}, "510104020"},
	{"caseworker", "李社工 (春熙路街道)", []auth.Role{auth.CaseWorker}, "510104020"},
	{"caseworker2", "赵社工 (牛市口街道)", []auth.Role{auth.CaseWorker}, "510104023"},
	{"operator", "陈接警员 (长者通)", []auth.Role{auth.Operator}, org.DistrictCode},
	{"auditor", "周审计", []auth.Role{auth.Auditor}, org.DistrictCode},
	{"telephony", "长者通呼叫中心系统", []auth.Role{auth.Integration}, org.DistrictCode},
}

// Steps are extra domain seeders run after the base (org tree, accounts).
type Step func(ctx context.Context, db *gorm.DB, opt Options) error

// Run seeds the base data and then each step in order.
func Run(ctx context.Context, db *gorm.DB, a *auth.Service, log *slog.Logger, opt Options, steps ...Step) error {
	if err := org.Seed(ctx, db); err != nil {
		return err
	}
	if err := ensureUser(ctx, db, a, Admin.Username, opt.AdminPassword, Admin.DisplayName, Admin.Roles, Admin.OrgCode); err != nil {
		return err
	}
	if opt.Demo {
		for _, d := range DemoAccounts {
			if err := ensureUser(ctx, db, a, d.Username, DemoPassword, d.DisplayName, d.Roles, d.OrgCode); err != nil {
				return err
			}
		}
	}
	for _, s := range steps {
		if err := s(ctx, db, opt); err != nil {
			return err
		}
	}
	log.InfoContext(ctx, "seed complete", "demo", opt.Demo, "residents", opt.Residents)
	return nil
}

func ensureUser(ctx context.Context, db *gorm.DB, a *auth.Service, username, password, display string, roles []auth.Role, orgCode string) error {
	var n int64
	if err := db.WithContext(ctx).Table("users").Where("lower(username) = lower(?)", username).Count(&n).Error; err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if n > 0 {
		return nil
	}
	var orgID uuid.UUID
	if err := db.WithContext(ctx).Raw("SELECT id FROM org_units WHERE code = ?", orgCode).Row().Scan(&orgID); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	_, err := a.CreateUserTx(ctx, db, auth.NewUser{Username: username, Password: password, DisplayName: display, Roles: roles, OrgUnitID: &orgID})
	if err != nil {
		return fmt.Errorf("seed: user %s: %w", username, err)
	}
	return nil
}
