package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/seed"
)

// Response is a decoded GraphQL response.
type Response struct {
	Status int
	Data   map[string]any
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	}
	Raw []byte
}

// ErrorCode returns extensions.code of the first error, or "".
func (r *Response) ErrorCode() string {
	if len(r.Errors) == 0 {
		return ""
	}
	s, _ := r.Errors[0].Extensions["code"].(string)
	return s
}

// Get walks the data by a dotted path ("login.userErrors.0.code").
func (r *Response) Get(path string) any {
	var cur any = r.Data
	for _, p := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[p]
		case []any:
			var i int
			if _, err := fmt.Sscanf(p, "%d", &i); err != nil || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

// Str is Get as a string ("" when absent).
func (r *Response) Str(path string) string {
	s, _ := r.Get(path).(string)
	return s
}

// Do posts a GraphQL document with a bearer token (may be "").
func (e *Env) Do(t testing.TB, token, query string, vars map[string]any) *Response {
	t.Helper()
	return e.Send(t, newRequest(e.Server.URL, token, query, vars))
}

// DoFrom is Do for a client that a proxy in front of the server names as
// forwardedFor (the X-Forwarded-For header; believed only when the test
// server's peer, 127.0.0.1, is in TRUSTED_PROXY_CIDRS).
func (e *Env) DoFrom(t testing.TB, forwardedFor, token, query string, vars map[string]any) *Response {
	t.Helper()
	req := newRequest(e.Server.URL, token, query, vars)
	req.Header.Set("X-Forwarded-For", forwardedFor)
	return e.Send(t, req)
}

// TrustLocalProxy makes the server believe X-Forwarded-For from the test
// client (a proxy on 127.0.0.1 or ::1), so tests can speak from any
// address with DoFrom.
func TrustLocalProxy() Option {
	return WithConfig(func(c *config.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	})
}

// Send performs a raw request against the server and decodes the answer.
func (e *Env) Send(t testing.TB, req *http.Request) *Response {
	t.Helper()
	r, err := send(e.Server.Client(), req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	return r
}

// Post sends a GraphQL document to a server at base (one in another
// process). An error means no answer came (refused, reset, timed out) or
// the answer was not the JSON it claimed to be.
func Post(c *http.Client, base, token, query string, vars map[string]any) (*Response, error) {
	return send(c, newRequest(base, token, query, vars))
}

func newRequest(base, token, query string, vars map[string]any) *http.Request {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

func send(c *http.Client, req *http.Request) (*Response, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &Response{Status: resp.StatusCode, Raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, r); err != nil {
			return nil, fmt.Errorf("decode %s: %w", raw, err)
		}
	}
	return r, nil
}

// MustDo is Do that fails the test on any GraphQL error.
func (e *Env) MustDo(t testing.TB, token, query string, vars map[string]any) *Response {
	t.Helper()
	r := e.Do(t, token, query, vars)
	if len(r.Errors) > 0 || r.Status != 200 {
		t.Fatalf("graphql errors (status %d): %s", r.Status, r.Raw)
	}
	return r
}

// Login signs in and returns the access token, failing the test otherwise.
func (e *Env) Login(t testing.TB, username, password string) string {
	t.Helper()
	r := e.MustDo(t, "", `mutation($u:String!,$p:String!){login(input:{username:$u,password:$p}){accessToken userErrors{code message}}}`,
		map[string]any{"u": username, "p": password})
	tok := r.Str("login.accessToken")
	if tok == "" {
		t.Fatalf("login %s failed: %s", username, r.Raw)
	}
	return tok
}

// Admin signs in as the seeded admin.
func (e *Env) Admin(t testing.TB) string { return e.Login(t, "admin", AdminPassword) }

// As signs in as a seeded demo account: clerk, caseworker (春熙路街道),
// caseworker2 (牛市口街道), operator, auditor, telephony (INTEGRATION).
func (e *Env) As(t testing.TB, username string) string {
	return e.Login(t, username, seed.DemoPassword)
}
