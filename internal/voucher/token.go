package voucher

import (
	"context"
	"crypto/rand"
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
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/problem"
)

// usedMarkerTTL is how long a consumed token answers TOKEN_USED (after
// that it is simply unknown: TOKEN_EXPIRED).
const usedMarkerTTL = 30 * time.Minute

// tokenValue is what Redis holds for a live token.
type tokenValue struct {
	ResidentID uuid.UUID `json:"r"`
	ProgramID  uuid.UUID `json:"p"`
	// ExpiresMs is the Redis expiry (real time), to restore the remaining TTL.
	ExpiresMs int64 `json:"x"`
	raw       string
}

func (s *Service) tokenKey(t string) string { return s.prefix + "voucher:token:" + t }
func (s *Service) usedKey(t string) string  { return s.prefix + "voucher:used:" + t }

// CreateToken creates a short-lived single-use redemption token: a resident
// for themself, a CLERK (district-wide) or CASE_WORKER (jurisdiction) on a
// resident's behalf.
func (s *Service) CreateToken(ctx context.Context, programID uuid.UUID, residentID *uuid.UUID) (string, time.Time, error) {
	v, err := auth.RequireViewer(ctx, auth.Resident, auth.Clerk, auth.CaseWorker)
	if err != nil {
		return "", time.Time{}, err
	}
	var rid uuid.UUID
	switch {
	case v.Has(auth.Clerk, auth.CaseWorker):
		if residentID == nil {
			return "", time.Time{}, problem.New(problem.Invalid, "residentId is required when acting on a resident's behalf", "residentId")
		}
		rid = *residentID
	case v.ResidentID == nil:
		return "", time.Time{}, problem.Forbidden("bind your resident record first")
	case residentID != nil && *residentID != *v.ResidentID:
		return "", time.Time{}, problem.Forbidden("a resident creates tokens for themself only")
	default:
		rid = *v.ResidentID
	}
	var path string
	var enrolled, programExists bool
	err = s.db.WithContext(ctx).Raw(`SELECT r.org_path,
		EXISTS (SELECT 1 FROM voucher_enrollments e WHERE e.program_id = ? AND e.resident_id = r.id),
		EXISTS (SELECT 1 FROM voucher_programs p WHERE p.id = ?)
		FROM residents r WHERE r.id = ?`, programID, programID, rid).Row().Scan(&path, &enrolled, &programExists)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, notFound("resident", "residentId")
	}
	if err != nil {
		return "", time.Time{}, database.Classify(err)
	}
	if v.Has(auth.CaseWorker) && !v.Has(auth.Clerk) && !v.Covers(path) {
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
	val, _ := json.Marshal(tokenValue{ResidentID: rid, ProgramID: programID, ExpiresMs: time.Now().Add(TokenTTL).UnixMilli()})
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if err := audit.Record(ctx, tx, "createRedemptionToken", "Resident", &rid, map[string]any{"programId": programID}); err != nil {
			return err
		}
		if err := s.rdb.Set(ctx, s.tokenKey(token), val, TokenTTL).Err(); err != nil {
			return fmt.Errorf("%w: voucher: store token: %w", problem.ErrUnavailable, err)
		}
		return nil
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return token, s.now().Add(TokenTTL), nil
}

// peekToken reads a live token without consuming it.
func (s *Service) peekToken(ctx context.Context, token string) (*tokenValue, error) {
	raw, err := s.rdb.Get(ctx, s.tokenKey(token)).Result()
	if errors.Is(err, redis.Nil) {
		used, err := s.rdb.Exists(ctx, s.usedKey(token)).Result()
		if err != nil {
			return nil, fmt.Errorf("%w: voucher: token: %w", problem.ErrUnavailable, err)
		}
		if used > 0 {
			return nil, problem.New(problem.TokenUsed, "this code was already used; ask the resident for a new one", "input", "token")
		}
		return nil, problem.New(problem.TokenExpired, "this code has expired; ask the resident for a new one", "input", "token")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: voucher: token: %w", problem.ErrUnavailable, err)
	}
	var tv tokenValue
	if err := json.Unmarshal([]byte(raw), &tv); err != nil {
		return nil, problem.New(problem.TokenExpired, "this code is not valid", "input", "token")
	}
	tv.raw = raw
	return &tv, nil
}

// consumeScript deletes the token only if it still holds the value read
// earlier, and leaves a 'used' marker: exactly one caller wins.
var consumeScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
  return 1
end
return 0`)

// restoreScript puts a consumed token back when its transaction failed.
var restoreScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')
redis.call('DEL', KEYS[2])
return 1`)

func (s *Service) consumeToken(ctx context.Context, token string, tv *tokenValue) error {
	n, err := consumeScript.Run(ctx, s.rdb, []string{s.tokenKey(token), s.usedKey(token)}, tv.raw, int(usedMarkerTTL.Seconds())).Int()
	if err != nil {
		return fmt.Errorf("%w: voucher: consume token: %w", problem.ErrUnavailable, err)
	}
	if n != 1 {
		return problem.New(problem.TokenUsed, "this code was already used; ask the resident for a new one", "input", "token")
	}
	return nil
}

func (s *Service) restoreToken(token string, tv *tokenValue) {
	left := time.Until(time.UnixMilli(tv.ExpiresMs))
	if left <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := restoreScript.Run(ctx, s.rdb, []string{s.tokenKey(token), s.usedKey(token)}, tv.raw, left.Milliseconds()).Err(); err != nil {
		s.log.Warn("voucher: could not restore a redemption token after a failed redemption", "err", err.Error())
	}
}
