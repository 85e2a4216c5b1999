package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/testenv"
)

// The server audits of the graphql-http project
// (github.com/graphql/graphql-http, src/audits/server.ts): each audit's
// request and expectation, under its id, run through the whole handler.
// All of them pass, MUST, SHOULD and MAY, except in production the four
// that read a __type field with a variable: introspection is off there (see introspectionAudits).

// httpAudit is one audit: a request and what its answer must be.
type httpAudit struct {
	id, name string
	// get sends GET /graphql?params; otherwise POST with body.
	get    url.Values
	body   string
	noBody bool
	// contentType and accept are the request's headers ("" leaves it out).
	contentType, accept string
	expect              []expectation
}

// expectation checks one thing of an answer.
type expectation func(status int, h http.Header, body []byte) error

func status(code int) expectation {
	return func(s int, _ http.Header, _ []byte) error {
		if s != code {
			return fmt.Errorf("status %d, want %d", s, code)
		}
		return nil
	}
}

func statusBetween(lo, hi int) expectation {
	return func(s int, _ http.Header, _ []byte) error {
		if s < lo || s > hi {
			return fmt.Errorf("status %d, want %d..%d", s, lo, hi)
		}
		return nil
	}
}

func contentType(part string) expectation {
	return func(_ int, h http.Header, _ []byte) error {
		if !strings.Contains(h.Get("Content-Type"), part) {
			return fmt.Errorf("content-type %q does not contain %q", h.Get("Content-Type"), part)
		}
		return nil
	}
}

// without asserts the body is a JSON object without the key (errors, data).
func without(key string) expectation {
	return func(_ int, _ http.Header, b []byte) error {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("body is not a JSON object: %v", err)
		}
		if _, ok := m[key]; ok {
			return fmt.Errorf("body has %q", key)
		}
		return nil
	}
}

// errorCode asserts the first error's extensions.code (the project's own
// contract, beyond the audit).
func errorCode(code string) expectation {
	return func(_ int, _ http.Header, b []byte) error {
		var r struct {
			Errors []struct {
				Extensions map[string]any `json:"extensions"`
			} `json:"errors"`
		}
		if err := json.Unmarshal(b, &r); err != nil || len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != code {
			return fmt.Errorf("first error's code is not %s", code)
		}
		return nil
	}
}

func utf8Body(_ int, _ http.Header, b []byte) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("body is not UTF-8")
	}
	return nil
}

const (
	jsonType = "application/json"
	gqlType  = "application/graphql-response+json"
)

