package auth

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Throttle counts failed attempts per key in a fixed window: five failures
// for one username within 15 minutes lock it until the window passes.
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

// Reserve counts an attempt before it is checked, atomically, so concurrent
// or aliased guesses cannot slip past the limit. ok is false when the limit
// is already used up. A successful attempt gives its reservation back with
// Release.
func (t *Throttle) Reserve(ctx context.Context, key string) (ok bool, err error) {
	k := t.prefix + strings.ToLower(key)
	pipe := t.rdb.TxPipeline()
	n := pipe.Incr(ctx, k)
	pipe.ExpireNX(ctx, k, t.window)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, unavailable(err)
	}
	return n.Val() <= t.limit, nil
}

// Release gives back a reservation after a successful attempt.
func (t *Throttle) Release(ctx context.Context, key string) error {
	return unavailable(t.rdb.Decr(ctx, t.prefix+strings.ToLower(key)).Err())
}
