package app

import (
	"net/http"

	"github.com/99designs/gqlgen/graphql/playground"
)

// graphiql serves the GraphiQL page; routes() mounts it only outside production.
func graphiql() http.HandlerFunc {
	h := playground.Handler("Jinjiang resident services", "/graphql")
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}
}