func jsonBody(v map[string]any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func graphqlHTTPAudits() []httpAudit {
	typename := jsonBody(map[string]any{"query": "{ __typename }"})
	typeQuery := "query Type($name: String!) { __type(name: $name) { name } }"
	typeVars := map[string]any{"name": "sometype"}
	audits := []httpAudit{
		{id: "22EB", name: "SHOULD accept application/graphql-response+json and match the content-type", body: typename, contentType: jsonType, accept: gqlType,
			expect: []expectation{status(200), contentType(gqlType)}},
		{id: "4655", name: "MUST accept application/json and match the content-type", body: typename, contentType: jsonType, accept: jsonType,
			expect: []expectation{status(200), contentType(jsonType)}},
		{id: "47DE", name: "SHOULD accept */* and use application/json for the content-type", body: typename, contentType: jsonType, accept: "*/*",
			expect: []expectation{status(200), contentType(jsonType)}},
		{id: "80D8", name: "SHOULD assume application/json content-type when accept is missing", body: typename, contentType: jsonType,
			expect: []expectation{status(200), contentType(jsonType)}},
		{id: "82A3", name: "MUST use utf-8 encoding when responding", body: typename, contentType: jsonType,
			expect: []expectation{status(200), utf8Body}},
		{id: "BF61", name: "MUST accept utf-8 encoded request", body: jsonBody(map[string]any{"query": `{ __type(name: "Run🏃Swim🏊") { name } }`}), contentType: "application/json; charset=utf-8",
			expect: []expectation{status(200)}},
		{id: "78D5", name: "MUST assume utf-8 in request if encoding is unspecified", body: typename, contentType: jsonType,
			expect: []expectation{status(200)}},
		{id: "2C94", name: "MUST accept POST requests", body: typename, contentType: jsonType,
			expect: []expectation{status(200)}},
		{id: "5A70", name: "MAY accept application/x-www-form-urlencoded formatted GET requests", get: url.Values{"query": {"{ __typename }"}}, accept: "*/*",
			expect: []expectation{status(200)}},
		{id: "9C48", name: "MAY NOT allow executing mutations on GET requests", get: url.Values{"query": {"mutation { __typename }"}}, accept: gqlType,
			expect: []expectation{statusBetween(400, 499)}},
		{id: "9ABE", name: "SHOULD respond with 4xx status code if content-type is not supplied on POST requests", body: typename,
			expect: []expectation{statusBetween(400, 499)}},
		{id: "03D4", name: "MUST accept application/json POST requests", body: typename, contentType: jsonType,
			expect: []expectation{status(200)}},
		{id: "A5BF", name: "MAY use 400 status code when request body is missing on POST", noBody: true, contentType: jsonType,
			expect: []expectation{status(400)}},
		{id: "423L", name: "MAY use 400 status code on missing {query} parameter", body: jsonBody(map[string]any{"notquery": "{ __typename }"}), contentType: jsonType, accept: gqlType,
			expect: []expectation{status(400)}},
		{id: "34A2", name: "SHOULD allow string {query} parameter when accepting application/graphql-response+json", body: typename, contentType: jsonType, accept: gqlType,
			expect: []expectation{status(200)}},
		{id: "13EE", name: "MUST allow string {query} parameter when accepting application/json", body: typename, contentType: jsonType, accept: jsonType,
			expect: []expectation{status(200), without("errors")}},
		{id: "8161", name: "SHOULD allow string {operationName} parameter when accepting application/graphql-response+json",
			body: jsonBody(map[string]any{"operationName": "Query", "query": "query Query { __typename }"}), contentType: jsonType, accept: gqlType,
			expect: []expectation{status(200)}},
		{id: "B8B3", name: "MUST allow string {operationName} parameter when accepting application/json",
			body: jsonBody(map[string]any{"operationName": "Query", "query": "query Query { __typename }"}), contentType: jsonType, accept: jsonType,
			expect: []expectation{status(200), without("errors")}},
		{id: "2EA1", name: "SHOULD allow map {variables} parameter when accepting application/graphql-response+json",
			body: jsonBody(map[string]any{"query": typeQuery, "variables": typeVars}), contentType: jsonType, accept: gqlType,
			expect: []expectation{status(200)}},
		{id: "28B9", name: "MUST allow map {variables} parameter when accepting application/json",
			body: jsonBody(map[string]any{"query": typeQuery, "variables": typeVars}), contentType: jsonType, accept: jsonType,
			expect: []expectation{status(200), without("errors")}},
		{id: "D6D5", name: "MAY allow URL-encoded JSON string {variables} parameter in GETs when accepting application/graphql-response+json",
			get: url.Values{"query": {typeQuery}, "variables": {`{"name":"sometype"}`}}, accept: gqlType,
			expect: []expectation{status(200), without("errors")}},
		{id: "6A70", name: "MAY allow URL-encoded JSON string {variables} parameter in GETs when accepting application/json",
			get: url.Values{"query": {typeQuery}, "variables": {`{"name":"sometype"}`}}, accept: jsonType,
			expect: []expectation{status(200), without("errors")}},
		{id: "428F", name: "SHOULD allow map {extensions} parameter when accepting application/graphql-response+json",
			body: jsonBody(map[string]any{"query": "{ __typename }", "extensions": map[string]any{"some": "value"}}), contentType: jsonType, accept: gqlType,
			expect: []expectation{status(200)}},
		{id: "1B7A", name: "MUST allow map {extensions} parameter when accepting application/json",
			body: jsonBody(map[string]any{"query": "{ __typename }", "extensions": map[string]any{"some": "value"}}), contentType: jsonType, accept: jsonType,
			expect: []expectation{status(200), without("errors")}},
		{id: "B6DC", name: "MAY use 2xx, 4xx, or 5xx status codes on JSON parsing failure when accepting application/json", body: `{ "not a JSON`, contentType: jsonType, accept: jsonType,
			expect: []expectation{statusBetween(200, 599)}},
		{id: "BCF8", name: "SHOULD use 400 status code on JSON parsing failure when accepting application/json", body: `{ "not a JSON`, contentType: jsonType, accept: jsonType,
			expect: []expectation{status(400)}},
		{id: "B7N8", name: "SHOULD use 400 status code on JSON parsing failure when accepting application/graphql-response+json", body: `{ "not a JSON`, contentType: jsonType, accept: gqlType,
			expect: []expectation{status(400)}},
		{id: "8764", name: "MAY use 4xx or 5xx status codes if parameters are invalid", body: jsonBody(map[string]any{"qeury": "{ __typename }"}), contentType: jsonType,
			expect: []expectation{statusBetween(400, 599)}},
		{id: "3E3A", name: "MAY use 400 status code if parameters are invalid", body: jsonBody(map[string]any{"qeury": "{ __typename }"}), contentType: jsonType,
			expect: []expectation{status(400)}},
		{id: "572B", name: "SHOULD use 200 status code on document parsing failure when accepting application/json", body: jsonBody(map[string]any{"query": "{"}), contentType: jsonType, accept: jsonType,
			expect: []expectation{status(200), errorCode("GRAPHQL_PARSE_FAILED")}},
		{id: "FDE2", name: "SHOULD use 200 status code on document validation failure when accepting application/json",
			body: jsonBody(map[string]any{"query": "{ 8f31403dfe404bccbb0e835f2629c6a7 }"}), contentType: jsonType, accept: jsonType,
			expect: []expectation{status(200)}},
		{id: "7B9B", name: "SHOULD use a status code of 200 on variable coercion failure when accepting application/json",
			body: jsonBody(map[string]any{"query": "query CoerceFailure($id: ID!){ __typename }", "variables": map[string]any{"id": nil}}), contentType: jsonType, accept: jsonType,
			expect: []expectation{status(200), errorCode("GRAPHQL_VALIDATION_FAILED")}},
		{id: "865D", name: "SHOULD use 4xx or 5xx status codes on document parsing failure when accepting application/graphql-response+json",
			body: jsonBody(map[string]any{"query": "{"}), contentType: jsonType, accept: gqlType,
			expect: []expectation{statusBetween(400, 599)}},
		{id: "556A", name: "SHOULD use 400 status code on document parsing failure when accepting application/graphql-response+json",
			body: jsonBody(map[string]any{"query": "{"}), contentType: jsonType, accept: gqlType,
			expect: []expectation{status(400), contentType(gqlType), errorCode("GRAPHQL_PARSE_FAILED")}},
		{id: "D586", name: "SHOULD not contain the data entry on document parsing failure when accepting application/graphql-response+json",
			body: jsonBody(map[string]any{"query": "{"}), contentType: jsonType, accept: gqlType,
			expect: []expectation{without("data")}},
		{id: "51FE", name: "SHOULD use 4xx or 5xx status codes on document validation failure when accepting application/graphql-response+json",
			body: jsonBody(map[string]any{"query": "{ 8f31403dfe404bccbb0e835f2629c6a7 }"}), contentType: jsonType, accept: gqlType,
			expect: []expectation{statusBetween(400, 599)}},
		{id: "74FF", name: "SHOULD use 400 status code on document validation failure when accepting application/graphql-response+json",
			body: jsonBody(map[string]any{"query": "{ 8f31403dfe404bccbb0e835f2629c6a7 }"}), contentType: jsonType, accept: gqlType,
			expect: []expectation{status(400)}},
		{id: "5E5B", name: "SHOULD not contain the data entry on document validation failure when accepting application/graphql-response+json",
			body: jsonBody(map[string]any{"query": "{ 8f31403dfe404bccbb0e835f2629c6a7 }"}), contentType: jsonType, accept: gqlType,
			expect: []expectation{without("data")}},
		{id: "86EE", name: "SHOULD use a status code of 400 on variable coercion failure when accepting application/graphql-response+json",
			body: jsonBody(map[string]any{"query": "query CoerceFailure($id: ID!){ __typename }", "variables": map[string]any{"id": nil}}), contentType: jsonType, accept: gqlType,
			expect: []expectation{status(400), errorCode("GRAPHQL_VALIDATION_FAILED")}},
	}
	invalid := []struct {
		kind string
		v    any
	}{{"object", map[string]any{"obj": "ect"}}, {"number", 0}, {"boolean", false}, {"array", []any{"array"}}}
	for i, inv := range invalid {
		audits = append(audits,
			httpAudit{id: fmt.Sprintf("LKJ%d", i), name: "MAY use 400 status code on " + inv.kind + " {query} parameter",
				body: jsonBody(map[string]any{"query": inv.v}), contentType: jsonType, expect: []expectation{status(400)}},
			httpAudit{id: fmt.Sprintf("6C0%d", i), name: "MAY use 400 status code on " + inv.kind + " {operationName} parameter",
				body: jsonBody(map[string]any{"operationName": inv.v, "query": "{ __typename }"}), contentType: jsonType, expect: []expectation{status(400)}})
	}
	// {variables} and {extensions}: the audit's first invalid value is a string.
	invalid[0] = struct {
		kind string
		v    any
	}{"string", "string"}
	for i, inv := range invalid {
		audits = append(audits,
			httpAudit{id: fmt.Sprintf("476%d", i), name: "MAY use 400 status code on " + inv.kind + " {variables} parameter",
				body: jsonBody(map[string]any{"query": "{ __typename }", "variables": inv.v}), contentType: jsonType, expect: []expectation{status(400)}},
			httpAudit{id: fmt.Sprintf("58B%d", i), name: "MAY use 400 status code on " + inv.kind + " {extensions} parameter",
				body: jsonBody(map[string]any{"query": "{ __typename }", "extensions": inv.v}), contentType: jsonType, expect: []expectation{status(400)}})
	}
	for i, p := range []string{"variables", "operationName", "extensions"} {
		body := jsonBody(map[string]any{"query": "{ __typename }", p: nil})
		audits = append(audits,
			httpAudit{id: fmt.Sprintf("94B%d", i), name: "SHOULD allow null {" + p + "} parameter when accepting application/graphql-response+json",
				body: body, contentType: jsonType, accept: gqlType, expect: []expectation{status(200), without("errors")}},
			httpAudit{id: fmt.Sprintf("022%d", i), name: "MUST allow null {" + p + "} parameter when accepting application/json",
				body: body, contentType: jsonType, accept: jsonType, expect: []expectation{status(200), without("errors")}})
	}
	return audits
}

// introspectionAudits read __type to have a query with a String variable;
// production refuses introspection before execution (TestAttackSuite,
// "introspection in production"), so there they answer a validation error.
var introspectionAudits = map[string]bool{"2EA1": true, "28B9": true, "D6D5": true, "6A70": true}

func (a httpAudit) send(t *testing.T, e *testenv.Env) (int, http.Header, []byte) {
	t.Helper()
	var req *http.Request
	if a.get != nil {
		req, _ = http.NewRequest(http.MethodGet, e.Server.URL+"/graphql?"+a.get.Encode(), nil)
	} else {
		var body io.Reader
		if !a.noBody {
			body = strings.NewReader(a.body)
		}
		req, _ = http.NewRequest(http.MethodPost, e.Server.URL+"/graphql", body)
	}
	if a.contentType != "" {
		req.Header.Set("Content-Type", a.contentType)
	}
	if a.accept != "" {
		req.Header.Set("Accept", a.accept)
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatalf("%s: %v", a.id, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", a.id, err)
	}
	return resp.StatusCode, resp.Header, b
}

// TestGraphQLOverHTTPAudits runs every server audit of graphql-http
// against the development server and the production one.
func TestGraphQLOverHTTPAudits(t *testing.T) {
	audits := graphqlHTTPAudits()
	ids := map[string]bool{}
	for _, a := range audits {
		ids[a.id] = true
	}
	if len(audits) != 61 || len(ids) != 61 {
		t.Fatalf("%d audits, %d ids; server.ts has 61", len(audits), len(ids))
	}
	for _, env := range []struct {
		name string
		e    *testenv.Env
	}{
		{"development", testenv.New(t)},
		{"production", testenv.New(t, testenv.WithConfig(func(c *config.Config) { c.Env = "production" }))},
	} {
		t.Run(env.name, func(t *testing.T) {
			for _, a := range audits {
				t.Run(a.id, func(t *testing.T) {
					s, h, b := a.send(t, env.e)
					expect := a.expect
					if env.name == "production" && introspectionAudits[a.id] {
						expect = []expectation{status(200), errorCode("GRAPHQL_VALIDATION_FAILED"), without("data")}
						if a.accept == gqlType {
							expect[0] = status(400)
						}
					}
					for _, x := range expect {
						if err := x(s, h, b); err != nil {
							t.Errorf("%s %s: %v: %.300s", a.id, a.name, err, b)
						}
					}
				})
			}
		})
	}
}

// TestRequestErrorsByMediaType: beyond the audits, every refusal before
// execution (a real validation failure, a limit, a NUL, over GET too)
// answers without data, 200 with application/json and 400 with
// application/graphql-response+json; an executed operation answers 200
// with data either way; Accept is read with its q values.
func TestRequestErrorsByMediaType(t *testing.T) {
	e := testenv.New(t)
	deep := "{ orgUnits { " + strings.Repeat("children { ", 14) + "id" + strings.Repeat(" }", 14) + " } }"
	for _, c := range []struct {
		name        string
		get         url.Values
		body        string
		accept      string
		status      int
		code, media string
	}{
		{"validation failure, json", nil, jsonBody(map[string]any{"query": "{ notAField }"}), jsonType, 200, "GRAPHQL_VALIDATION_FAILED", jsonType},
		{"validation failure, graphql-response", nil, jsonBody(map[string]any{"query": "{ notAField }"}), gqlType, 400, "GRAPHQL_VALIDATION_FAILED", gqlType},
		{"depth limit, json", nil, jsonBody(map[string]any{"query": deep}), jsonType, 200, "BAD_USER_INPUT", jsonType},
		{"depth limit, graphql-response", nil, jsonBody(map[string]any{"query": deep}), gqlType, 400, "BAD_USER_INPUT", gqlType},
		{"NUL, graphql-response", nil, jsonBody(map[string]any{"query": "mutation($s: String!) { login(input: {username: $s, password: \"x\"}) { accessToken } }", "variables": map[string]any{"s": "a\x00"}}), gqlType, 400, "BAD_USER_INPUT", gqlType},
		{"string for Int, graphql-response", nil, jsonBody(map[string]any{"query": "query($n: Int) { residents(first: $n) { totalCount } }", "variables": map[string]any{"n": "many"}}), gqlType, 400, "GRAPHQL_VALIDATION_FAILED", gqlType},
		{"GET parse failure, graphql-response", url.Values{"query": {"{"}}, "", gqlType, 400, "GRAPHQL_PARSE_FAILED", gqlType},
		{"GET validation failure, json", url.Values{"query": {"{ notAField }"}}, "", jsonType, 200, "GRAPHQL_VALIDATION_FAILED", jsonType},
		{"GET variables not an object", url.Values{"query": {"{ __typename }"}, "variables": {"[1]"}}, "", gqlType, 400, "BAD_USER_INPUT", gqlType},
		{"GET without query", url.Values{"operationName": {"Q"}}, "", jsonType, 400, "BAD_USER_INPUT", jsonType},
		{"trailing data after the request object", nil, `{"query":"{ __typename }"} {"query":"mutation { logout }"}`, jsonType, 400, "BAD_USER_INPUT", jsonType},
		{"graphql-response preferred by q", nil, jsonBody(map[string]any{"query": "{ notAField }"}), "application/graphql-response+json, application/json;q=0.9", 400, "GRAPHQL_VALIDATION_FAILED", gqlType},
		{"json preferred by q", nil, jsonBody(map[string]any{"query": "{ notAField }"}), "application/graphql-response+json;q=0.5, application/json", 200, "GRAPHQL_VALIDATION_FAILED", jsonType},
		{"graphql-response refused by q=0", nil, jsonBody(map[string]any{"query": "{ notAField }"}), "application/graphql-response+json;q=0", 200, "GRAPHQL_VALIDATION_FAILED", jsonType},
		{"only types not served", nil, jsonBody(map[string]any{"query": "{ notAField }"}), "text/html", 200, "GRAPHQL_VALIDATION_FAILED", jsonType},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := httpAudit{id: c.name, get: c.get, body: c.body, contentType: jsonType, accept: c.accept}
			if c.get != nil {
				a.contentType = ""
			}
			s, h, b := a.send(t, e)
			for _, x := range []expectation{status(c.status), contentType(c.media), errorCode(c.code), without("data")} {
				if err := x(s, h, b); err != nil {
					t.Errorf("%v: %.300s", err, b)
				}
			}
		})
	}
	// Executed, with a field error (anonymous): 200 and a data entry.
	for _, accept := range []string{jsonType, gqlType} {
		a := httpAudit{body: jsonBody(map[string]any{"query": "{ __typename orgUnits { id } }"}), contentType: jsonType, accept: accept}
		s, h, b := a.send(t, e)
		var r map[string]json.RawMessage
		if err := json.Unmarshal(b, &r); err != nil || s != 200 || r["data"] == nil || r["errors"] == nil || !strings.Contains(h.Get("Content-Type"), accept) {
			t.Errorf("executed with a field error, %s: %d %q %.300s", accept, s, h.Get("Content-Type"), b)
		}
	}
}
