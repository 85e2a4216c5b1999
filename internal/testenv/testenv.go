// Package testenv gives tests the real stack: each test package gets a
// fresh Postgres database cloned from a migrated, seeded template (cloning
// takes a fraction of a second), and each Env its own Redis key prefix, its
// own clock and an httptest server running the full HTTP handler.
package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/app"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/migrations"
)

// AdminPassword is the password of the seeded admin in test databases.
const AdminPassword = "admin-test-password"

// bump when the template's seed changes without a migration change.
const seedVersion = "1"

func adminURL() string {
	if u := os.Getenv("TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

func dbURL(name string) string {
	u := adminURL()
	i := strings.LastIndex(u, "/")
	q := ""
	if j := strings.Index(u[i:], "?"); j >= 0 {
		q = u[i+j:]
	}
	return u[:i+1] + name + q
}

// RedisURL is the Redis the tests use.
func RedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

var pkgDB struct {
	name string
	url  string
}

// Main runs a test package against its own fresh database and drops it
// afterwards. Call it from TestMain.
func Main(m *testing.M) {
	ctx := context.Background()
	// go-redis logs dial failures itself; the outage tests cause them on purpose.
	redis.SetLogger(quietRedis{})
	name, err := cloneDatabase(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(1)
	}
	pkgDB.name, pkgDB.url = name, dbURL(name)
	code := m.Run()
	if os.Getenv("TESTENV_KEEP") == "" {
		dropDatabase(ctx, name)
	}
	os.Exit(code)
}

// DatabaseURL is the package database (valid after Main started).
func DatabaseURL() string { return pkgDB.url }

func templateName() (string, error) {
	h := sha256.New()
	var names []string
	err := fs.WalkDir(migrations.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	for _, n := range names {
		b, _ := fs.ReadFile(migrations.FS(), n)
		h.Write([]byte(n))
		h.Write(b)
	}
	h.Write([]byte(seedVersion))
	return "residents_tpl_" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// cloneDatabase makes the template if needed and clones it, under an
// advisory lock so concurrent test packages do not race.
func cloneDatabase(ctx context.Context) (string, error) {
	tpl, err := templateName()
	if err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, adminURL())
	if err != nil {
		return "", fmt.Errorf("connect to postgres: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(764231)"); err != nil {
		return "", err
	}
	defer conn.Exec(ctx, "SELECT pg_advisory_unlock(764231)")
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", tpl).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if err := buildTemplate(ctx, conn, tpl); err != nil {
			return "", fmt.Errorf("build template: %w", err)
		}
	}
	name := fmt.Sprintf("residents_test_%d_%06d", time.Now().Unix(), rand.IntN(1000000))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+tpl); err != nil {
		return "", fmt.Errorf("clone template: %w", err)
	}
	return name, nil
}

func buildTemplate(ctx context.Context, conn *pgx.Conn, tpl string) error {
	tmp := tpl + "_wip"
	conn.Exec(ctx, "DROP DATABASE IF EXISTS "+tmp+" WITH (FORCE)")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+tmp); err != nil {
		return err
	}
	db, err := database.Open(ctx, dbURL(tmp), database.Options{MaxConns: 4})
	if err != nil {
		return err
	}
	if err := migrations.Up(ctx, database.SQL(db)); err != nil {
		database.SQL(db).Close()
		return err
	}
	rdb := redis.NewClient(mustRedisOpts())
	cfg := testConfig("tpl:")
	cfg.SeedAdminPassword = AdminPassword
	a, err := app.New(app.Deps{Config: cfg, DB: db, Redis: rdb, Log: slog.New(slog.DiscardHandler)})
	if err == nil {
		err = a.Seed(ctx, 0, true)
	}
	rdb.Close()
	database.SQL(db).Close()
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+tmp+" RENAME TO "+tpl); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "ALTER DATABASE "+tpl+" IS_TEMPLATE true")
	return err
}

func dropDatabase(ctx context.Context, name string) {
	conn, err := pgx.Connect(ctx, adminURL())
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
}

