package voucher

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// usedMarkerTTL is how long a consumed token answers TOKEN_USED (after
// that it is simply unknown: TOKEN_EXPIRED).
const usedMarkerTTL = 30 * time.Minute

// tokenValue is what Redis holds for a live token (Redis expires it).
type tokenValue struct {
	ResidentID uuid.UUID `json:"r"`
	ProgramID  uuid.UUID `json:"p"`
	// MaxFen is the most one redemption with the token may charge.
	MaxFen *int64 `json:"m,omitempty"`
	// Expires is when the token lapses (Unix seconds; 0 in tokens made
	// before it was stored, whose Redis TTL says it).
	Expires int64 `json:"e,omitempty"`
}

// TokenOptions are createRedemptionToken's optional bounds.
type TokenOptions struct {
	// Validity is how long the token lasts: TokenTTL when zero, at most the
	// service's MaxTokenValidity.
	Validity time.Duration
	// MaxFen bounds the amount of the one redemption the token allows.
	MaxFen *int64
}

// DefaultMaxTokenValidity is the longest validity a token may be given
// unless the configuration says otherwise (REDEMPTION_TOKEN_MAX_VALIDITY).
const DefaultMaxTokenValidity = 8 * time.Hour

// SetMaxTokenValidity sets the longest validity createRedemptionToken may
// ask for.
func (s *Service) SetMaxTokenValidity(d time.Duration) {
	if d >= TokenTTL {
		s.maxTokenValidity = d
	}
}

// usedValue replaces a token's value in Redis once it was used: one key per
// token, so retiring it is one SET and reading it one GET.
const usedValue = "used"

func (s *Service) tokenKey(t string) string { return s.prefix + "voucher:token:" + t }

// CreateToken creates a short-lived single-use redemption token: a resident
// for themself, a family proxy with SPEND for the resident it acts for
// (policy.ActForAction), a CLERK (district-wide) or CASE_WORKER
// (jurisdiction) on a resident's behalf.
func (s *Service) CreateToken(ctx context.Context, programID uuid.UUID, residentID *uuid.UUID, opt TokenOptions) (string, time.Time, error) {
	v, err := policy.Require(ctx, policy.CreateRedemptionToken)
	if err != nil {
		return "", time.Time{}, err
	}
	ttl := TokenTTL
	if opt.Validity != 0 {
		maxValidity := s.maxTokenValidity
		if maxValidity == 0 {
			maxValidity = DefaultMaxTokenValidity
		}
		if opt.Validity < time.Minute || opt.Validity > maxValidity {
			return "", time.Time{}, problem.New(problem.Invalid, fmt.Sprintf(
				"有效期须为 1 至 %[1]d 分钟 (validMinutes must be between 1 and %[1]d)", int(maxValidity/time.Minute)), "validMinutes")
		}
		ttl = opt.Validity
	}
	if opt.MaxFen != nil && *opt.MaxFen <= 0 {
		return "", time.Time{}, problem.New(problem.Invalid, "amount must be positive", "maxAmountFen")
	}
	onBehalf := policy.ReachOf(v, policy.CreateRedemptionToken) > policy.Self
	var rid uuid.UUID
	var acting *policy.Acting
	switch {
	case onBehalf:
		if residentID == nil {
			return "", time.Time{}, problem.New(problem.Invalid, "residentId is required when acting on a resident's behalf", "residentId")
		}
		rid = *residentID
	case residentID != nil && policy.MayProxy(v, *residentID):
		// A family proxy spends for the elder (SPEND): the one check, and
		// the token is the elder's, its audit entry names both.
		a, err := policy.ActForAction(ctx, s.proxies, policy.CreateRedemptionToken, *residentID)
		if err != nil {
			return "", time.Time{}, err
		}
		rid, acting = *residentID, &a
	case v.ResidentID == nil:
		return "", time.Time{}, problem.Forbidden("bind your resident record first")
	default:
		rid = *v.ResidentID
	}
	var path string
	var enrolled, programExists bool
	err = s.db.WithContext(ctx).Raw(`SELECT r.org_path,
		EXISTS (SELECT 1 FROM voucher_enrollments e WHERE e.program_id = ? AND e.resident_id = r.id),
		EXISTS (SELECT 1 FROM voucher_programs p WHERE p.id = ?)
		FROM resident_facts r WHERE r.id = ?`, programID, programID, rid).Row().Scan(&path, &enrolled, &programExists)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, notFound("resident", "residentId")
	}
	if err != nil {
		return "", time.Time{}, database.Classify(err)
	}
	if ok, _ := policy.On(v, policy.CreateRedemptionToken, policy.Subject{ID: rid, OrgPath: path}); !ok && acting == nil {
		return "", time.Time{}, problem.Forbidden("outside your jurisdiction")
	}
	if !programExists {
		return "", time.Time{}, notFound("program", "programId")
	}
	if !enrolled {
		return "", time.Time{}, problem.New(problem.NotEligible, "the resident is not enrolled in this program", "programId")
	}
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("voucher: token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	expires := s.now().Add(ttl)
	val, _ := json.Marshal(tokenValue{ResidentID: rid, ProgramID: programID, MaxFen: opt.MaxFen, Expires: expires.Unix()})
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		detail := map[string]any{"programId": programID, "validSeconds": int(ttl / time.Second)}
		if opt.MaxFen != nil {
			detail["maxAmountFen"] = *opt.MaxFen
		}
		if acting != nil {
			detail = acting.Detail(detail)
		}
		if err := audit.Record(ctx, tx, audit.ActionCreateRedemptionToken, audit.EntityResident, &rid, detail); err != nil {
			return err
		}
		if err := s.rdb.Set(ctx, s.tokenKey(token), val, ttl).Err(); err != nil {
			return fmt.Errorf("%w: voucher: store token: %w", problem.ErrUnavailable, err)
		}
		return nil
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return token, expires, nil
}

// peekToken reads a live token without consuming it: consumption is the
// redemption's own insert (see Redeem).
func (s *Service) peekToken(ctx context.Context, token string) (*tokenValue, error) {
	raw, err := s.rdb.Get(ctx, s.tokenKey(token)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, problem.New(problem.TokenExpired, "this code has expired; ask the resident for a new one", "input", "token")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: voucher: token: %w", problem.ErrUnavailable, err)
	}
	if raw == usedValue {
		return nil, problem.New(problem.TokenUsed, "this code was already used; ask the resident for a new one", "input", "token")
	}
	var tv tokenValue
	if err := json.Unmarshal([]byte(raw), &tv); err != nil {
		return nil, problem.New(problem.TokenExpired, "this code is not valid", "input", "token")
	}
	return &tv, nil
}

// tokenHash is what a redemption stores of its token: the token itself is a
// bearer secret and never reaches the database.
func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// markUsed runs after the redemption committed: it replaces the live token
// by a 'used' marker (for usedMarkerTTL) so a second use is answered
// TOKEN_USED without a statement. Best effort: if it fails (or the process
// dies first), the unique token hash on the committed redemption still
// refuses the token.
func (s *Service) markUsed(token string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.rdb.Set(ctx, s.tokenKey(token), usedValue, usedMarkerTTL).Err(); err != nil {
		s.log.Warn("voucher: could not retire a used redemption token in Redis", "err", err.Error())
	}
}
