package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/problem"
)

// Close codes of a refused connection_init.
const (
	// closeForbidden is graphql-transport-ws's code for a refused init.
	closeForbidden = 4403
	// closeTooManySockets: the session or the user is at its cap (as HTTP 429).
	closeTooManySockets = 4429
	// closeTryAgainLater is RFC 6455's 1013: Redis unreachable, fail closed.
	closeTryAgainLater = 1013
)

// maxSubscriptionsPerSocket bounds the operations one socket runs at once.
const maxSubscriptionsPerSocket = 20

// socketState is one websocket connection's own state, in the context of
// everything that runs on it.
type socketState struct{ subscriptions atomic.Int32 }

type socketKey struct{}

func socketFrom(ctx context.Context) *socketState {
	s, _ := ctx.Value(socketKey{}).(*socketState)
	return s
}

// websocketTransport is transport.Websocket whose connections carry a
// socketState, so the operation checks know which transport an operation
// came through (and count its subscriptions).
type websocketTransport struct{ transport.Websocket }

func (t websocketTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := context.WithValue(r.Context(), socketKey{}, &socketState{})
	t.Websocket.Do(w, r.WithContext(ctx), exec)
}

// websocketOperations lets a websocket carry subscriptions only, at most
// maxSubscriptions at once. Queries and mutations go over HTTP POST, where
// the request timeout, the body cap and the transaction and audit of each
// mutation apply.
type websocketOperations struct{ maxSubscriptions int32 }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
	graphql.OperationInterceptor
} = websocketOperations{}

// ExtensionName implements graphql.HandlerExtension.
func (websocketOperations) ExtensionName() string { return "WebsocketOperations" }

// Validate implements graphql.HandlerExtension.
func (websocketOperations) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext refuses a query or mutation sent on a websocket
// before anything runs.
func (websocketOperations) MutateOperationContext(ctx context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if socketFrom(ctx) == nil || rc.Operation == nil || rc.Operation.Operation == ast.Subscription {
		return nil
	}
	return &gqlerror.Error{
		Message:    fmt.Sprintf("websockets carry subscriptions only; send %ss as POST application/json", rc.Operation.Operation),
		Extensions: map[string]any{"code": CodeBadUserInput},
	}
}

// InterceptOperation counts a websocket's running subscriptions and
// refuses one over the cap; the count drops when the subscription ends.
func (o websocketOperations) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	sock := socketFrom(ctx)
	if sock == nil {
		return next(ctx)
	}
	if sock.subscriptions.Add(1) > o.maxSubscriptions {
		sock.subscriptions.Add(-1)
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{
			Message:    fmt.Sprintf("at most %d subscriptions may run on one websocket", o.maxSubscriptions),
			Extensions: map[string]any{"code": CodeBadUserInput},
		}}})
	}
	// The operation's context ends when the subscription completes, is
	// stopped by the client, or the socket closes.
	context.AfterFunc(ctx, func() { sock.subscriptions.Add(-1) })
	return next(ctx)
}

// refuse closes a connection_init with code and reason.
func refuse(ctx context.Context, code int, reason string) context.Context {
	return transport.WithWebsocketCloseCode(transport.AppendCloseReason(ctx, reason), code)
}

// wsInit authenticates a websocket in connection_init ({"authorization":
// "Bearer …"} or {"token": "…"}), takes its lease under the per-session and
// per-user caps, and ties the connection's life to the session: when the
// session ends (logout, revocation), the access token expires or the lease
// lapses, the context is cancelled and the socket closes.
func wsInit(a *auth.Service, opt HandlerOptions) transport.WebsocketInitFunc {
	log := opt.Log
	return func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		token := strings.TrimPrefix(p.Authorization(), "Bearer ")
		if token == "" {
			if t, ok := p["token"].(string); ok {
				token = t
			}
		}
		forbidden := refuse(ctx, closeForbidden, "Forbidden")
		unavailable := refuse(ctx, closeTryAgainLater, "Service unavailable; retry shortly")
		if token == "" {
			return forbidden, nil, errors.New("unauthenticated")
		}
		v, err := a.Authenticate(ctx, token)
		if errors.Is(err, problem.ErrUnavailable) {
			log.WarnContext(ctx, "websocket: session store unavailable", "request_id", auth.RequestID(ctx), "err", err)
			return unavailable, nil, errors.New("service unavailable")
		}
		if err != nil {
			return forbidden, nil, errors.New("unauthenticated")
		}
		lease, err := opt.Sockets.Acquire(ctx, v)
		if errors.Is(err, auth.ErrTooManySockets) {
			reason := fmt.Sprintf("Too many websockets: at most %d per session and %d per user", opt.Sockets.PerSession(), opt.Sockets.PerUser())
			return refuse(ctx, closeTooManySockets, reason), nil, errors.New(reason)
		}
		if err != nil {
			log.WarnContext(ctx, "websocket: lease unavailable", "request_id", auth.RequestID(ctx), "err", err)
			return unavailable, nil, errors.New("service unavailable")
		}
		exp, _ := a.TokenExpiry(token)
		ctx = auth.WithViewer(ctx, v)
		ctx, cancel := context.WithDeadline(ctx, exp)
		revoked, err := opt.Revocations.Watch(ctx, v.SessionID)
		if err == nil {
			// A logout between Authenticate and Watch was published before
			// the watch began: look at the session once more.
			var alive bool
			if alive, err = a.SessionAlive(ctx, v.SessionID); err == nil && !alive {
				cancel()
				releaseLease(ctx, lease, log)
				return forbidden, nil, errors.New("unauthenticated")
			}
		}
		if err != nil {
			cancel()
			releaseLease(ctx, lease, log)
			log.WarnContext(ctx, "websocket: revocation watch unavailable", "request_id", auth.RequestID(ctx), "err", err)
			return unavailable, nil, errors.New("service unavailable")
		}
		go watchSession(ctx, cancel, a, v.SessionID, revoked, lease, log)
		return ctx, nil, nil
	}
}

// watchSession ends the socket's context when its session is revoked, the
// session is found gone at a periodic check (which covers revocations
// published while the instance's subscription was reconnecting), or the
// lease cannot be refreshed; then it gives the lease back.
func watchSession(ctx context.Context, cancel context.CancelFunc, a *auth.Service, sid uuid.UUID, revoked <-chan struct{}, lease *auth.SocketLease, log *slog.Logger) {
	defer releaseLease(ctx, lease, log)
	defer cancel()
	tick := time.NewTicker(lease.TTL() / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-revoked:
			return
		case <-tick.C:
			if err := lease.Refresh(ctx); err != nil {
				log.WarnContext(ctx, "websocket lease refresh failed; closing", "request_id", auth.RequestID(ctx), "err", err)
				return // fail closed: an unrefreshed lease no longer counts
			}
			alive, err := a.SessionAlive(ctx, sid)
			if err != nil {
				log.WarnContext(ctx, "websocket session check failed", "request_id", auth.RequestID(ctx), "err", err)
				return // fail closed
			}
			if !alive {
				return
			}
		}
	}
}

func releaseLease(ctx context.Context, lease *auth.SocketLease, log *slog.Logger) {
	if err := lease.Release(); err != nil {
		log.WarnContext(ctx, "websocket lease release failed; it lapses by itself", "request_id", auth.RequestID(ctx), "err", err)
	}
}
