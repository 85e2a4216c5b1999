package homecare

import (
	"context"
	"math"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/voucher"
)

// Users is what the domain needs of internal/auth: care-worker accounts.
type Users interface {
	CreateUserTx(ctx context.Context, tx *gorm.DB, in auth.NewUser) (*auth.User, error)
	UpdateUserTx(ctx context.Context, tx *gorm.DB, id uuid.UUID, displayName *string, active *bool) (*auth.User, error)
	UserTx(ctx context.Context, tx *gorm.DB, id uuid.UUID) (*auth.User, error)
	ProviderUsers(ctx context.Context, providerID uuid.UUID, role auth.Role) ([]*auth.User, error)
	UsersByIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*auth.User, error)
}

// Payments is what the domain needs of internal/voucher: a visit paid, and
// a paid visit reversed, inside the caller's transaction.
type Payments interface {
	RedeemVisitTx(ctx context.Context, tx *gorm.DB, in voucher.VisitPayment) (*voucher.Redemption, error)
	ReverseVisitTx(ctx context.Context, tx *gorm.DB, redemptionID uuid.UUID, reason string) error
}

// Thresholds are the anomaly rules' limits.
type Thresholds struct {
	// FarMeters: a check-in or card confirmation farther than this from
	// the recorded home (plus the phone's reported accuracy, up to
	// MaxAccuracyMeters) is flagged.
	FarMeters         float64
	MaxAccuracyMeters float64
	// DailyVisits caps one resident's visits in a day when the program
	// sets no DAY cap for the category.
	DailyVisits int
}

// DefaultThresholds are the rules' limits unless the app sets others.
var DefaultThresholds = Thresholds{FarMeters: 200, MaxAccuracyMeters: 100, DailyVisits: 3}

// DisputeWindow is how long after payment a resident may dispute a visit.
const DisputeWindow = 30 * 24 * time.Hour

// Service is the home-care domain.
type Service struct {
	db       *gorm.DB
	now      func() time.Time
	users    Users
	payments Payments
	hashes   *auth.HashPool
	limits   Thresholds
	proxies  policy.ProxyLinks
	// sms: whether SMS are sent (SMS_API_BASE set), for one-time codes.
	sms bool
}

// NewService builds the service. hashes is the app's argon2id pool: PINs
// hashed at the password parameters (before pin.go's lighter ones) are
// verified in it like passwords.
func NewService(db *gorm.DB, now func() time.Time, users Users, payments Payments, hashes *auth.HashPool) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, now: now, users: users, payments: payments, hashes: hashes, limits: DefaultThresholds}
}

// SetProxies wires family proxies (internal/proxy) into mayConfirmFor.
func (s *Service) SetProxies(p policy.ProxyLinks) { s.proxies = p }

func (s *Service) today() civil.Date { return civil.DateOf(s.now()) }

func newID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// distanceMeters is the great-circle distance between two points
// (haversine on a 6,371 km sphere: within 0.5% of the ellipsoid, plenty
// for "was the phone at the home").
func distanceMeters(lat1, lng1, lat2, lng2 float64) float64 {
	const r = 6371000.0
	rad := math.Pi / 180
	dLat, dLng := (lat2-lat1)*rad, (lng2-lng1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// ageOn is the age in whole years on day d of someone born on b.
func ageOn(b time.Time, d civil.Date) int {
	age := d.Year - b.Year()
	if int(d.Month) < int(b.Month()) || (int(d.Month) == int(b.Month()) && d.Day < b.Day()) {
		age--
	}
	return age
}