func mustRedisOpts() *redis.Options {
	opt, err := redis.ParseURL(RedisURL())
	if err != nil {
		panic(err)
	}
	return opt
}

func testConfig(prefix string) config.Config {
	cfg, err := config.Load(func(k string) string {
		if k == "APP_ENV" {
			return "test"
		}
		return ""
	})
	if err != nil {
		panic(err)
	}
	cfg.RedisKeyPrefix = prefix
	cfg.DatabaseURL = pkgDB.url
	cfg.RedisURL = RedisURL()
	return cfg
}

// Clock is a settable clock for tests that need time to pass.
type Clock struct {
	mu  sync.Mutex
	now time.Time
	set bool
}

// Now returns the clock's time (the real time until Set).
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.set {
		return time.Now()
	}
	return c.now
}

// Set fixes the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now, c.set = t, true
	c.mu.Unlock()
}

// Advance moves a set clock forward (setting it to now first if needed).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	if !c.set {
		c.now, c.set = time.Now(), true
	}
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Env is one running instance of the service for a test.
type Env struct {
	DB     *gorm.DB
	Redis  *redis.Client
	App    *app.App
	Server *httptest.Server
	Clock  *Clock
	Config config.Config
	logs   *syncBuffer
}

// Option adjusts an Env before the app is built.
type Option func(*config.Config)

// WithConfig adjusts the configuration.
func WithConfig(f func(*config.Config)) Option { return Option(f) }

// SharedPrefix makes several Envs share one Redis keyspace (several
// instances of one deployment).
func SharedPrefix(prefix string) Option {
	return func(c *config.Config) { c.RedisKeyPrefix = prefix }
}

// OwnDatabase gives the Env a fresh clone of the template instead of the
// package database, dropped when the test ends (a clone takes about 0.1 s).
// It is for a test that changes district-wide state (the org tree, the
// calendar, the subsidy rules, the PII keys) or needs the seed as it was
// (exact counts, fixed usernames or codes): on the shared database it would
// change what the tests after it see, and fail its own second -count run.
// Pass the same Option to every Env of one test that must share a database.
func OwnDatabase(t testing.TB) Option {
	t.Helper()
	name, err := cloneDatabase(context.Background())
	if err != nil {
		t.Fatal("testenv:", err)
	}
	t.Cleanup(func() { dropDatabase(context.Background(), name) })
	return func(c *config.Config) { c.DatabaseURL = dbURL(name) }
}

// New starts an instance on the package database (or its OwnDatabase)
// with its own Redis prefix. Everything is closed when the test ends.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	if pkgDB.url == "" {
		t.Fatal("testenv: call testenv.Main(m) from TestMain")
	}
	ctx := context.Background()
	cfg := testConfig(fmt.Sprintf("t%d:", rand.Int64()))
	for _, o := range opts {
		o(&cfg)
	}
	db, err := database.Open(ctx, cfg.DatabaseURL, database.Options{MaxConns: cfg.DBMaxConns, StatementTimeout: cfg.DBStatementTimeout,
		ReplicaURLs: cfg.DatabaseReplicaURLs, SimpleProtocol: cfg.DatabaseSimpleProtocol})
	if err != nil {
		t.Fatal(err)
	}
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.MaxRetries = time.Second, time.Second, 0
	rdb := redis.NewClient(opt)
	logs := &syncBuffer{}
	clock := &Clock{}
	a, err := app.New(app.Deps{Config: cfg, DB: db, Redis: rdb, Now: clock.Now,
		Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	bg, stop := context.WithCancel(ctx)
	a.StartBackground(bg)
	srv := httptest.NewServer(a.Handler())
	e := &Env{DB: db, Redis: rdb, App: a, Server: srv, Clock: clock, Config: cfg, logs: logs}
	t.Cleanup(func() {
		stop()
		srv.CloseClientConnections()
		srv.Close()
		rdb.Close()
		database.SQL(db).Close()
	})
	return e
}

// Logs returns everything the instance logged so far.
func (e *Env) Logs() string { return e.logs.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}
