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

	"github.com/google/uuid"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/graph"
	"github.com/jinjiang/residents/internal/application"
	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/clientaddr"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/disability"
	"github.com/jinjiang/residents/internal/emergency"
	"github.com/jinjiang/residents/internal/homecare"
	"github.com/jinjiang/residents/internal/notify"
	"github.com/jinjiang/residents/internal/org"
	"github.com/jinjiang/residents/internal/pii"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/proxy"
	"github.com/jinjiang/residents/internal/resident"
	"github.com/jinjiang/residents/internal/run"
	"github.com/jinjiang/residents/internal/voucher"
	"github.com/jinjiang/residents/internal/wechat"
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
	Keyring *pii.Keyring
	Auth    *auth.Service
	Org     *org.Service
	// OrgChanges tells every instance the org tree changed (cache invalidation).
	OrgChanges *org.Changes
	// Residents is the registry; Served answers "has this provider served
	// this resident" for it (the voucher domain implements it).
	Residents   *resident.Service
	Served      resident.ServedChecker
	Wechat      *wechat.Service
	Disability  *disability.Service
	Vouchers    *voucher.Service
	Homecare    *homecare.Service
	Runs        *run.Worker
	Emergency   *emergency.Service
	Application *application.Service
	// Notify delivers the notifications outbox (every instance runs it).
	Notify *notify.Dispatcher
	// Proxies keeps family proxy links: policy.ActFor's answer (a.Proxies.ActFor).
	Proxies  *proxy.Service
	Resolver *graph.Resolver
	// Revocations is the instance's one subscription to revoked sessions,
	// fanned out to its websockets; Sockets caps the websockets open per
	// session and per user across instances.
	Revocations *auth.Revocations
	Sockets     *auth.SocketLeases
	handler     http.Handler
	// clients resolves a request's client address (TRUSTED_PROXY_CIDRS).
	clients  clientaddr.Resolver
	draining atomic.Bool
	metrics  *metrics
	// closing ends when the app drains: long-lived websocket connections
	// derive from it so they get a close frame before the process exits.
	closing     context.Context
	stopClosing context.CancelFunc
}

