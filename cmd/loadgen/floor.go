package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// compareWriteFloor measures, in the same run, the least a correct
// redemption must do in Postgres: one transaction that inserts an
// idempotency key, locks the account row, updates its balance and appends
// a ledger entry, straight through pgx (no HTTP, GraphQL, session, audit
// or token), with the same concurrency over as many accounts as the mix
// used (one for redeem-hot). Its throughput is a ceiling for redeemVoucher
// on this machine; the ratio says how much of it the full stack reaches.
func compareWriteFloor(ctx context.Context, project *stats, elapsed time.Duration, o options) error {
	pool, err := pgxpool.New(ctx, o.databaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	accounts := o.residents
	if o.mix == "redeem-hot" {
		accounts = 1
	}
	setup := []string{
		"DROP SCHEMA IF EXISTS loadgen_floor CASCADE",
		"CREATE SCHEMA loadgen_floor",
		"CREATE TABLE loadgen_floor.accounts (id int PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))",
		"CREATE TABLE loadgen_floor.keys (key text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())",
		"CREATE TABLE loadgen_floor.ledger (id bigserial PRIMARY KEY, account int NOT NULL REFERENCES loadgen_floor.accounts, amount bigint NOT NULL, balance_after bigint NOT NULL)",
		fmt.Sprintf("INSERT INTO loadgen_floor.accounts SELECT i, 1000000000 FROM generate_series(1, %d) i", accounts),
	}
	for _, q := range setup {
		if _, err := pool.Exec(ctx, q); err != nil {
			return fmt.Errorf("write floor: %w", err)
		}
	}
	defer pool.Exec(context.WithoutCancel(ctx), "DROP SCHEMA IF EXISTS loadgen_floor CASCADE")
	floor := newStats()
	run := time.Now().UnixNano()
	fElapsed := drive(ctx, o.concurrency, o.duration, func(ctx context.Context, w int, i int64) {
		start := time.Now()
		err := func() error {
			tx, err := pool.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(context.WithoutCancel(ctx))
			if _, err := tx.Exec(ctx, "INSERT INTO loadgen_floor.keys (key) VALUES ($1)", fmt.Sprintf("%d-%d", run, i)); err != nil {
				return err
			}
			acct := int(i)%accounts + 1
			var bal int64
			if err := tx.QueryRow(ctx, "SELECT balance FROM loadgen_floor.accounts WHERE id = $1 FOR UPDATE", acct).Scan(&bal); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "UPDATE loadgen_floor.accounts SET balance = $2 WHERE id = $1", acct, bal-100); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO loadgen_floor.ledger (account, amount, balance_after) VALUES ($1, -100, $2)", acct, bal-100); err != nil {
				return err
			}
			return tx.Commit(ctx)
		}()
		code := ""
		if err != nil && ctx.Err() == nil {
			code = "DB"
		}
		floor.record("floor transaction", time.Since(start), code)
	})
	fmt.Printf("\nwrite floor (pgx only: key, lock, update, ledger, commit) over %d account(s), %d clients, %v\n",
		accounts, o.concurrency, fElapsed.Round(time.Millisecond))
	floor.print(os.Stdout, fElapsed)
	p := float64(project.count("redeemVoucher")) / elapsed.Seconds()
	f := float64(floor.count("floor transaction")) / fElapsed.Seconds()
	if f > 0 {
		fmt.Printf("redeemVoucher %.0f/s = %.0f%% of the write floor's %.0f/s\n", p, 100*p/f, f)
	}
	return nil
}
