package wechat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// usedCodeTTL is how long a used code is remembered; WeChat codes live five
// minutes.
const usedCodeTTL = 10 * time.Minute

// Service signs WeChat users in.
type Service struct {
	db     *gorm.DB
	rdb    redis.UniversalClient
	prefix string
	client *Client
	auth   *auth.Service
	limits Limits
}

// Limits throttle wechatLogin before WeChat is asked: every anonymous
// attempt would otherwise spend the mini-program's code2Session quota, and
// with it exhausted no resident can sign in. Each attempt counts, whatever
// its outcome (a sign-in is rare: the refresh token lasts 30 days).
type Limits struct {
	// PerClient counts attempts per client address (auth.ClientKey). It is
	// generous: mobile carriers put many residents behind one address.
	PerClient *auth.Throttle
	// Overall counts every attempt of every instance (WECHAT_LOGIN_RATE
	// per minute).
	Overall *auth.Throttle
}

// Per-client wechatLogin limit.
const (
	ClientLimit  = 30
	ClientWindow = 10 * time.Minute
)

// NewService wires wechatLogin.
func NewService(db *gorm.DB, rdb redis.UniversalClient, prefix string, client *Client, a *auth.Service, limits Limits) *Service {
	return &Service{db: db, rdb: rdb, prefix: prefix, client: client, auth: a, limits: limits}
}

var (
	errClientLimited  = problem.New(problem.TooManyAttempts, "本地址微信登录过于频繁，请稍后再试 (too many WeChat sign-ins from this address; try again later)")
	errOverallLimited = problem.New(problem.TooManyAttempts, "微信登录请求过多，请稍后再试 (too many WeChat sign-ins right now; try again in a minute)")
)

// admit counts the attempt against the overall and per-client limits.
func (s *Service) admit(ctx context.Context) error {
	if err := s.limits.Overall.Take(ctx, "wechat:all", errOverallLimited); err != nil {
		return err
	}
	return s.limits.PerClient.Take(ctx, "wechat:client:"+auth.ClientKey(ctx), errClientLimited)
}

type accountRow struct {
	ID         uuid.UUID
	ResidentID *uuid.UUID
}

// Login exchanges a wx.login code, upserts the WeChat account by openid and
// starts a RESIDENT session. Attempts are limited per client address and
// overall before anything else (Limits); a code is accepted once: a replay
// is INVALID_CREDENTIALS even before WeChat is asked.
func (s *Service) Login(ctx context.Context, code string) (*auth.Grant, error) {
	if code == "" || len(code) > 128 {
		return nil, errInvalid
	}
	if err := s.admit(ctx); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(code))
	key := s.prefix + "wxcode:" + hex.EncodeToString(sum[:])
	fresh, err := s.rdb.SetNX(ctx, key, 1, usedCodeTTL).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: redis", problem.ErrUnavailable)
	}
	if !fresh {
		return nil, errInvalid
	}
	id, err := s.client.Exchange(ctx, code)
	if err != nil {
		if Unavailable(err) {
			// WeChat never saw the code used: let the client retry it.
			s.rdb.Del(context.WithoutCancel(ctx), key)
		}
		return nil, err
	}
	var g *auth.Grant
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		var acc accountRow
		var union *string
		if id.UnionID != "" {
			union = &id.UnionID
		}
		err := tx.WithContext(ctx).Raw(`INSERT INTO wechat_accounts (id, openid, unionid) VALUES (?, ?, ?)
			ON CONFLICT (openid) DO UPDATE SET unionid = COALESCE(EXCLUDED.unionid, wechat_accounts.unionid)
			RETURNING id, resident_id`, uuid.Must(uuid.NewV7()), id.OpenID, union).Scan(&acc).Error
		if err != nil {
			return err
		}
		v := auth.WechatViewer(acc.ID, acc.ResidentID)
		if g, err = s.auth.StartSession(ctx, tx, v); err != nil {
			return err
		}
		return audit.Record(auth.WithViewer(ctx, v), tx, audit.ActionWechatLogin, audit.EntityWechatAccount, &acc.ID, nil)
	})
	if err != nil {
		return nil, database.Classify(fmt.Errorf("wechat: login: %w", err))
	}
	return g, nil
}
