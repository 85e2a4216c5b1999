package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// client speaks GraphQL over real HTTP/1.1 with a keep-alive pool. It is
// fasthttp's client, not net/http's: the generator shares the two cores
// with the server, and net/http's client (two goroutines per connection,
// channel hand-offs per request) cost it about 0.1 ms of CPU per request,
// a fifth of the machine under the read mix.
type client struct {
	url  string
	http *fasthttp.Client
}

func newClient(url string, conns int) *client {
	// Preparation steps run 16 at a time whatever -concurrency says
	// (enrollAll): a low -concurrency must not starve them of connections.
	conns = max(conns, 16)
	return &client{url: strings.TrimRight(url, "/"), http: &fasthttp.Client{
		MaxConnsPerHost: conns * 2, MaxIdleConnDuration: time.Minute,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		NoDefaultUserAgentHeader: true, DisableHeaderNamesNormalizing: true,
	}}
}

// gqlResponse keeps data undecoded until something reads it: a timed
// request checks only for errors, and decoding a 100-row page into maps
// cost the generator about 1.5 ms of the CPU it shares with the server.
type gqlResponse struct {
	RawData json.RawMessage `json:"data"`
	Errors  []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
	status int
	data   map[string]any
}

// Data decodes the response's data on first use.
func (r *gqlResponse) Data() map[string]any {
	if r.data == nil && len(r.RawData) > 0 {
		_ = json.Unmarshal(r.RawData, &r.data)
	}
	return r.data
}

// errCode is the first error's extensions.code, a userErrors code, or "".
func (r *gqlResponse) errCode(field string) string {
	if r.status >= 500 {
		return fmt.Sprintf("HTTP_%d", r.status)
	}
	if len(r.Errors) > 0 {
		if c, ok := r.Errors[0].Extensions["code"].(string); ok {
			return c
		}
		return "ERROR"
	}
	if field != "" {
		if p, ok := r.Data()[field].(map[string]any); ok {
			if ues, ok := p["userErrors"].([]any); ok && len(ues) > 0 {
				if ue, ok := ues[0].(map[string]any); ok {
					return fmt.Sprint(ue["code"])
				}
			}
		}
	}
	return ""
}

func (c *client) do(ctx context.Context, token, query string, vars map[string]any) (*gqlResponse, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(c.url + "/graphql")
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.SetBodyRaw(body)
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	if err := c.http.DoDeadline(req, resp, deadline); err != nil {
		return nil, err
	}
	out := &gqlResponse{status: resp.StatusCode()}
	// Decoding copies what it keeps (RawData too): the body is released
	// with the response.
	raw := resp.Body()
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("decode (%d): %.200s", out.status, raw)
	}
	return out, nil
}

func (c *client) login(ctx context.Context, user, pw string) (string, error) {
	r, err := c.do(ctx, "", `mutation($u:String!,$p:String!){login(input:{username:$u,password:$p}){accessToken userErrors{code}}}`,
		map[string]any{"u": user, "p": pw})
	if err != nil {
		return "", err
	}
	tok, _ := dig(r.Data(), "login", "accessToken").(string)
	if tok == "" {
		return "", fmt.Errorf("login %s failed: %v", user, r.errCode("login"))
	}
	return tok, nil
}

// dig walks nested maps and slices by keys and indexes.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}
