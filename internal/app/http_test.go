package app_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jinjiang/residents/internal/app"
	"github.com/jinjiang/residents/internal/testenv"
)

// TestQueryOverGET: queries may use GET (mutations may not; see the
// attack suite).
func TestQueryOverGET(t *testing.T) {
	e := testenv.New(t)
	req, _ := http.NewRequest(http.MethodGet, e.Server.URL+"/graphql?query="+url.QueryEscape(`{me{id}}`), nil)
	req.Header.Set("Authorization", "Bearer "+e.Admin(t))
	if r := e.Send(t, req); r.Str("me.id") == "" {
		t.Fatalf("GET query: %s", r.Raw)
	}
}

// TestIntrospectionInDevelopment: introspection works outside production
// (the attack suite proves it is refused in production).
func TestIntrospectionInDevelopment(t *testing.T) {
	dev := testenv.New(t)
	if r := dev.Do(t, dev.Admin(t), `{ __schema { queryType { name } } }`, nil); r.Str("__schema.queryType.name") != "Query" {
		t.Fatalf("dev introspection: %s", r.Raw)
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

// TestRefusedRequestsAreLogged: bodies refused before GraphQL (over the
// cap, with or without a declared length, or not JSON) still get their
// request log line, with the status they were answered.
func TestRefusedRequestsAreLogged(t *testing.T) {
	e := testenv.New(t)
	big := strings.Repeat("x", app.MaxBodyBytes+1)
	for _, c := range []struct {
		name   string
		body   io.Reader
		status int
	}{
		{"declared too large", strings.NewReader(big), http.StatusRequestEntityTooLarge},
		{"chunked too large", io.MultiReader(strings.NewReader(big)), http.StatusRequestEntityTooLarge},
		{"not JSON", strings.NewReader(`{"query":`), http.StatusBadRequest},
	} {
		resp, err := http.Post(e.Server.URL+"/graphql", "application/json", c.body)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		resp.Body.Close()
		rid := resp.Header.Get("X-Request-Id")
		if resp.StatusCode != c.status || rid == "" {
			t.Fatalf("%s: %d, request id %q", c.name, resp.StatusCode, rid)
		}
		var line string
		for _, l := range strings.Split(e.Logs(), "\n") {
			if strings.Contains(l, `"request_id":"`+rid+`"`) && strings.Contains(l, `"msg":"request"`) {
				line = l
			}
		}
		if !strings.Contains(line, fmt.Sprintf(`"status":%d`, c.status)) {
			t.Fatalf("%s: no request log line with its status: %q", c.name, line)
		}
	}
}
