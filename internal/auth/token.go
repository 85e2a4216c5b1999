package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"
)

// Token issuer and audience: the parser requires both.
const (
	Issuer   = "jinjiang-residents"
	Audience = "residents-api"
)

// ErrBadToken is any access token that does not verify.
var ErrBadToken = errors.New("invalid access token")

type accessClaims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
	Kind      string `json:"knd"`
}

// Tokens signs and verifies access tokens (HS256 JWTs).
type Tokens struct {
	key    []byte
	ttl    time.Duration
	now    func() time.Time
	parser *jwt.Parser
	// verified maps a token that verified to what it says, so a client's
	// every request does not decode its claims and check its signature
	// again (a tenth of the server's CPU on resident(id)). Keyed by the
	// token's exact bytes, so only a token that verified can hit; its
	// expiry is checked on every use.
	verified *lru.Cache[string, verifiedToken]
}

type verifiedToken struct {
	kind             SubjectKind
	subject, session uuid.UUID
	expires          time.Time
}

// verifiedTokens bounds the cache: more access tokens than one instance
// sees used in a token lifetime (about 400 bytes each).
const verifiedTokens = 20_000

// leeway is the clock skew allowed on exp, nbf and iat.
const leeway = 5 * time.Second

// NewTokens returns a signer/verifier. The parser pins HS256 and requires
// exp, iss and aud, so "alg":"none", RS/HS confusion and tokens minted for
// another audience are all refused.
func NewTokens(key []byte, ttl time.Duration, now func() time.Time) *Tokens {
	verified, _ := lru.New[string, verifiedToken](verifiedTokens)
	return &Tokens{
		key: key, ttl: ttl, now: now, verified: verified,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuer(Issuer),
			jwt.WithAudience(Audience),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(leeway),
			jwt.WithTimeFunc(now),
		),
	}
}

// Issue signs an access token for the session and returns it with its expiry.
func (t *Tokens) Issue(kind SubjectKind, subject, session uuid.UUID) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(t.ttl)
	claims := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   subject.String(),
			Audience:  jwt.ClaimStrings{Audience},
			ExpiresAt: jwt.NewNumericDate(exp),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        uuid.NewString(),
		},
		SessionID: session.String(),
		Kind:      string(kind),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: sign: %w", err)
	}
	return s, exp, nil
}

// Parse verifies an access token and returns its subject and session.
// The session it names must still be checked: revocation lives there.
func (t *Tokens) Parse(raw string) (kind SubjectKind, subject, session uuid.UUID, err error) {
	if v, ok := t.verified.Get(raw); ok {
		// It verified before, so iat and nbf were in the past then and
		// still are; only exp can have passed since (the parser's rule:
		// expired once now - leeway is after exp).
		if t.now().Add(-leeway).After(v.expires) {
			t.verified.Remove(raw)
			return "", uuid.Nil, uuid.Nil, ErrBadToken
		}
		return v.kind, v.subject, v.session, nil
	}
	var c accessClaims
	tok, err := t.parser.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return t.key, nil })
	if err != nil || !tok.Valid || c.ExpiresAt == nil {
		return "", uuid.Nil, uuid.Nil, ErrBadToken
	}
	subject, err1 := uuid.Parse(c.Subject)
	session, err2 := uuid.Parse(c.SessionID)
	kind = SubjectKind(c.Kind)
	if err1 != nil || err2 != nil || (kind != SubjectUser && kind != SubjectWechat) {
		return "", uuid.Nil, uuid.Nil, ErrBadToken
	}
	t.verified.Add(raw, verifiedToken{kind: kind, subject: subject, session: session, expires: c.ExpiresAt.Time})
	return kind, subject, session, nil
}

// newRefreshToken returns an opaque refresh token and the hash that is stored.
func newRefreshToken() (token string, hash []byte) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	token = "rt_" + base64.RawURLEncoding.EncodeToString(b)
	return token, hashRefresh(token)
}

func hashRefresh(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Expiry returns the expiry of a token that verifies.
func (t *Tokens) Expiry(raw string) (time.Time, error) {
	var c accessClaims
	tok, err := t.parser.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return t.key, nil })
	if err != nil || !tok.Valid || c.ExpiresAt == nil {
		return time.Time{}, ErrBadToken
	}
	return c.ExpiresAt.Time, nil
}
