package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	coderws "github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/problem"
)

// HandlerOptions configures the GraphQL endpoint.
type HandlerOptions struct {
	Production bool
	Log        *slog.Logger
	// AllowedOrigins are accepted websocket origins besides the request's own host.
	AllowedOrigins []string
	// Observe records one operation's duration (for metrics); may be nil.
	Observe func(operation string, d time.Duration, failed bool)
	Limits  Limits
}

// publicRootFields answer without a session; every other root field needs one.
var publicRootFields = map[string]bool{
	"login": true, "wechatLogin": true, "refreshSession": true,
	"__typename": true, "__schema": true, "__type": true,
}

// NewHandler builds the GraphQL HTTP handler with explicit transports and
// limits (never handler.NewDefaultServer): POST JSON, GET for queries only,
// graphql-transport-ws with the token in connection_init, no batching.
func NewHandler(r *Resolver, opt HandlerOptions) http.Handler {
	cfg := Config{Resolvers: r}
	srv := handler.New(NewExecutableSchema(cfg))
	srv.AddTransport(transport.Websocket{
		InitFunc:              wsInit(r.Auth, opt.Log),
		InitTimeout:           10 * time.Second,
		KeepAlivePingInterval: 15 * time.Second,
		// coder/websocket refuses a browser Origin other than the request's
		// own host unless it matches one of the allowed origins' hosts.
		Implementation: transport.CoderWebsocketImplementation{
			AcceptOptions: coderws.AcceptOptions{OriginPatterns: originHosts(opt.AllowedOrigins)},
		},
	})
	srv.AddTransport(queriesOnlyGET{})
	srv.AddTransport(onePOST{})
	// Last: anything the transports above do not take (text/plain, forms,
	// multipart: requests a browser sends cross-site without a preflight).
	srv.AddTransport(unsupported{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(15000)
	if !opt.Production {
		srv.Use(extension.Introspection{})
	} else {
		srv.Use(noIntrospection{})
	}
	srv.SetDisableSuggestion(opt.Production)
	limits := opt.Limits
	if limits == (Limits{}) {
		limits = DefaultLimits
	}
	srv.Use(limits)
	srv.Use(&exactEnums{})
	srv.Use(noNUL{})
	presenter := ErrorPresenter(opt.Log)
	if opt.Production {
		presenter = withoutSuggestions(presenter)
	}
	srv.SetErrorPresenter(presenter)
	srv.SetRecoverFunc(RecoverFunc(opt.Log))
	srv.AroundFields(requireSession)
	srv.AroundFields(guardStaffUsers(r.Auth))
	srv.AroundOperations(pinMutationsToPrimary)
	if opt.Observe != nil {
		srv.AroundResponses(observe(opt.Observe))
	}
	return srv
}

// requireSession refuses every root field but the public ones to anonymous
// viewers, so no resolver can forget the check.
func requireSession(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc != nil && fc.Parent != nil && fc.Parent.Parent == nil && !publicRootFields[fc.Field.Name] &&
		(fc.Object == "Query" || fc.Object == "Mutation" || fc.Object == "Subscription") {
		if auth.ViewerFrom(ctx) == nil {
			return nil, problem.ErrUnauthenticated
		}
	}
	return next(ctx)
}

// operationLabel names an operation by its type and first root field: a
// bounded set, unlike client-chosen operation names.
func operationLabel(rc *graphql.OperationContext) string {
	if rc == nil || rc.Operation == nil {
		return "invalid"
	}
	label := string(rc.Operation.Operation)
	for _, sel := range rc.Operation.SelectionSet {
		if f, ok := sel.(*ast.Field); ok {
			return label + ":" + f.Name
		}
	}
	return label
}

func observe(fn func(string, time.Duration, bool)) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		if !graphql.HasOperationContext(ctx) {
			return resp
		}
		rc := graphql.GetOperationContext(ctx)
		if rc.Operation != nil && rc.Operation.Operation == ast.Subscription {
			return resp
		}
		fn(operationLabel(rc), time.Since(rc.Stats.OperationStart), resp != nil && len(resp.Errors) > 0)
		return resp
	}
}

func originHosts(origins []string) []string {
	var hosts []string
	for _, o := range origins {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			hosts = append(hosts, u.Host)
		}
	}
	return hosts
}

