package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/problem"
)

// MaxBodyBytes caps a request body; larger ones get 413.
const MaxBodyBytes = 100 << 10

// MetricsHandler serves /metrics alone, for the listener METRICS_ADDR
// turns on (the only place production serves it).
func (a *App) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.handler)
	return mux
}

func (a *App) routes() http.Handler {
	gql := graph.NewHandler(a.Resolver, graph.HandlerOptions{
		Production:     a.Config.Production(),
		Log:            a.Log,
		AllowedOrigins: a.Config.AllowedOrigins,
		Observe:        a.metrics.observe,
		Revocations:    a.Revocations,
		Sockets:        a.Sockets,
		// One websocket message may be no larger than one HTTP body.
		MaxMessageBytes: MaxBodyBytes,
	})
	mux := http.NewServeMux()
	mux.Handle("/graphql", a.shedWhenPoolSaturated(a.authenticate(a.Resolver.WithLoaders(gql))))
	mux.Handle("GET /exports/settlement.csv", a.authenticate(http.HandlerFunc(a.settlementCSV)))
	mux.Handle("GET /exports/{file}", a.authenticate(http.HandlerFunc(a.residentExport)))
	mux.Handle("GET /applications/{id}/notices/{kind}", a.authenticate(http.HandlerFunc(a.applicationNotice)))
	mux.Handle("POST "+importsPath, a.authenticate(http.HandlerFunc(a.importResidents)))
	mux.HandleFunc("GET "+importsPath+"/template.xlsx", a.importTemplate)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /readyz", a.ready)
	if !a.Config.Production() {
		// In production /metrics is served only on METRICS_ADDR's own
		// listener (MetricsHandler): it names operations and pool sizes.
		mux.Handle("GET /metrics", a.metrics.handler)
		page, assets := graphiql()
		mux.HandleFunc("GET /{$}", page)
		mux.HandleFunc("GET "+graphiqlAssetPrefix+"{name}", assets)
		// The schema as SDL, for codegen and editors (like introspection,
		// not in production).
		sdl := graph.SchemaSDL()
		mux.HandleFunc("GET /schema.graphql", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/graphql; charset=utf-8")
			w.Write([]byte(sdl))
		})
	}
	return a.requestContext(mux)
}

// PprofHandler serves net/http/pprof on a mux of its own, for the separate
// listener PPROF_ADDR turns on; the public handler never exposes it.
func PprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// requestContext gives every request an id (echoed as X-Request-Id), a
// deadline, a body cap, and one structured log line, refused ones
// included (an oversized or malformed body is logged with its 413 or
// 400). It logs no query text and no variables: they may carry ID or phone
// numbers.
func (a *App) requestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := uuid.Must(uuid.NewV7()).String()
		w.Header().Set("X-Request-Id", rid)
		ctx := auth.WithRequestID(r.Context(), rid)
		// The client address, once, for every throttle keyed by it.
		ctx = auth.WithClient(ctx, a.clients.Client(r.RemoteAddr, r.Header.Values("X-Forwarded-For")))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			a.Log.InfoContext(ctx, "request", "request_id", rid, "method", r.Method, "path", r.URL.Path,
				"status", sw.status(), "duration_ms", time.Since(start).Milliseconds())
		}()
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			wsCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			stop := context.AfterFunc(a.closing, cancel)
			defer stop()
			next.ServeHTTP(sw, r.WithContext(wsCtx))
			return
		}
		if r.Method == http.MethodPost && r.URL.Path == importsPath {
			// An upload: its own body cap (importResidents reads the body
			// through it and answers FILE_TOO_LARGE) and a longer deadline.
			upCtx, cancel := context.WithTimeout(ctx, ImportTimeout)
			defer cancel()
			next.ServeHTTP(sw, r.WithContext(upCtx))
			return
		}
		reqCtx, cancel := context.WithTimeout(ctx, a.Config.RequestTimeout)
		defer cancel()
		if r.ContentLength > MaxBodyBytes {
			writeGraphQLError(sw, http.StatusRequestEntityTooLarge, "request body too large", "BAD_USER_INPUT")
			return
		}
		if r.Method == http.MethodPost {
			// Read the (capped) body here so that a malformed one is
			// refused without echoing it: gqlgen's own decoder error
			// repeats the body, which may carry an ID number.
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
			if err != nil {
				writeGraphQLError(sw, http.StatusRequestEntityTooLarge, "request body too large", "BAD_USER_INPUT")
				return
			}
			if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") && !json.Valid(body) {
				writeGraphQLError(sw, http.StatusBadRequest, "request body is not valid JSON", "BAD_USER_INPUT")
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(sw, r.WithContext(reqCtx))
	})
}

