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
}

// NewTokens returns a signer/verifier. The parser pins HS256 and requires
// exp, iss and aud, so "alg":"none", RS/HS confusion and tokens minted for
// another audience are all refused.
func NewTokens(key []byte, ttl time.Duration, now func() time.Time) *Tokens {
	return &Tokens{
		key: key, ttl: ttl, now: now,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuer(Issuer),
			jwt.WithAudience(Audience),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(5*time.Second),
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
func (t *Tokens) Parse(raw string) (kind SubjectKind, subject, session uuid.UUID, err error) {
	var c accessClaims
	tok, err := t.parser.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return t.key, nil })
	if err != nil || !tok.Valid {
		return "", uuid.Nil, uuid.Nil, ErrBadToken
	}
	subject, err1 := uuid.Parse(c.Subject)
	session, err2 := uuid.Parse(c.SessionID)
	kind = SubjectKind(c.Kind)
	if err1 != nil || err2 != nil || (kind != SubjectUser && kind != SubjectWechat) {
		return "", uuid.Nil, uuid.Nil, ErrBadToken
	}
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
