package app_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jinjiang/residents/internal/testenv"
)

// FuzzGraphQLRequest throws arbitrary bodies at /graphql: the server never
// answers 5xx (other than 503), never panics, and never echoes the body.
func FuzzGraphQLRequest(f *testing.F) {
	e := testenv.New(f)
	h := e.App.Handler()
	for _, s := range []string{
		`{"query":"{me{id}}"}`, `{"query":"mutation{login(input:{username:\"a\",password:\"b\"}){accessToken}}"}`,
		`[{"query":"{me{id}}"}]`, `{"query":`, `{"query":"{__schema{types{name}}}","variables":{"x":"510104194506150011"}}`,
		`{"query":"query($n:Int){auditLog(first:$n){edges{cursor}}}","variables":{"n":1e400}}`, "\x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body.String())
		}
		if len(body) >= 12 && !strings.Contains(`{"query":"{me{id}}"}`, body) && strings.Contains(rec.Body.String(), body) {
			t.Fatalf("body echoed: %q", body)
		}
	})
}
