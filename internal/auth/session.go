package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"

	"github.com/jinjiang/residents/internal/problem"
)

// Sessions keeps live sessions in Redis. Every authenticated request reads
// its session here, so deleting it (logout, refresh reuse, deactivation)
// takes effect at once on every instance. Redis errors are returned as
// problem.ErrUnavailable: the caller fails closed.
type Sessions struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
	// decoded maps a session's stored bytes to the viewer they decode to.
	// Redis is still read on every request (that is what makes revocation
	// immediate); only the JSON decode of an unchanged session is saved.
	// Keyed by the bytes themselves, so a changed session is a miss.
	decoded *lru.Cache[string, *Viewer]
}

// decodedSessions bounds the decoded-session cache (a few hundred bytes
// each): more than the sessions one instance serves in a busy hour.
const decodedSessions = 20_000

// NewSessions returns the session store; ttl bounds a session's life
// (the refresh-token lifetime).
func NewSessions(rdb redis.UniversalClient, prefix string, ttl time.Duration) *Sessions {
	decoded, _ := lru.New[string, *Viewer](decodedSessions)
	return &Sessions{rdb: rdb, prefix: prefix, ttl: ttl, decoded: decoded}
}

func (s *Sessions) key(id uuid.UUID) string { return s.prefix + "sess:" + id.String() }
func (s *Sessions) subjectKey(id uuid.UUID) string {
	return s.prefix + "subj:" + id.String()
}

// RevokedChannel is the pub/sub channel that carries revoked session ids,
// so long-lived connections (websockets) close at once.
func (s *Sessions) RevokedChannel() string { return s.prefix + "sess:revoked" }

// Put stores (or replaces) the session of v.
func (s *Sessions) Put(ctx context.Context, v *Viewer) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.key(v.SessionID), b, s.ttl)
		p.SAdd(ctx, s.subjectKey(v.ID), v.SessionID.String())
		p.Expire(ctx, s.subjectKey(v.ID), s.ttl)
		return nil
	})
	return unavailable(err)
}

// Get returns the session, or (nil, nil) when it does not exist (ended or expired).
func (s *Sessions) Get(ctx context.Context, id uuid.UUID) (*Viewer, error) {
	b, err := s.rdb.Get(ctx, s.key(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	if v, ok := s.decoded.Get(string(b)); ok {
		cp := *v // callers may change their copy (bindResident does)
		return &cp, nil
	}
	var v Viewer
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("auth: corrupt session: %w", err)
	}
	s.decoded.Add(string(b), &v)
	cp := v
	return &cp, nil
}

// Delete ends sessions at once and tells every instance.
func (s *Sessions) Delete(ctx context.Context, ids ...uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.Del(ctx, s.key(id))
			p.Publish(ctx, s.RevokedChannel(), id.String())
		}
		return nil
	})
	return unavailable(err)
}

// DeleteSubject ends every session of one subject (a deactivated user).
func (s *Sessions) DeleteSubject(ctx context.Context, subject uuid.UUID) error {
	members, err := s.rdb.SMembers(ctx, s.subjectKey(subject)).Result()
	if err != nil {
		return unavailable(err)
	}
	var ids []uuid.UUID
	for _, m := range members {
		if id, err := uuid.Parse(m); err == nil {
			ids = append(ids, id)
		}
	}
	if err := s.Delete(ctx, ids...); err != nil {
		return err
	}
	return unavailable(s.rdb.Del(ctx, s.subjectKey(subject)).Err())
}

func unavailable(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: redis: %w", problem.ErrUnavailable, err)
}

// replace rewrites a live session in place (its lifetime unchanged); a
// session that ended meanwhile stays ended.
func (s *Sessions) replace(ctx context.Context, v *Viewer) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return unavailable(s.rdb.SetArgs(ctx, s.key(v.SessionID), b, redis.SetArgs{Mode: "XX", KeepTTL: true}).Err())
}

// sessionsOf lists the live sessions of one subject.
func (s *Sessions) sessionsOf(ctx context.Context, subject uuid.UUID) ([]*Viewer, error) {
	members, err := s.rdb.SMembers(ctx, s.subjectKey(subject)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	var out []*Viewer
	for _, m := range members {
		id, err := uuid.Parse(m)
		if err != nil {
			continue
		}
		v, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if v != nil {
			out = append(out, v)
		}
	}
	return out, nil
}
