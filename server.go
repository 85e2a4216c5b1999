// Command residents is the district resident-services back end: one binary
// with the subcommands serve (default), migrate, seed and the operator
// commands (reencrypt, checkbooks, issue).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // Asia/Shanghai without relying on the host's zoneinfo

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/app"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/logbuf"
	"github.com/jinjiang/residents/internal/resident"
	"github.com/jinjiang/residents/internal/voucher"
	"github.com/jinjiang/residents/migrations"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(ctx, getenv)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve", "migrate", "seed", "reencrypt", "checkbooks", "issue", "expire":
	default:
		return fmt.Errorf("unknown command %q (want serve, migrate, seed, reencrypt, checkbooks, issue or expire)", cmd)
	}
	logOut := stdout
	if cmd == "serve" { // a line per request: batched (see logbuf); the other commands print as they go
		lw := logbuf.New(stdout, 64<<10, 100*time.Millisecond)
		defer lw.Close()
		logOut = lw
	}
	log := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	residents := fs.Int("residents", 200, "seed: number of synthetic residents to ensure")
	program := fs.String("program", "", "issue: the voucher program's code")
	period := fs.String("period", "", "issue: the period, YYYY-MM")
	backfill := fs.Bool("allow-backfill", false, "issue: allow a period other than this month or the next (ADMIN; audited)")
	operator := fs.String("as", "admin", "issue: the staff user the command acts (and is audited) as")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log.Info("starting", "command", cmd, "config", cfg)

	if cfg.Development() {
		if err := database.EnsureExists(ctx, cfg.DatabaseURL); err != nil {
			return err
		}
	}
	db, err := database.Open(ctx, cfg.DatabaseURL, database.Options{MaxConns: cfg.DBMaxConns, StatementTimeout: cfg.DBStatementTimeout, Logger: log,
		ReplicaURLs: cfg.DatabaseReplicaURLs, SimpleProtocol: cfg.DatabaseSimpleProtocol})
	if err != nil {
		return err
	}
	defer database.SQL(db).Close()
	if cmd == "migrate" || cfg.Development() {
		if err := migrate(ctx, cfg, log); err != nil {
			return err
		}
		// Names written before migration 00086 get their search terms
		// here, with the migrations (resumable: a stopped run is finished
		// by the next), not by every instance at start.
		if n, err := resident.BackfillSearchTerms(ctx, db); err != nil {
			return err
		} else if n > 0 {
			log.Info("search terms backfilled", "residents", n)
		}
		if cmd == "migrate" {
			log.Info("migrations applied")
			return nil
		}
	}
	if cmd == "checkbooks" {
		return checkBooks(ctx, db, stdout)
	}
	rdb, err := openRedis(cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	a, err := app.New(app.Deps{Config: cfg, DB: db, Redis: rdb, Log: log})
	if err != nil {
		return err
	}
	switch cmd {
	case "seed":
		return a.Seed(ctx, *residents, !cfg.Production())
	case "reencrypt":
		_, err := a.Reencrypt(ctx)
		return err
	case "expire":
		start := time.Now()
		n, err := a.Vouchers.ExpireVouchers(ctx)
		fmt.Fprintf(stdout, "expired %d vouchers in %v\n", n, time.Since(start).Round(time.Millisecond))
		return err
	case "issue":
		if *program == "" || *period == "" {
			return errors.New("issue: --program CODE and --period YYYY-MM are required")
		}
		return a.Issue(ctx, stdout, app.IssueCommand{Operator: *operator, ProgramCode: *program, Period: *period,
			AllowBackfill: *backfill, Terminal: isTerminal(stdout)})
	}
	if cfg.Development() {
		empty, err := a.Empty(ctx)
		if err != nil {
			return err
		}
		if empty {
			if err := a.Seed(ctx, *residents, true); err != nil {
				return err
			}
		}
	}
	tuneGC(getenv)
	return serve(ctx, a, cfg, log, logOut)
}

// tuneGC makes the collector run a third as often as Go's default (GOGC
// 300 instead of 100) under a 200 MiB soft memory limit, unless GOGC or
// GOMEMLIMIT say otherwise. Under the read mix a fifth of the server's CPU
// was the collector while RSS stayed near 60 MiB; the limit keeps the heap
// inside the 256 MiB budget however large the responses get.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(200 << 20)
	}
}

