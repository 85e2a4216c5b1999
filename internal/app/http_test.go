package app_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/testenv"
)

func post(t *testing.T, e *testenv.Env, contentType, body, token string) *testenv.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.Send(t, req)
}

func TestRequestLimits(t *testing.T) {
	e := testenv.New(t)
	tok := e.Admin(t)

	deep := "{ orgUnits { " + strings.Repeat("children { ", 14) + "id" + strings.Repeat(" }", 14) + " } }"
	aliases := "{ " + strings.Repeat("a%d: me { id } ", 1)
	var b strings.Builder
	b.WriteString("{ ")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, "a%d: me { id } ", i)
	}
	b.WriteString("}")
	aliases = b.String()
	directives := "{ me { " + strings.Repeat("id @include(if: true) ", 30) + "} }"
	tokens := "{ me { " + strings.Repeat("id ", 20000) + "} }"
	wide := `{ a: auditLog(first: 100) { edges { node { action } } } b: orgUnits { children { children { children { children { id } } } } } }`
	cases := []struct{ name, query, want string }{
		{"depth", deep, "depth"},
		{"aliases", aliases, "aliases"},
		{"directives", directives, "directives"},
		{"tokens", tokens, "token limit"},
		{"complexity", wide, "complexity"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.Do(t, tok, c.query, nil)
			if len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, c.want) || r.Data != nil && len(r.Data) > 0 {
				t.Fatalf("want error containing %q, got %.300s", c.want, r.Raw)
			}
		})
	}

	t.Run("body over 100 KiB is 413", func(t *testing.T) {
		body := `{"query":"{ me { id } }","variables":{"pad":"` + strings.Repeat("x", 200<<10) + `"}}`
		r := post(t, e, "application/json", body, tok)
		if r.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", r.Status)
		}
	})
	t.Run("chunked body over 100 KiB is refused", func(t *testing.T) {
		body := `{"query":"{ me { id } }","variables":{"pad":"` + strings.Repeat("x", 200<<10) + `"}}`
		req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/graphql", io.NopCloser(bytes.NewReader([]byte(body))))
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		r := e.Send(t, req)
		if r.Status == http.StatusOK && len(r.Errors) == 0 {
			t.Fatalf("oversized chunked body accepted: %.200s", r.Raw)
		}
	})
	t.Run("mutation over GET is refused", func(t *testing.T) {
		q := url.QueryEscape(`mutation{logout}`)
		req, _ := http.NewRequest(http.MethodGet, e.Server.URL+"/graphql?query="+q, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		r := e.Send(t, req)
		if len(r.Errors) == 0 || r.Get("logout") != nil {
			t.Fatalf("mutation over GET ran: %s", r.Raw)
		}
		if e.Do(t, tok, meQuery, nil).ErrorCode() != "" {
			t.Fatal("the session was logged out by a GET")
		}
	})
	t.Run("query over GET works", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, e.Server.URL+"/graphql?query="+url.QueryEscape(`{me{id}}`), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if r := e.Send(t, req); r.Str("me.id") == "" {
			t.Fatalf("GET query: %s", r.Raw)
		}
	})
	t.Run("array batching is refused", func(t *testing.T) {
		r := post(t, e, "application/json", `[{"query":"{me{id}}"},{"query":"{me{id}}"}]`, tok)
		if r.Status == http.StatusOK && !strings.Contains(string(r.Raw), "errors") {
			t.Fatalf("batch executed: %s", r.Raw)
		}
		if strings.Contains(string(r.Raw), `"me"`) {
			t.Fatalf("batch executed: %s", r.Raw)
		}
	})
	for _, ct := range []string{"text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"} {
		t.Run("mutation as "+ct+" is refused", func(t *testing.T) {
			r := post(t, e, ct, `{"query":"mutation{logout}"}`, tok)
			if r.Get("logout") != nil || r.Status == http.StatusOK && len(r.Errors) == 0 {
				t.Fatalf("status %d: %s", r.Status, r.Raw)
			}
			if e.Do(t, tok, meQuery, nil).ErrorCode() != "" {
				t.Fatal("the session was logged out by a simple request")
			}
		})
	}
	t.Run("first outside 1..100", func(t *testing.T) {
		for _, n := range []int{0, -1, 101, 100000} {
			r := e.Do(t, tok, `query($n:Int){auditLog(first:$n){edges{cursor}}}`, map[string]any{"n": n})
			if r.ErrorCode() != "BAD_USER_INPUT" {
				t.Fatalf("first=%d: %s", n, r.Raw)
			}
		}
	})
	t.Run("malformed JSON is not echoed", func(t *testing.T) {
		r := post(t, e, "application/json", `{"query":"{me{id}}","variables":{"idNumber":"11010519491231002X"`, tok)
		if strings.Contains(string(r.Raw), "11010519491231002X") || len(r.Errors) == 0 {
			t.Fatalf("echoed or accepted: %s", r.Raw)
		}
		if strings.Contains(e.Logs(), "11010519491231002X") {
			t.Fatal("the ID number reached the logs")
		}
	})
	t.Run("bad global id", func(t *testing.T) {
		r := e.Do(t, tok, `{node(id:"not-an-id"){id}}`, nil)
		if r.ErrorCode() != "BAD_USER_INPUT" || strings.Contains(string(r.Raw), "not-an-id\"") && !strings.Contains(r.Errors[0].Message, "invalid id") {
			t.Fatalf("got %s", r.Raw)
		}
	})
}

func TestIntrospectionOnlyInDevelopment(t *testing.T) {
	const q = `{ __schema { queryType { name } } }`
	dev := testenv.New(t)
	tok := dev.Admin(t)
	if r := dev.Do(t, tok, q, nil); r.Str("__schema.queryType.name") != "Query" {
		t.Fatalf("dev introspection: %s", r.Raw)
	}
	prod := testenv.New(t, testenv.WithConfig(func(c *config.Config) { c.Env = "production" }))
	ptok := prod.Admin(t)
	if r := prod.Do(t, ptok, q, nil); len(r.Errors) == 0 || r.Get("__schema") != nil {
		t.Fatalf("production introspection: %s", r.Raw)
	}
	// No field suggestions in production either.
	r := prod.Do(t, ptok, `{ mee { id } }`, nil)
	if len(r.Errors) == 0 || strings.Contains(r.Errors[0].Message, "Did you mean") {
		t.Fatalf("production suggests fields: %s", r.Raw)
	}
	resp, err := http.Get(prod.Server.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("GraphiQL served in production")
	}
}

func TestHealthReadinessMetrics(t *testing.T) {
	e := testenv.New(t)
	tok := e.Admin(t)
	e.MustDo(t, tok, meQuery, nil)
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": `"postgres":"ok"`, "/metrics": `graphql_operations_total{operation="query:me",outcome="ok"}`} {
		resp, err := http.Get(e.Server.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("%s: %d %.300s", path, resp.StatusCode, body)
		}
		if path == "/metrics" && !strings.Contains(string(body), "go_sql_max_open_connections") {
			t.Fatal("no pool stats in /metrics")
		}
	}
	e.App.Drain()
	resp, _ := http.Get(e.Server.URL + "/readyz")
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while draining = %d", resp.StatusCode)
	}
	if !strings.Contains(e.Logs(), `"request_id"`) {
		t.Fatal("log lines carry no request id")
	}
}