// authenticate puts the viewer of a valid bearer token in the context. A
// missing or invalid token leaves the request anonymous (public root fields
// still work; the rest answer UNAUTHENTICATED). Redis unreachable fails
// closed with 503 for any request that carries a token.
func (a *App) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		flag := &graph.Unavailable{}
		ctx = graph.WithUnavailableFlag(ctx, flag)
		if h := r.Header.Get("Authorization"); h != "" {
			token, ok := strings.CutPrefix(h, "Bearer ")
			if ok {
				v, err := a.Auth.Authenticate(ctx, strings.TrimSpace(token))
				switch {
				case errors.Is(err, problem.ErrUnavailable):
					a.Log.WarnContext(ctx, "session store unavailable", "request_id", auth.RequestID(ctx), "err", err.Error())
					writeGraphQLError(w, http.StatusServiceUnavailable, "service temporarily unavailable; retry shortly", "SERVICE_UNAVAILABLE")
					return
				case err == nil:
					ctx = auth.WithViewer(ctx, v)
				}
			}
		}
		next.ServeHTTP(&unavailableWriter{ResponseWriter: w, flag: flag}, r.WithContext(ctx))
	})
}

func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	if a.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status := map[string]string{"postgres": "ok", "redis": "ok"}
	code := http.StatusOK
	if err := database.SQL(a.DB).PingContext(ctx); err != nil {
		status["postgres"], code = "unreachable", http.StatusServiceUnavailable
	}
	if err := a.Redis.Ping(ctx).Err(); err != nil {
		status["redis"], code = "unreachable", http.StatusServiceUnavailable
	}
	writeJSON(w, code, status)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeGraphQLError(w http.ResponseWriter, status int, msg, code string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]any{{"message": msg, "extensions": map[string]any{"code": code}}}})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(c int) { s.code = c; s.ResponseWriter.WriteHeader(c) }
func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = 200
	}
	return s.ResponseWriter.Write(b)
}
func (s *statusWriter) status() int {
	if s.code == 0 {
		return 200
	}
	return s.code
}
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// unavailableWriter answers 503 when the error presenter flagged a
// SERVICE_UNAVAILABLE error: the body is written after the errors were
// presented, so the status can still be chosen.
type unavailableWriter struct {
	http.ResponseWriter
	flag    *graph.Unavailable
	written bool
}

func (u *unavailableWriter) WriteHeader(c int) {
	u.written = true
	if c == http.StatusOK && u.flag.Set {
		c = http.StatusServiceUnavailable
	}
	u.ResponseWriter.WriteHeader(c)
}

func (u *unavailableWriter) Write(b []byte) (int, error) {
	if !u.written {
		u.WriteHeader(http.StatusOK)
	}
	return u.ResponseWriter.Write(b)
}
func (u *unavailableWriter) Unwrap() http.ResponseWriter { return u.ResponseWriter }
func (u *unavailableWriter) Flush() {
	if f, ok := u.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// poolWait is how long a request waits for a Postgres connection to come
// free before it is refused with 503.
const poolWait = time.Second

// shedWhenPoolSaturated refuses new GraphQL requests fast with
// SERVICE_UNAVAILABLE while every Postgres connection has been busy for
// poolWait, instead of letting them queue until their deadline: clients
// retry elsewhere and the slow work in progress is not starved further.
func (a *App) shedWhenPoolSaturated(next http.Handler) http.Handler {
	sqlDB := database.SQL(a.DB)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			next.ServeHTTP(w, r)
			return
		}
		deadline := time.Now().Add(poolWait)
		for {
			st := sqlDB.Stats()
			if st.MaxOpenConnections == 0 || st.InUse < st.MaxOpenConnections {
				break
			}
			if time.Now().After(deadline) {
				a.Log.WarnContext(r.Context(), "database pool saturated; request shed", "request_id", auth.RequestID(r.Context()), "in_use", st.InUse)
				writeGraphQLError(w, http.StatusServiceUnavailable, "service temporarily unavailable; retry shortly", "SERVICE_UNAVAILABLE")
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		next.ServeHTTP(w, r)
	})
}
