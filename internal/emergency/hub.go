package emergency

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// change is what travels on the Redis channel: which call, and where it
// belongs, so instances skip loading calls nobody local watches.
type change struct {
	ID   uuid.UUID `json:"id"`
	Path string    `json:"path"`
}

// Hub is one instance's single Redis subscription, fanned out to the
// local live-board subscribers.
type Hub struct {
	rdb     redis.UniversalClient
	channel string
	log     *slog.Logger
	load    func(context.Context, uuid.UUID) (*Call, error)

	mu    sync.Mutex
	subs  map[*subscriber]struct{}
	ready chan struct{}
	once  sync.Once
	done  bool
}

type subscriber struct {
	v      *auth.Viewer
	path   string
	mu     sync.Mutex
	closed bool
	out    chan *Call
}

func (s *subscriber) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.out)
	}
}

// send never blocks: false means the subscriber's buffer is full.
func (s *subscriber) send(c *Call) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return true
	}
	select {
	case s.out <- c:
		return true
	default:
		return false
	}
}

// subscriberBuffer is how many changes a slow subscriber may lag behind
// before changes to it are dropped (and logged).
const subscriberBuffer = 64

func newHub(rdb redis.UniversalClient, channel string, log *slog.Logger, load func(context.Context, uuid.UUID) (*Call, error)) *Hub {
	return &Hub{rdb: rdb, channel: channel, log: log, load: load, subs: map[*subscriber]struct{}{}, ready: make(chan struct{})}
}

// publish announces a committed change to every instance. A failure is
// logged, not returned: the change itself is committed.
func (h *Hub) publish(ctx context.Context, id uuid.UUID, path string) {
	b, _ := json.Marshal(change{ID: id, Path: path})
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := h.rdb.Publish(ctx, h.channel, b).Err(); err != nil {
		h.log.WarnContext(ctx, "emergency: publish call change failed", "request_id", auth.RequestID(ctx), "call_id", id, "err", err)
	}
}

// run holds the instance's one subscription until ctx ends, then closes
// every local subscriber.
func (h *Hub) run(ctx context.Context) {
	defer h.shutdown()
	for ctx.Err() == nil {
		ps := h.rdb.Subscribe(ctx, h.channel)
		if _, err := ps.Receive(ctx); err != nil {
			_ = ps.Close()
			if ctx.Err() == nil {
				h.log.WarnContext(ctx, "emergency: live board subscription failed; retrying", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		h.once.Do(func() { close(h.ready) })
		ch := ps.Channel() // reconnects by itself
		for open := true; open; {
			select {
			case <-ctx.Done():
				open = false
			case m, ok := <-ch:
				if !ok {
					open = false
					break
				}
				h.deliver(ctx, m.Payload)
			}
		}
		_ = ps.Close()
	}
}

func (h *Hub) shutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	for s := range h.subs {
		s.close()
		delete(h.subs, s)
	}
}

func (h *Hub) deliver(ctx context.Context, payload string) {
	var c change
	if err := json.Unmarshal([]byte(payload), &c); err != nil {
		return
	}
	h.mu.Lock()
	var targets []*subscriber
	for s := range h.subs {
		if covers(s.path, c.Path) {
			targets = append(targets, s)
		}
	}
	h.mu.Unlock()
	if len(targets) == 0 {
		return
	}
	call, err := h.load(ctx, c.ID)
	if err != nil || call == nil {
		if err != nil {
			h.log.WarnContext(ctx, "emergency: load changed call failed", "call_id", c.ID, "err", err)
		}
		return
	}
	for _, s := range targets {
		if !covers(s.path, call.OrgPath) || !canRead(s.v, call.OrgPath) {
			continue
		}
		if !s.send(call) {
			h.log.WarnContext(ctx, "emergency: live board subscriber too slow; change dropped", "call_id", c.ID)
		}
	}
}

func covers(scope, path string) bool {
	return scope == "" || (path != "" && strings.HasPrefix(path, scope))
}

func (h *Hub) subscribe(ctx context.Context, v *auth.Viewer, path string) (<-chan *Call, error) {
	select {
	case <-h.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(5 * time.Second):
		return nil, problem.ErrUnavailable
	}
	s := &subscriber{v: v, path: path, out: make(chan *Call, subscriberBuffer)}
	h.mu.Lock()
	if h.done {
		h.mu.Unlock()
		return nil, problem.ErrUnavailable
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
		s.close()
	}()
	return s.out, nil
}

// Subscribe delivers every change to a call under the org unit (the
// viewer's whole scope when nil), on whichever instance it happened, until
// ctx ends. Operators and administrators may watch any unit, case workers
// their own subtree.
func (s *Service) Subscribe(ctx context.Context, unitID *uuid.UUID) (<-chan *Call, error) {
	v, base, err := staffScope(ctx, policy.WatchBoard)
	if err != nil {
		return nil, err
	}
	path, err := s.scopeFor(ctx, v, base, unitID)
	if err != nil {
		return nil, err
	}
	return s.hub.subscribe(ctx, v, path)
}