// socketLeaseTTL is how long a websocket still counts against the caps
// after its instance stopped refreshing it (it died): sockets refresh every
// third of it.
const socketLeaseTTL = time.Minute

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
	a.closing, a.stopClosing = context.WithCancel(context.Background())
	cfg := d.Config
	tokens := auth.NewTokens(cfg.JWTSigningKey, cfg.AccessTokenTTL, d.Now)
	sessions := auth.NewSessions(d.Redis, cfg.RedisKeyPrefix, cfg.RefreshTokenTTL)
	a.clients = clientaddr.New(cfg.TrustedProxies)
	logins := auth.NewLoginGuard(d.Redis, cfg.RedisKeyPrefix+"throttle:", auth.DefaultLoginLimits(cfg.LoginRatePerMinute))
	hashes := auth.NewHashPool(cfg.LoginHashConcurrency, auth.HashWait)
	a.Auth = auth.NewService(d.DB, tokens, sessions, logins, hashes, cfg.RefreshTokenTTL, d.Now)
	a.Revocations = auth.NewRevocations(d.Redis, sessions, d.Log)
	a.Sockets = auth.NewSocketLeases(d.Redis, cfg.RedisKeyPrefix, cfg.WSMaxPerSession, cfg.WSMaxPerUser, socketLeaseTTL)
	a.Auth.Audit = audit.AuthHook
	// The auth service asks the policy through these (auth may not import it).
	may := func(act policy.Action) func(*auth.Viewer) bool {
		return func(v *auth.Viewer) bool { return policy.Allowed(v, act) }
	}
	a.Auth.MayManageStaff = may(policy.ManageStaff)
	a.Auth.MayReadStaff = may(policy.ReadStaff)
	a.Auth.MayChangeOwnPassword = may(policy.ChangeOwnPassword)
	a.Auth.MayResetPassword = may(policy.ResetPassword)
	// throttle is a limit per key under the shared throttle: prefix.
	throttle := func(limit int64, window time.Duration) *auth.Throttle {
		return auth.NewThrottle(d.Redis, cfg.RedisKeyPrefix+"throttle:", limit, window)
	}
	a.Org = org.NewService(d.DB, d.Now)
	a.OrgChanges = org.NewChanges(d.Redis, cfg.RedisKeyPrefix, d.Log)
	// An org-tree edit rewrites the paths every domain copies (one
	// statement per table, in its transaction); once committed, every
	// instance drops its cached units and the sessions of staff in the
	// moved subtree get their new path.
	a.Org.SetCopiers(resident.Occupancy, func(ctx context.Context, prefix string) {
		a.Resolver.ForgetOrgUnits()
		a.OrgChanges.Publish(ctx)
		if err := a.Auth.RefreshJurisdictions(ctx, prefix); err != nil {
			d.Log.ErrorContext(ctx, "staff sessions not moved with the org tree; they take the new path at their next login",
				"request_id", auth.RequestID(ctx), "err", err.Error())
		}
	}, resident.OrgMoves{}, emergency.OrgMoves{}, application.OrgMoves{})
	// Bulk runs (issuance, enrollment): every instance's worker claims
	// runs whose lease lapsed (StartBackground).
	a.Runs = run.NewWorker(d.DB, run.Options{Lease: cfg.RunLease, Log: d.Log})
	a.Org.SetRuns(a.Runs)
	a.Vouchers = voucher.NewService(d.DB, d.Redis, cfg.RedisKeyPrefix, d.Now, a.Auth, d.Log, a.Runs, cfg.RunChunkSize)
	// Providers see the residents they have served (a redemption).
	a.Disability = disability.NewService(d.DB, keyring, d.Now)
	a.Served = resident.AnyServed{a.Vouchers, a.Disability}
	binds := resident.BindLimits{
		PerAccount: throttle(5, 15*time.Minute),
		PerClient:  throttle(resident.BindClientLimit, resident.BindClientWindow),
		PerCode:    throttle(resident.CodeLimit, resident.CodeWindow),
	}
	// Look-ups by full ID number, per staff user: a burst and a daily window.
	lookups := []*auth.Throttle{
		auth.NewThrottle(d.Redis, cfg.RedisKeyPrefix+"throttle:burst:", resident.LookupBurstLimit, resident.LookupBurstWindow),
		auth.NewThrottle(d.Redis, cfg.RedisKeyPrefix+"throttle:daily:", resident.LookupDailyLimit, resident.LookupDailyWindow),
	}
	a.Residents = resident.NewService(d.DB, keyring, d.Now, a.Served, a.Auth, binds, lookups...)
	a.Residents.SetMaxBindings(cfg.WechatMaxBindings)
	a.Residents.SetRuns(a.Runs, cfg.RunChunkSize)
	a.Wechat = wechat.NewService(d.DB, d.Redis, cfg.RedisKeyPrefix, wechat.NewClient(cfg.WechatAPIBase, cfg.WechatAppID, cfg.WechatAppSecret), a.Auth,
		wechat.Limits{
			PerClient: throttle(wechat.ClientLimit, wechat.ClientWindow),
			Overall:   throttle(cfg.WechatLoginRatePerMinute, time.Minute),
		})
	// Calls operators take in by hand, per operator and hour.
	manual := throttle(int64(cfg.ManualIntakePerHour), emergency.ManualIntakeWindow)
	a.Emergency = emergency.NewService(d.DB, keyring, d.Redis, cfg.RedisKeyPrefix, d.Now, d.Log, manual)
	// Call-back: full numbers from the registry, revealed at most
	// EMERGENCY_REVEALS_PER_HOUR per operator, outbound calls to the
	// telephony webhook.
	a.Emergency.SetAlarmCenter(emergency.AlarmCenter{
		Numbers: a.Residents,
		Reveals: throttle(int64(cfg.RevealsPerHour), emergency.RevealWindow),
		Webhook: emergency.Webhook{URL: cfg.TelephonyWebhookURL, Secret: []byte(cfg.TelephonyWebhookSecret)},
	})
	// Approving an application for a linked item enrolls the applicant.
	a.Application = application.NewService(d.DB, a.Org, d.Now, a.Vouchers)
	// Home-care visits pay through the voucher engine; a month with held
	// or disputed visits cannot be confirmed.
	a.Homecare = homecare.NewService(d.DB, d.Now, a.Auth, a.Vouchers, hashes)
	a.Vouchers.SetSettlementHold(a.Homecare.Hold)
	a.Application.SetRuns(a.Runs, cfg.RunChunkSize)
	// Imports of residents are runs too (POST /imports/residents).
	a.Residents.SetRuns(a.Runs, cfg.RunChunkSize)
	a.Application.SetNoticeFont(cfg.NoticeFontPath)
	// A notice names the applicant as the downloader may read them.
	a.Application.SetApplicantNamer(func(ctx context.Context, id uuid.UUID) string {
		if r, err := a.Residents.Get(ctx, id); err == nil && r != nil {
			return r.Name
		}
		return ""
	})
	// Invitation codes are tried under the binding throttles (keys of
	// their own): per account, per client address, per code.
	a.Proxies = proxy.NewService(d.DB, d.Now, proxy.Limits{PerAccount: binds.PerAccount, PerClient: binds.PerClient, PerCode: binds.PerCode})
	// A family proxy acts for the resident within its link's scopes
	// (policy.ActFor): SPEND confirms and disputes visits and creates
	// redemption tokens, VIEW reads the record and vouchers, APPLY
	// submits applications.
	a.Homecare.SetProxies(a.Proxies)
	// One-time visit codes go by SMS: without a gateway none is made.
	a.Homecare.SetSMS(cfg.SMSAPIBase != "")
	a.Vouchers.SetProxies(a.Proxies)
	a.Residents.SetProxies(a.Proxies)
	a.Application.SetProxies(a.Proxies)
	templates, err := notify.ParseTemplates(cfg.WechatTemplates)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	a.Notify = notify.NewDispatcher(d.DB,
		notify.NewWechatSender(cfg.WechatAPIBase, cfg.WechatAppID, cfg.WechatAppSecret, d.Redis, cfg.RedisKeyPrefix),
		notify.NewSMSSender(cfg.SMSAPIBase, cfg.SMSAPIKey), templates, a.Residents, d.Now, d.Log,
		notify.Options{Poll: cfg.NotifyPoll})
	// A death or a move out closes, in its own transaction, what each
	// domain holds for the resident (resident.Consequence); the registry
	// then tells the family (proxies, bound accounts) in that transaction.
	for _, c := range []resident.Consequence{a.Vouchers.LifeEvents(), disability.LifeEvents{}, application.LifeEvents{}, emergency.LifeEvents{}, homecare.LifeEvents{}} {
		a.Residents.AddLifeEventConsequence(c)
	}
	a.Resolver = &graph.Resolver{
		Log:   d.Log,
		Auth:  a.Auth,
		Org:   a.Org,
		Audit: audit.NewLog(d.DB),

		Registry:           a.Residents,
		Wechat:             a.Wechat,
		Disability:         a.Disability,
		Vouchers:           a.Vouchers,
		Emergency:          a.Emergency,
		ApplicationService: a.Application,
		Homecare:           a.Homecare,
		ProxyLinks:         a.Proxies,
		Inbox:              notify.NewInbox(d.DB, d.Now, templates),
	}
	a.metrics = newMetrics(d.Registry, d.DB)
	a.handler = a.routes()
	return a, nil
}

// Handler is the whole HTTP surface: /graphql, /healthz, /readyz, and
// /metrics outside production (MetricsHandler serves it on METRICS_ADDR's
// own listener).
func (a *App) Handler() http.Handler { return a.handler }

// Drain makes /readyz answer 503 so load balancers stop sending traffic
// before the server shuts down.
// It also closes every websocket with a close frame.
func (a *App) Drain() {
	a.draining.Store(true)
	a.stopClosing()
}
