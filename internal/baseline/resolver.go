// Package baseline is the same-run performance baseline of the load
// generator: a gqlgen handler, one Redis GET standing for the session check,
// and one primary-key read through pgx — nothing else. The real server's
// throughput is reported as a ratio of this one's.
package baseline

import (
	"context"
	"errors"
	"net/http"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// Resolver reads residents by primary key.
type Resolver struct{ Pool *pgxpool.Pool }

// Resident is the resolver for the resident field.
func (r *queryResolver) Resident(ctx context.Context, id string) (*Resident, error) {
	var res Resident
	err := r.Pool.QueryRow(ctx, "SELECT id::text, name, id_number_masked FROM residents WHERE id = $1", id).
		Scan(&res.ID, &res.Name, &res.IDNumberMasked)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return &res, err
}

// Query returns QueryResolver implementation.
func (r *Resolver) Query() QueryResolver { return &queryResolver{r} }

type queryResolver struct{ *Resolver }

// SessionKey is the Redis key the baseline reads on every request.
const SessionKey = "baseline:session"

// Handler is the baseline HTTP handler: a Redis GET, then the gqlgen handler.
func Handler(pool *pgxpool.Pool, rdb redis.UniversalClient) http.Handler {
	srv := handler.New(NewExecutableSchema(Config{Resolvers: &Resolver{Pool: pool}}))
	srv.AddTransport(transport.POST{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := rdb.Get(r.Context(), SessionKey).Err(); err != nil {
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		srv.ServeHTTP(w, r)
	})
}
