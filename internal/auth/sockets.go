package auth

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// ErrTooManySockets refuses a websocket over the per-session or per-user
// cap.
var ErrTooManySockets = errors.New("auth: too many open websockets")

// ErrSocketLeaseLost means a socket's lease lapsed (it was not refreshed
// in time): the socket no longer counts, so it must close.
var ErrSocketLeaseLost = errors.New("auth: websocket lease lapsed")

// SocketLeases caps the websockets open at once per session and per user,
// counted across instances in Redis. Each open socket holds a lease: a
// member of two sorted sets (the session's and the user's) scored by when
// it lapses. The socket refreshes its lease while it is open and gives it
// back on close; a process that dies leaves leases that lapse after the
// TTL, so its sockets stop counting without anyone cleaning up.
type SocketLeases struct {
	rdb                 redis.UniversalClient
	prefix              string
	perSession, perUser int
	ttl                 time.Duration
}

// NewSocketLeases returns the caps; a lease lapses ttl after its last
// refresh (refresh it every ttl/3).
func NewSocketLeases(rdb redis.UniversalClient, prefix string, perSession, perUser int, ttl time.Duration) *SocketLeases {
	return &SocketLeases{rdb: rdb, prefix: prefix, perSession: perSession, perUser: perUser, ttl: ttl}
}

// PerSession is the cap on one session's open sockets.
func (l *SocketLeases) PerSession() int { return l.perSession }

// PerUser is the cap across all sessions of one user.
func (l *SocketLeases) PerUser() int { return l.perUser }

// keys are the user's and the session's sets; the user id is the hash tag,
// so both land in one Redis Cluster slot and one script may use both.
func (l *SocketLeases) keys(v *Viewer) []string {
	tag := "{" + v.ID.String() + "}"
	return []string{l.prefix + "ws:" + tag + ":user", l.prefix + "ws:" + tag + ":sess:" + v.SessionID.String()}
}

// The scripts read Redis's own clock, so instances with skewed clocks
// agree on which leases lapsed.
const leaseNow = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// acquireLease drops lapsed leases from both sets, refuses when either is
// at its cap (1: user, 2: session), else adds the lease to both.
var acquireLease = redis.NewScript(leaseNow + `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return 2 end
local exp = now + tonumber(ARGV[4])
for _, k in ipairs(KEYS) do
  redis.call('ZADD', k, exp, ARGV[1])
  redis.call('PEXPIRE', k, ARGV[4])
end
return 0`)

// refreshLease extends a lease still held in both sets (0 when it lapsed).
var refreshLease = redis.NewScript(leaseNow + `
for _, k in ipairs(KEYS) do
  local s = redis.call('ZSCORE', k, ARGV[1])
  if not s or tonumber(s) <= now then return 0 end
end
local exp = now + tonumber(ARGV[2])
for _, k in ipairs(KEYS) do
  redis.call('ZADD', k, exp, ARGV[1])
  redis.call('PEXPIRE', k, ARGV[2])
end
return 1`)

// SocketLease is one open socket's place under the caps.
type SocketLease struct {
	l    *SocketLeases
	keys []string
	id   string
}

// Acquire takes a lease for one socket of v's session, or refuses with
// ErrTooManySockets when the session or the user is at its cap. Redis
// unreachable is problem.ErrUnavailable.
func (l *SocketLeases) Acquire(ctx context.Context, v *Viewer) (*SocketLease, error) {
	s := &SocketLease{l: l, keys: l.keys(v), id: uuid.NewString()}
	n, err := acquireLease.Run(ctx, l.rdb, s.keys, s.id, l.perSession, l.perUser, l.ttl.Milliseconds()).Int()
	if err != nil {
		return nil, unavailable(err)
	}
	if n != 0 {
		return nil, ErrTooManySockets
	}
	return s, nil
}

// TTL is how long the lease lives without a refresh.
func (s *SocketLease) TTL() time.Duration { return s.l.ttl }

// Refresh extends the lease by the TTL; ErrSocketLeaseLost when it had
// lapsed already.
func (s *SocketLease) Refresh(ctx context.Context) error {
	n, err := refreshLease.Run(ctx, s.l.rdb, s.keys, s.id, s.l.ttl.Milliseconds()).Int()
	if err != nil {
		return unavailable(err)
	}
	if n == 0 {
		return ErrSocketLeaseLost
	}
	return nil
}

// Release gives the lease back. It runs after the socket's context ended,
// so it uses a short context of its own.
func (s *SocketLease) Release() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := s.l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range s.keys {
			p.ZRem(ctx, k, s.id)
		}
		return nil
	})
	return unavailable(err)
}
