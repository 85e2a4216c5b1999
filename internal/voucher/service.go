package voucher

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/problem"
)

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
}

// NewService builds the service. prefix is the app's Redis key prefix.
func NewService(db *gorm.DB, rdb redis.UniversalClient, prefix string, now func() time.Time, users Users, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{db: db, rdb: rdb, prefix: prefix, now: now, users: users, log: log}
}

func (s *Service) today() civil.Date { return civil.DateOf(s.now()) }

// staffRoles read voucher data of residents (with jurisdiction for case workers).
var staffRoles = []auth.Role{auth.Admin, auth.Auditor, auth.Clerk, auth.CaseWorker, auth.Operator}

// residentScope filters a query on table alias t (with resident_id) to the
// residents the viewer may see; providers see none here.
func residentScope(q *gorm.DB, v *auth.Viewer, residentCol string) *gorm.DB {
	switch {
	case v.Has(auth.Admin, auth.Auditor, auth.Clerk, auth.Operator):
		return q
	case v.Has(auth.CaseWorker) && v.OrgPath != "":
		return q.Where(residentCol+" IN (SELECT id FROM resident_facts WHERE org_path LIKE ?)", v.OrgPath+"%")
	case v.Has(auth.Resident) && v.ResidentID != nil:
		return q.Where(residentCol+" = ?", *v.ResidentID)
	}
	return q.Where("false")
}

func notFound(what string, field ...string) error {
	return problem.New(problem.NotFound, what+" not found", field...)
}

func newID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// forNoKeyUpdate locks a row against concurrent writers without blocking
// foreign-key checks of rows that reference it.
var forNoKeyUpdate = clause.Locking{Strength: "NO KEY UPDATE"}
