package auth

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/jinjiang/residents/internal/problem"
)

// Revocations is one instance's single subscription to the revoked-session
// channel, fanned out to the local watchers (websockets) of each session.
// A subscription of its own per socket would hold one Redis connection per
// socket: a few hundred sockets would exhaust Redis's clients.
type Revocations struct {
	rdb     redis.UniversalClient
	channel string
	log     *slog.Logger

	mu       sync.Mutex
	watchers map[uuid.UUID]map[*revocationWatch]struct{}
	ready    chan struct{}
	once     sync.Once
	done     bool
}

type revocationWatch struct {
	once    sync.Once
	revoked chan struct{}
}

func (w *revocationWatch) fire() { w.once.Do(func() { close(w.revoked) }) }

// watchReadyWait is how long Watch waits for the instance's subscription
// before it fails closed.
const watchReadyWait = 5 * time.Second

// NewRevocations returns the fan-out of the sessions' revoked channel; Run
// holds its subscription.
func NewRevocations(rdb redis.UniversalClient, s *Sessions, log *slog.Logger) *Revocations {
	return &Revocations{rdb: rdb, channel: s.RevokedChannel(), log: log,
		watchers: map[uuid.UUID]map[*revocationWatch]struct{}{}, ready: make(chan struct{})}
}

// Run holds the instance's one subscription until ctx ends, then revokes
// every local watcher (their sockets close).
func (r *Revocations) Run(ctx context.Context) {
	defer r.shutdown()
	for ctx.Err() == nil {
		ps := r.rdb.Subscribe(ctx, r.channel)
		if _, err := ps.Receive(ctx); err != nil { // the subscription's confirmation
			_ = ps.Close()
			if ctx.Err() == nil {
				r.log.WarnContext(ctx, "auth: revocation subscription failed; retrying", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		r.once.Do(func() { close(r.ready) })
		ch := ps.Channel() // reconnects by itself; the watchers' periodic session check covers a gap
		for open := true; open; {
			select {
			case <-ctx.Done():
				open = false
			case m, ok := <-ch:
				if !ok {
					open = false
					break
				}
				if sid, err := uuid.Parse(m.Payload); err == nil {
					r.revoke(sid)
				}
			}
		}
		_ = ps.Close()
	}
}

func (r *Revocations) revoke(sid uuid.UUID) {
	r.mu.Lock()
	ws := r.watchers[sid]
	delete(r.watchers, sid)
	r.mu.Unlock()
	for w := range ws {
		w.fire()
	}
}

func (r *Revocations) shutdown() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = true
	for sid, ws := range r.watchers {
		for w := range ws {
			w.fire()
		}
		delete(r.watchers, sid)
	}
}

// Watch returns a channel closed when session sid is revoked on any
// instance (or this instance stops), until ctx ends. It returns once the
// instance's subscription is up, so a revocation published after the call
// is never missed; it fails closed with problem.ErrUnavailable when the
// subscription is not up within a few seconds.
func (r *Revocations) Watch(ctx context.Context, sid uuid.UUID) (<-chan struct{}, error) {
	select {
	case <-r.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(watchReadyWait):
		return nil, problem.ErrUnavailable
	}
	w := &revocationWatch{revoked: make(chan struct{})}
	r.mu.Lock()
	if r.done {
		r.mu.Unlock()
		return nil, problem.ErrUnavailable
	}
	if r.watchers[sid] == nil {
		r.watchers[sid] = map[*revocationWatch]struct{}{}
	}
	r.watchers[sid][w] = struct{}{}
	r.mu.Unlock()
	context.AfterFunc(ctx, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if ws := r.watchers[sid]; ws != nil {
			delete(ws, w)
			if len(ws) == 0 {
				delete(r.watchers, sid)
			}
		}
	})
	return w.revoked, nil
}

// Watched is how many sessions have local watchers (for tests and metrics).
func (r *Revocations) Watched() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.watchers)
}
