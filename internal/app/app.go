// Package app wires the services, the GraphQL handler and the HTTP routes
// into one http.Handler. server.go and the tests build the service through
// it, so both run exactly the same stack.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/graph"
	"github.com/jinjiang/residents/internal/application"
	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/org"
	"github.com/jinjiang/residents/internal/pii"
)

// Deps are the connections the app runs on.
type Deps struct {
	Config config.Config
	DB     *gorm.DB
	Redis  redis.UniversalClient
	Log    *slog.Logger
	// Now is the clock (tests control it); defaults to time.Now.
	Now func() time.Time
	// Registry receives the metrics; a fresh one per App when nil.
	Registry *prometheus.Registry
}

// App is one running instance of the service.
type App struct {
	Deps
	Keyring     *pii.Keyring
	Auth        *auth.Service
	Org         *org.Service
	Application *application.Service
	Resolver    *graph.Resolver
	handler     http.Handler
	draining    atomic.Bool
	metrics     *metrics
}

// New builds the app.
func New(d Deps) (*App, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	keys, err := pii.ParseKeys(d.Config.PIIEncryptionKeys)
	if err != nil {
		return nil, fmt.Errorf("app: PII_ENCRYPTION_KEYS: %w", err)
	}
	keyring, err := pii.NewKeyring(keys, d.Config.PIIIndexKey)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	a := &App{Deps: d, Keyring: keyring}
	cfg := d.Config
	tokens := auth.NewTokens(cfg.JWTSigningKey, cfg.AccessTokenTTL, d.Now)
	sessions := auth.NewSessions(d.Redis, cfg.RedisKeyPrefix, cfg.RefreshTokenTTL)
	logins := auth.NewThrottle(d.Redis, cfg.RedisKeyPrefix+"throttle:", 5, 15*time.Minute)
	a.Auth = auth.NewService(d.DB, tokens, sessions, logins, cfg.RefreshTokenTTL, d.Now)
	a.Auth.Audit = func(ctx context.Context, tx *gorm.DB, action, entity string, id *uuidT) error {
		return audit.Record(ctx, tx, action, entity, id, nil)
	}
	a.Org = org.NewService(d.DB)
	a.Application = application.NewService(d.DB, a.Org, d.Now, application.NoEnroller{}) // TODO(merge): the voucher service
	a.Resolver = &graph.Resolver{
		Log:                d.Log,
		Auth:               a.Auth,
		Org:                a.Org,
		Audit:              audit.NewLog(d.DB),
		ApplicationService: a.Application,
	}
	a.metrics = newMetrics(d.Registry, d.DB)
	a.handler = a.routes()
	return a, nil
}

// Handler is the whole HTTP surface: /graphql, /healthz, /readyz, /metrics.
func (a *App) Handler() http.Handler { return a.handler }

// Drain makes /readyz answer 503 so load balancers stop sending traffic
// before the server shuts down.
func (a *App) Drain() { a.draining.Store(true) }
