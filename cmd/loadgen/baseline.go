package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/jinjiang/residents/internal/app"
	"github.com/jinjiang/residents/internal/baseline"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/database"
)

// compareBaseline serves internal/baseline on a loopback port against the
// same Postgres and Redis, drives resident(id) against it with the same
// concurrency and duration, and prints the ratio.
func compareBaseline(ctx context.Context, project *stats, elapsed time.Duration, o options) error {
	pool, err := pgxpool.New(ctx, o.databaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	ropt, err := redis.ParseURL(envOr("REDIS_URL", "redis://127.0.0.1:6379/0"))
	if err != nil {
		return err
	}
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	if err := rdb.Set(ctx, baseline.SessionKey, "1", time.Hour).Err(); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.StripPrefix("", baseline.Handler(pool, rdb))}
	go srv.Serve(l)
	defer srv.Close()
	rows, err := pool.Query(ctx, "SELECT id::text FROM residents LIMIT 2000")
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) == 0 {
		return fmt.Errorf("baseline: no residents")
	}
	c := newClient("http://"+l.Addr().String(), o.concurrency)
	st := newStats()
	bElapsed := drive(ctx, o.concurrency, o.duration, func(ctx context.Context, w int, i int64) {
		timed(ctx, st, c, "baseline resident(id)", "", `query($id:ID!){resident(id:$id){id name idNumberMasked}}`, map[string]any{"id": ids[int(i)%len(ids)]}, "")
	})
	fmt.Printf("\nbaseline (gqlgen + one Redis GET + one pgx primary-key read), %d clients, %v\n", o.concurrency, bElapsed.Round(time.Millisecond))
	st.print(os.Stdout, bElapsed)
	ours := float64(project.count("resident(id)")) / elapsed.Seconds()
	base := float64(st.count("baseline resident(id)")) / bElapsed.Seconds()
	fmt.Printf("\nresident(id): %.0f/s vs baseline %.0f/s = %.0f%% of the baseline (read mix shares the clients with other operations; use -mix read-one for the target)\n", ours, base, 100*ours/base)
	return nil
}

// seedResidents runs the server's own seed with N synthetic residents.
func seedResidents(ctx context.Context, dbURL string, n int) error {
	cfg, err := config.Load(func(k string) string {
		if k == "DATABASE_URL" {
			return dbURL
		}
		return os.Getenv(k)
	})
	if err != nil {
		return err
	}
	db, err := database.Open(ctx, cfg.DatabaseURL, database.Options{MaxConns: 4})
	if err != nil {
		return err
	}
	defer database.SQL(db).Close()
	ropt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	a, err := app.New(app.Deps{Config: cfg, DB: db, Redis: rdb, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	return a.Seed(ctx, n, !cfg.Production())
}
