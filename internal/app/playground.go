package app

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/99designs/gqlgen/graphql/playground"
)

// GraphiQL's scripts and styles are embedded (see graphiql/README.md) so the
// page works on a network with no internet: an offline government network
// showed a blank page when they came from a CDN.
//
//go:embed graphiql/*.js graphiql/*.css
var graphiqlFiles embed.FS

// graphiqlAssetPrefix is where routes() serves the embedded files.
const graphiqlAssetPrefix = "/graphiql/assets/"

type graphiqlAsset struct {
	body        []byte
	contentType string
	etag        string
	// sri is the Subresource Integrity value the page names it with.
	sri string
}

// graphiqlAssets reads the embedded files once; a missing one is a build
// mistake, so it panics (at start-up, from routes()).
func graphiqlAssets() map[string]graphiqlAsset {
	entries, err := graphiqlFiles.ReadDir("graphiql")
	if err != nil {
		panic(err)
	}
	assets := make(map[string]graphiqlAsset, len(entries))
	for _, e := range entries {
		b, err := graphiqlFiles.ReadFile("graphiql/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		assets[e.Name()] = graphiqlAsset{
			body:        b,
			contentType: mime.TypeByExtension(path.Ext(e.Name())),
			etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
			sri:         "sha256-" + base64.StdEncoding.EncodeToString(sum[:]),
		}
	}
	return assets
}

// graphiql serves the GraphiQL page (GET /) and its embedded assets (GET
// /graphiql/assets/{name}); routes() mounts both only outside production.
func graphiql() (page, assets http.HandlerFunc) {
	files := graphiqlAssets()
	url := func(name string) string {
		if _, ok := files[name]; !ok {
			panic("graphiql: no embedded " + name)
		}
		return graphiqlAssetPrefix + name
	}
	// gqlgen's page with every URL pointed at the binary (its defaults are
	// the same files' bytes on jsdelivr). The explorer plugin stays off: it
	// would be one more bundle to vendor.
	h := playground.Handler("Jinjiang resident services", "/graphql",
		playground.WithGraphiqlVersion(url("graphiql.min.js"), url("graphiql.min.css"),
			files["graphiql.min.js"].sri, files["graphiql.min.css"].sri),
		playground.WithGraphiqlReactVersion(url("react.production.min.js"), url("react-dom.production.min.js"),
			files["react.production.min.js"].sri, files["react-dom.production.min.js"].sri),
	)
	page = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}
	assets = func(w http.ResponseWriter, r *http.Request) {
		a, ok := files[r.PathValue("name")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", a.contentType)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		// Unversioned URLs: the browser revalidates, and the ETag (the
		// content's hash) makes that a 304 until the binary changes.
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", a.etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	}
	return page, assets
}
