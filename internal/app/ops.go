package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jinjiang/residents/internal/disability"
	"github.com/jinjiang/residents/internal/rekey"
	"github.com/jinjiang/residents/internal/resident"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/emergency"

	"github.com/jinjiang/residents/internal/application"
	"github.com/jinjiang/residents/internal/seed"
)

// Seed fills the database with reference data (and demo data when demo is set).
func (a *App) Seed(ctx context.Context, residents int, demo bool) error {
	return seed.Run(ctx, a.DB, a.Auth, a.Log, seed.Options{AdminPassword: a.Config.SeedAdminPassword, Demo: demo, Residents: residents}, a.seedSteps()...)
}

// seedSteps are the domain seeders, in dependency order.
func (a *App) seedSteps() []seed.Step {
	return []seed.Step{
		a.Residents.SeedStep(),
		a.Vouchers.SeedStep(),
		// after the resident seeder: certificates for a few demo residents.
		a.Disability.SeedStep,
		emergency.SeedDemoDevices,
		// after the voucher seeder: the catalog links 养老服务券申领 to JJ-YLFWQ.
		func(ctx context.Context, db *gorm.DB, _ seed.Options) error { return application.Seed(ctx, db) },
	}
}

// Empty reports whether the database has not been seeded yet.
func (a *App) Empty(ctx context.Context) (bool, error) {
	var n int64
	if err := a.DB.WithContext(ctx).Table("users").Count(&n).Error; err != nil {
		return false, fmt.Errorf("app: %w", err)
	}
	return n == 0, nil
}

// EncryptedColumns are every domain's encrypted columns.
func EncryptedColumns() []rekey.Column {
	return slices.Concat(resident.EncryptedColumns, disability.EncryptedColumns, emergency.EncryptedColumns)
}

// Reencrypt moves every encrypted value to the primary PII key and returns
// how many rows changed.
func (a *App) Reencrypt(ctx context.Context) (int, error) {
	n, err := rekey.Run(ctx, a.DB, a.Keyring, EncryptedColumns())
	if err != nil {
		return n, fmt.Errorf("reencrypt: %w", err)
	}
	a.Log.InfoContext(ctx, "reencrypt complete", "rows", n, "key_id", a.Keyring.PrimaryKeyID())
	return n, nil
}

// StartBackground starts the background jobs (each guarded so that one
// instance at a time runs it); they stop when ctx ends.
func (a *App) StartBackground(ctx context.Context) {
	go a.Vouchers.RunExpiry(ctx, 10*time.Minute)
	go a.Application.RunAcceptByLaw(ctx, 10*time.Minute, a.Log.Warn)
	go a.Vouchers.RunExpiryNotices(ctx, time.Hour)
	a.Runs.Start(ctx)
	go a.Emergency.RunHub(ctx)
	go a.Emergency.RunOutbound(ctx, 5*time.Second)
	go a.Emergency.RunDeviceScan(ctx, a.Config.DeviceScanInterval)
	go a.Revocations.Run(ctx)
	go a.OrgChanges.Run(ctx, a.Resolver.ForgetOrgUnits)
	if a.Config.NotifyPoll > 0 {
		go a.Notify.Run(ctx)
	}
}