// wsInit authenticates a websocket in connection_init ({"authorization":
// "Bearer …"} or {"token": "…"}) and ties the connection's life to the
// session: when the session ends (logout, revocation) or the access token
// expires, the context is cancelled and the socket closes.
func wsInit(a *auth.Service, log *slog.Logger) transport.WebsocketInitFunc {
	return func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		token := strings.TrimPrefix(p.Authorization(), "Bearer ")
		if token == "" {
			if t, ok := p["token"].(string); ok {
				token = t
			}
		}
		// graphql-transport-ws: a refused connection_init closes with 4403.
		refused := transport.WithWebsocketCloseCode(transport.AppendCloseReason(ctx, "Forbidden"), 4403)
		if token == "" {
			return refused, nil, errors.New("unauthenticated")
		}
		v, err := a.Authenticate(ctx, token)
		if err != nil {
			return refused, nil, errors.New("unauthenticated")
		}
		exp, _ := a.TokenExpiry(token)
		ctx = auth.WithViewer(ctx, v)
		ctx, cancel := context.WithDeadline(ctx, exp)
		// Subscribed before connection_ack: a logout after the ack is seen.
		revoked := a.Sessions().SubscribeRevoked(ctx)
		go watchSession(ctx, cancel, a, v.SessionID, revoked, log)
		return ctx, nil, nil
	}
}

func watchSession(ctx context.Context, cancel context.CancelFunc, a *auth.Service, sid uuid.UUID, revoked <-chan uuid.UUID, log *slog.Logger) {
	defer cancel()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case id, ok := <-revoked:
			if !ok {
				return
			}
			if id == sid {
				return
			}
		case <-tick.C:
			alive, err := a.SessionAlive(ctx, sid)
			if err != nil {
				log.WarnContext(ctx, "websocket session check failed", "err", err)
				return // fail closed
			}
			if !alive {
				return
			}
		}
	}
}

// pinMutationsToPrimary makes every read of a mutation, including its
// payload's nested fields, go to the primary: a client reads its own writes
// even with lagging replicas.
func pinMutationsToPrimary(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if rc := graphql.GetOperationContext(ctx); rc.Operation != nil && rc.Operation.Operation == ast.Mutation {
		ctx = database.WithPrimary(ctx)
	}
	return next(ctx)
}

// onePOST is transport.POST that takes exactly one GraphQL request object.
// A body that is JSON but not one request (an array batch, a string, a
// query that is not a string) is refused here with 400, because gqlgen's own
// decoder error repeats the whole body, which may carry an ID number.
type onePOST struct{ transport.POST }

func (p onePOST) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	body, err := io.ReadAll(r.Body)
	var one struct {
		Query         string         `json:"query"`
		OperationName string         `json:"operationName"`
		Variables     map[string]any `json:"variables"`
		Extensions    map[string]any `json:"extensions"`
	}
	if err == nil {
		err = json.Unmarshal(body, &one)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "the body must be one JSON object with query, variables and operationName; batching is not supported", CodeBadUserInput)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.POST.Do(w, r, exec)
}

// noIntrospection refuses __schema and __type in production before anything
// runs, with a validation error rather than gqlgen's INTERNAL one.
type noIntrospection struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = noIntrospection{}

// ExtensionName implements graphql.HandlerExtension.
func (noIntrospection) ExtensionName() string { return "NoIntrospection" }

// Validate implements graphql.HandlerExtension.
func (noIntrospection) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext refuses an operation that introspects the schema.
func (noIntrospection) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if rc.Operation != nil && introspects(rc.Doc, rc.Operation.SelectionSet, map[string]bool{}) {
		return &gqlerror.Error{Message: "introspection is disabled", Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}}
	}
	return nil
}

// introspects reports whether a root selection set (through fragments)
// asks for __schema or __type.
func introspects(doc *ast.QueryDocument, set ast.SelectionSet, seen map[string]bool) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				return true
			}
		case *ast.InlineFragment:
			if introspects(doc, s.SelectionSet, seen) {
				return true
			}
		case *ast.FragmentSpread:
			if seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			if f := doc.Fragments.ForName(s.Name); f != nil && introspects(doc, f.SelectionSet, seen) {
				return true
			}
		}
	}
	return false
}

// writeError answers a request a transport refuses before execution, with
// the contract's extensions.code (gqlgen's own refusals carry none).
func writeError(w http.ResponseWriter, status int, msg, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{"message": msg, "extensions": map[string]any{"code": code}}}})
}

// queriesOnlyGET is transport.GET refusing, with 405, a document that holds
// a mutation or subscription: GET requests must be safe (a link or an image
// tag can send them cross-site).
type queriesOnlyGET struct{ transport.GET }

func (g queriesOnlyGET) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if doc, err := parser.ParseQuery(&ast.Source{Input: r.URL.Query().Get("query")}); err == nil {
		for _, op := range doc.Operations {
			if op.Operation != ast.Query {
				w.Header().Set("Allow", "POST")
				writeError(w, http.StatusMethodNotAllowed, "GET requests only allow query operations; send mutations as POST application/json", CodeBadUserInput)
				return
			}
		}
	}
	g.GET.Do(w, r, exec)
}

// unsupported takes every request no other transport supports and refuses
// it with 415.
type unsupported struct{}

func (unsupported) Supports(*http.Request) bool { return true }

func (unsupported) Do(w http.ResponseWriter, _ *http.Request, _ graphql.GraphExecutor) {
	writeError(w, http.StatusUnsupportedMediaType, "send GraphQL requests as POST application/json (or GET for queries)", CodeBadUserInput)
}
