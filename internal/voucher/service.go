package voucher

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/run"
)

// DefaultChunk is how many residents one chunk of a run goes through.
const DefaultChunk = 10000

// TokenTTL is how long a redemption token stays usable.
const TokenTTL = 5 * time.Minute

// ReversalWindow is how long a provider may reverse its own redemption.
const ReversalWindow = 7 * 24 * time.Hour

// Users creates the first user of a provider inside the registering
// transaction (auth.Service satisfies it).
type Users interface {
	CreateUserTx(ctx context.Context, tx *gorm.DB, in auth.NewUser) (*auth.User, error)
}

// Service holds the voucher rules and is the authorization source of truth
// for everything voucher-related.
type Service struct {
	db     *gorm.DB
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
	users  Users
	log    *slog.Logger
	runs   *run.Worker
	// hold is asked before a month is confirmed (visits held for review
	// or disputed: internal/homecare); nil holds nothing.
	hold SettlementHold
	// maxTokenValidity bounds TokenOptions.Validity (DefaultMaxTokenValidity when 0).
	maxTokenValidity time.Duration
	// proxies answers policy.ActFor for family proxies (internal/proxy).
	proxies policy.ProxyLinks
}

// SetProxies installs the family proxy links: a proxy with VIEW reads the
// resident's vouchers, one with SPEND creates its redemption tokens.
func (s *Service) SetProxies(p policy.ProxyLinks) { s.proxies = p }

// scopeFor is the scope of action a over the residents ids for v: its
// role's (policy.ScopeOf), and for a mini-program account also the
// residents among ids it acts for as a family proxy (policy.ActForAction,
// the scope a needs), which a request names one or two of.
func (s *Service) scopeFor(ctx context.Context, v *auth.Viewer, a policy.Action, ids []uuid.UUID, col string, q *gorm.DB) (*gorm.DB, error) {
	sc := policy.ScopeOf(v, a)
	if v == nil || v.Kind != auth.SubjectWechat {
		return residentScope(q, sc, col), nil
	}
	allowed := make([]uuid.UUID, 0, len(ids))
	for _, id := range ids {
		if policy.IsSelf(v, id) && sc.Covers(id, "") {
			allowed = append(allowed, id)
			continue
		}
		if _, err := policy.ActForAction(ctx, s.proxies, a, id); err == nil {
			allowed = append(allowed, id)
		} else if !errors.Is(err, problem.ErrForbidden) {
			return nil, err
		}
	}
	return q.Where(col+" = ANY(?)", database.UUIDs(allowed)), nil
}

// NewService builds the service. prefix is the app's Redis key prefix;
// runs is the worker that drives its bulk runs (issuance, enrollment), in
// chunks of chunk residents: the service registers its handlers there.
func NewService(db *gorm.DB, rdb redis.UniversalClient, prefix string, now func() time.Time, users Users, log *slog.Logger,
	runs *run.Worker, chunk int) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if chunk <= 0 {
		chunk = DefaultChunk
	}
	s := &Service{db: db, rdb: rdb, prefix: prefix, now: now, users: users, log: log, runs: runs}
	runs.Handle(run.IssueVouchers, issuer{s: s, chunk: chunk})
	runs.Handle(run.EnrollResidents, enroller{s: s, chunk: chunk})
	return s
}

func (s *Service) today() civil.Date { return civil.DateOf(s.now()) }

// residentScope filters a query to the rows whose residentCol lies in sc
// (a provider's own scope matches no resident here: its callers filter by
// provider instead).
func residentScope(q *gorm.DB, sc policy.Scope, residentCol string) *gorm.DB {
	if sc.All() {
		return q
	}
	where, args := sc.Where("", residentCol)
	return q.Where(where, args...)
}

// redemptionScope filters a redemptions query to what v may read: its own
// provider's, or those of residents in its scope.
func redemptionScope(q *gorm.DB, v *auth.Viewer) *gorm.DB {
	sc := policy.ScopeOf(v, policy.ReadRedemptions)
	if sc.Reach == policy.Own {
		return q.Where("provider_id = ?", sc.ProviderID)
	}
	return residentScope(q, sc, "resident_id")
}

func notFound(what string, field ...string) error {
	return problem.New(problem.NotFound, what+" not found", field...)
}

func newID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// forNoKeyUpdate locks a row against concurrent writers without blocking
// foreign-key checks of rows that reference it.
var forNoKeyUpdate = clause.Locking{Strength: "NO KEY UPDATE"}
