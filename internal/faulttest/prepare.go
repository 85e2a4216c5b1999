package faulttest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jinjiang/residents/internal/app"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/migrations"
)

// Prepare migrates and seeds (demo accounts, admin password adminPassword)
// the database at dbURL.
func Prepare(t testing.TB, dbURL, redisURL, adminPassword string) {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, dbURL, database.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer database.SQL(db).Close()
	if err := migrations.Up(ctx, database.SQL(db)); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(func(k string) string {
		if k == "APP_ENV" {
			return "test"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.SeedAdminPassword = adminPassword
	ropt, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	a, err := app.New(app.Deps{Config: cfg, DB: db, Redis: rdb, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Seed(ctx, 0, true); err != nil {
		t.Fatal(err)
	}
}
