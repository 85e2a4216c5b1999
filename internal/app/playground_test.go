package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/testenv"
)

// get fetches path from the test server, with an optional If-None-Match.
func get(t *testing.T, base, path, etag string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestGraphiQLWorksOffline: the page names only the binary's own assets
// (nothing from a CDN: an offline network showed a blank page), every one is
// served with its content type, and its integrity attribute matches what is
// served, or the browser would refuse it. The vendored files are all used.
func TestGraphiQLWorksOffline(t *testing.T) {
	e := testenv.New(t)
	resp, page := get(t, e.Server.URL, "/", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if bytes.Contains(page, []byte("https://")) || bytes.Contains(page, []byte("http://")) || bytes.Contains(page, []byte(`"//`)) {
		t.Fatalf("the page names an absolute URL:\n%s", page)
	}
	tags := regexp.MustCompile(`(?s)<(script|link)\b([^>]*)>`).FindAllSubmatch(page, -1)
	attr := func(tag []byte, name string) string {
		m := regexp.MustCompile(`\b` + name + `="([^"]*)"`).FindSubmatch(tag)
		if m == nil {
			return ""
		}
		return html.UnescapeString(string(m[1])) // as the browser reads it
	}
	wantType := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	used := map[string]bool{}
	for _, tag := range tags {
		url := attr(tag[2], "src") + attr(tag[2], "href")
		if url == "" {
			continue // the inline script
		}
		if !strings.HasPrefix(url, "/graphiql/assets/") {
			t.Errorf("%s: not one of the embedded assets", url)
			continue
		}
		resp, body := get(t, e.Server.URL, url, "")
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", url, resp.StatusCode)
			continue
		}
		if got, want := resp.Header.Get("Content-Type"), wantType[filepath.Ext(url)]; got != want {
			t.Errorf("GET %s: Content-Type %q, want %q", url, got, want)
		}
		sum := sha256.Sum256(body)
		if got, want := attr(tag[2], "integrity"), "sha256-"+base64.StdEncoding.EncodeToString(sum[:]); got != want {
			t.Errorf("%s: integrity %q, the body's is %q", url, got, want)
		}
		vendored, err := os.ReadFile(filepath.Join("graphiql", filepath.Base(url)))
		if err != nil || !bytes.Equal(body, vendored) {
			t.Errorf("GET %s: not the vendored file (%v)", url, err)
		}
		if resp.ContentLength < 1000 {
			t.Errorf("GET %s: %d bytes", url, resp.ContentLength)
		}
		// Revalidation costs a 304, not the megabyte again.
		if r, _ := get(t, e.Server.URL, url, resp.Header.Get("ETag")); r.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", url, r.StatusCode)
		}
		used[filepath.Base(url)] = true
	}
	files, _ := filepath.Glob("graphiql/*.[jc]s*")
	if len(files) != 4 || len(used) != len(files) {
		t.Errorf("the page uses %v; vendored: %v", used, files)
	}
	if r, _ := get(t, e.Server.URL, "/graphiql/assets/LICENSE.react", ""); r.StatusCode != 404 {
		t.Errorf("a file that is not an asset: %d, want 404", r.StatusCode)
	}
}

// TestGraphiQLNotInProduction: neither the page nor its assets are served in
// production.
func TestGraphiQLNotInProduction(t *testing.T) {
	e := testenv.New(t, testenv.WithConfig(func(c *config.Config) { c.Env = "production" }))
	for _, path := range []string{"/", "/graphiql/assets/graphiql.min.js"} {
		if r, _ := get(t, e.Server.URL, path, ""); r.StatusCode != 404 {
			t.Errorf("production GET %s: %d, want 404", path, r.StatusCode)
		}
	}
}

// graphiqlSchemaQuery is the query GraphiQL 4 sends when the page opens
// (graphql-js getIntrospectionQuery with inputValueDeprecation): its TypeRef
// fragment nests ofType to depth 15, past MaxDepth.
const graphiqlSchemaQuery = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue isDeprecated deprecationReason }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}`

// TestGraphiQLSchemaQuery: in development GraphiQL's schema query is
// answered (without it the page has no docs and no completion), while an
// operation that reads data is still held to the depth limit, also when it
// is sent alongside introspection.
func TestGraphiQLSchemaQuery(t *testing.T) {
	e := testenv.New(t)
	r := e.MustDo(t, "", graphiqlSchemaQuery, nil)
	if r.Str("__schema.queryType.name") != "Query" {
		t.Fatalf("GraphiQL's schema query: %s", r.Raw)
	}
	deep := "orgUnits(kind: STREET) { id " + strings.Repeat("children { id ", 12) + strings.Repeat("}", 13)
	tok := e.Admin(t)
	for _, q := range []string{"{ " + deep + " }", "{ __typename " + deep + " }"} {
		if r := e.Do(t, tok, q, nil); !strings.Contains(string(r.Raw), "查询深度 14 超过上限 12") {
			t.Errorf("a data query of depth 14 (%.40s…): %s", q, r.Raw)
		}
	}
}
