package graph

import (
	"context"
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
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/gqlerror"

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
	// Revocations closes a websocket when its session ends (required).
	Revocations *auth.Revocations
	// Sockets caps the websockets open per session and per user (required).
	Sockets *auth.SocketLeases
	// MaxMessageBytes caps one websocket message from the client: the HTTP
	// body cap, so the websocket is no way around it (required).
	MaxMessageBytes int64
}

// publicRootFields answer without a session; every other root field needs one.
var publicRootFields = map[string]bool{
	"login": true, "wechatLogin": true, "refreshSession": true,
	"__typename": true, "__schema": true, "__type": true,
}

// NewHandler builds the GraphQL HTTP handler with explicit transports and
// limits (never handler.NewDefaultServer): POST JSON, GET for queries only,
// graphql-transport-ws for subscriptions only with the token in
// connection_init, no batching.
func NewHandler(r *Resolver, opt HandlerOptions) http.Handler {
	if opt.Revocations == nil || opt.Sockets == nil || opt.MaxMessageBytes <= 0 {
		panic("graph: NewHandler needs Revocations, Sockets and MaxMessageBytes")
	}
	cfg := Config{Resolvers: r}
	srv := handler.New(NewExecutableSchema(cfg))
	maxMessage := opt.MaxMessageBytes
	srv.AddTransport(websocketTransport{transport.Websocket{
		InitFunc:              wsInit(r.Auth, opt),
		InitTimeout:           10 * time.Second,
		KeepAlivePingInterval: 15 * time.Second,
		PayloadReadLimit:      &maxMessage,
		// coder/websocket refuses a browser Origin other than the request's
		// own host unless it matches one of the allowed origins' hosts.
		Implementation: transport.CoderWebsocketImplementation{
			AcceptOptions: coderws.AcceptOptions{OriginPatterns: originHosts(opt.AllowedOrigins)},
		},
	}})
	srv.AddTransport(queriesOnlyGET{})
	srv.AddTransport(onePOST{})
	// Last: anything the transports above do not take (text/plain, forms,
	// multipart: requests a browser sends cross-site without a preflight).
	srv.AddTransport(unsupported{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(15000)
	// First of the operation checks: a query or mutation on a websocket is
	// refused for the transport, whatever else is wrong with it.
	srv.Use(websocketOperations{maxSubscriptions: maxSubscriptionsPerSocket})
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
	// GraphiQL's own schema query nests ofType to depth 15: under MaxDepth
	// the development page had no docs and no completion.
	limits.IntrospectionExempt = !opt.Production
	srv.Use(limits)
	srv.Use(&exactEnums{})
	srv.Use(noNUL{})
	srv.Use(noDefer{})
	presenter := ErrorPresenter(opt.Log)
	if opt.Production {
		presenter = withoutSuggestions(presenter)
	}
	srv.SetErrorPresenter(presenter)
	srv.SetRecoverFunc(RecoverFunc(opt.Log))
	srv.AroundFields(fieldRules(r.Auth))
	srv.AroundOperations(pinMutationsToPrimary)
	if opt.Observe != nil {
		srv.AroundResponses(observe(opt.Observe))
	}
	return withLanguage(srv)
}

// fieldRules is the one field middleware: it runs requireSession,
// localizeUserErrors, mutationRefusals and the staff guard, outermost first,
// on the fields each is for (root fields, UserError.message, root mutations,
// StaffUser fields), and nothing on the rest. A page of 100 residents
// resolves thousands of fields; four middleware layers, each looking its
// field up in the context (a walk comparing keys), took a tenth of the
// page's CPU for fields none of them touches.
func fieldRules(a *auth.Service) graphql.FieldMiddleware {
	staffGuard := guardStaffUsers(a)
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		fc := graphql.GetFieldContext(ctx)
		if fc == nil {
			return next(ctx)
		}
		root := fc.Parent != nil && fc.Parent.Parent == nil
		message := fc.Object == "UserError" && fc.Field.Name == "message"
		staff := fc.Field.Definition != nil && fc.Field.Definition.Type.Name() == TypeStaffUser
		if !root && !message && !staff {
			return next(ctx)
		}
		chain := next
		wrap := func(m graphql.FieldMiddleware) {
			inner := chain
			chain = func(ctx context.Context) (any, error) { return m(ctx, inner) }
		}
		if staff {
			wrap(staffGuard)
		}
		if root && fc.Object == "Mutation" {
			wrap(mutationRefusals)
		}
		if message {
			wrap(localizeUserErrors)
		}
		if root {
			wrap(requireSession)
		}
		return chain(ctx)
	}
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

// pinMutationsToPrimary makes every read of a mutation, including its
// payload's nested fields, go to the primary: a client reads its own writes
// even with lagging replicas.
func pinMutationsToPrimary(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if rc := graphql.GetOperationContext(ctx); rc.Operation != nil && rc.Operation.Operation == ast.Mutation {
		ctx = database.WithPrimary(ctx)
	}
	return next(ctx)
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
		return &gqlerror.Error{Message: "introspection is disabled", Extensions: map[string]any{"code": CodeValidationFailed}}
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

// SchemaSDL is the served schema as SDL (GET /schema.graphql outside
// production, for codegen without introspection).
func SchemaSDL() string {
	var b strings.Builder
	formatter.NewFormatter(&b, formatter.WithComments()).FormatSchema(NewExecutableSchema(Config{}).Schema())
	return b.String()
}
