package auth

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Throttle counts attempts per key in a fixed window kept in Redis (so it
// holds across instances): limit attempts per key within window, then
// refusals until the window passes. What the key is decides what is
// limited: a subject (a staff user's look-ups, a WeChat account's binding
// attempts), a client address (auth.ClientKey: the one place a client
// address comes from), a (username, client) pair, or one fixed key for an
// overall rate.
type Throttle struct {
	rdb    redis.UniversalClient
	prefix string
	limit  int64
	window time.Duration
}

// NewThrottle returns a throttle of limit attempts per window under prefix.
func NewThrottle(rdb redis.UniversalClient, prefix string, limit int64, window time.Duration) *Throttle {
	return &Throttle{rdb: rdb, prefix: prefix, limit: limit, window: window}
}

func (t *Throttle) key(k string) string { return t.prefix + strings.ToLower(k) }

// Reserve counts an attempt before it is checked, atomically, so concurrent
// or aliased guesses cannot slip past the limit. ok is false when the limit
// is already used up. A successful attempt gives its reservation back with
// Release; a rate (every attempt counts) never releases.
func (t *Throttle) Reserve(ctx context.Context, key string) (ok bool, err error) {
	k := t.key(key)
	pipe := t.rdb.TxPipeline()
	n := pipe.Incr(ctx, k)
	pipe.ExpireNX(ctx, k, t.window)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, unavailable(err)
	}
	return n.Val() <= t.limit, nil
}

// Take is Reserve for callers that refuse at once: it returns refusal when
// the limit is used up, Redis's error when it could not count, else nil.
func (t *Throttle) Take(ctx context.Context, key string, refusal error) error {
	ok, err := t.Reserve(ctx, key)
	if err != nil {
		return err
	}
	if !ok {
		return refusal
	}
	return nil
}

// release decrements a live counter only: a window that ended between
// Reserve and Release must not come back as a key of -1 without expiry
// (a plain DECR would create it, and it would give a free attempt forever).
var release = redis.NewScript(`
local n = redis.call('GET', KEYS[1])
if n and tonumber(n) > 0 then return redis.call('DECR', KEYS[1]) end
return 0`)

// Release gives back a reservation after a successful attempt.
func (t *Throttle) Release(ctx context.Context, key string) error {
	return unavailable(release.Run(ctx, t.rdb, []string{t.key(key)}).Err())
}