// checkBooks reconciles the voucher books (after a restore, or any time)
// and fails if they do not balance.
func checkBooks(ctx context.Context, db *gorm.DB, out io.Writer) error {
	b, bad, err := voucher.CheckBooks(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "issued %d fen = spent %d + remaining %d + expired %d + voided %d; %d redemptions, %d idempotency keys\n",
		b.IssuedFen, b.SpentFen, b.RemainingFen, b.ExpiredFen, b.VoidedFen, b.Redemptions, b.Keys)
	for _, s := range bad {
		fmt.Fprintln(out, "VIOLATION:", s)
	}
	if len(bad) > 0 {
		return fmt.Errorf("the voucher books do not balance: %d violations", len(bad))
	}
	fmt.Fprintln(out, "the voucher books balance")
	return nil
}

// openRedis returns go-redis's universal client: one server from REDIS_URL,
// or a Sentinel (REDIS_MASTER_NAME) or Cluster deployment from REDIS_ADDRS,
// with explicit timeouts so a dead Redis fails requests fast.
func openRedis(cfg config.Config) (redis.UniversalClient, error) {
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	u := &redis.UniversalOptions{
		Addrs:        []string{opt.Addr},
		DB:           opt.DB,
		Username:     opt.Username,
		Password:     opt.Password,
		TLSConfig:    opt.TLSConfig,
		MasterName:   cfg.RedisMasterName,
		DialTimeout:  2 * time.Second,
		ReadTimeout:  time.Second,
		WriteTimeout: time.Second,
		PoolSize:     50,
		PoolTimeout:  2 * time.Second,
		MaxRetries:   1,
	}
	if len(cfg.RedisAddrs) > 0 {
		u.Addrs = cfg.RedisAddrs
	}
	return redis.NewUniversalClient(u), nil
}

// serve runs the HTTP server until ctx ends, then drains: readiness goes
// 503 first, in-flight requests finish, pools close. In development it
// writes the welcome (GraphiQL's address, demo accounts, first queries) to
// out once the port is bound, so what it says is already true.
func serve(ctx context.Context, a *app.App, cfg config.Config, log *slog.Logger, out io.Writer) error {
	srv := &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           a.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      0, // websockets live long; HTTP requests carry their own deadline
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
	a.StartBackground(ctx)
	if cfg.MetricsAddr != "" {
		go func() {
			log.Info("metrics listening", "addr", cfg.MetricsAddr)
			ms := &http.Server{Addr: cfg.MetricsAddr, Handler: a.MetricsHandler(), ReadHeaderTimeout: 5 * time.Second}
			if err := ms.ListenAndServe(); err != nil {
				log.Warn("metrics listener stopped", "err", err.Error())
			}
		}()
	}
	if cfg.PprofAddr != "" {
		go func() {
			log.Info("pprof listening", "addr", cfg.PprofAddr)
			ps := &http.Server{Addr: cfg.PprofAddr, Handler: app.PprofHandler(), ReadHeaderTimeout: 5 * time.Second}
			if err := ps.ListenAndServe(); err != nil {
				log.Warn("pprof listener stopped", "err", err.Error())
			}
		}()
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", ln.Addr().String())
	if cfg.Development() {
		app.Welcome(out, ln.Addr(), cfg.SeedAdminPassword)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	a.Drain()
	time.Sleep(drainDelay(cfg))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// drainDelay gives load balancers time to see /readyz fail before the
// listener closes.
func drainDelay(cfg config.Config) time.Duration {
	if cfg.Production() {
		return 3 * time.Second
	}
	return 200 * time.Millisecond
}

// healthcheck probes /healthz of a running server: the container image has
// no shell or curl, so the binary checks itself.
func healthcheck(ctx context.Context, getenv func(string) string) error {
	addr := getenv("HTTP_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz answered %d", resp.StatusCode)
	}
	return nil
}

// isTerminal reports whether w is a terminal (the issue command then draws
// its progress bar in place).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// migrate applies the migrations on a pool of its own, without the
// statement timeout meant for requests: a migration that rewrites an
// index over a district's 10^6 residents takes minutes, and cut off at
// 10 s it would leave every later deploy failing at the same place.
func migrate(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	db, err := database.Open(ctx, cfg.DatabaseURL, database.Options{MaxConns: 2, Logger: log, SimpleProtocol: cfg.DatabaseSimpleProtocol})
	if err != nil {
		return err
	}
	defer database.SQL(db).Close()
	return migrations.Up(ctx, database.SQL(db))
}
