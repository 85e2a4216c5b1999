package graph

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/vektah/gqlparser/v2/parser"

	"github.com/jinjiang/residents/internal/problem"
)

// The HTTP transports follow GraphQL over HTTP
// (https://graphql.github.io/graphql-over-http/draft/), checked by the
// graphql-http project's server audits (TestGraphQLOverHTTPAudits):
//
//   - the response is application/graphql-response+json when the client
//     prefers it in Accept, application/json otherwise (no Accept, */*,
//     application/*, or only types we do not serve);
//   - a request that fails before execution (the document does not parse
//     or validate, the variables do not coerce, a limit refuses it) answers
//     {"errors": […]} with no data entry: 200 with application/json, 400
//     with application/graphql-response+json;
//   - a request that is not a GraphQL request at all (not one JSON object,
//     query not a string, variables not a map) answers 400.
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// responseType picks the response's media type from the Accept header:
// the exact type with the highest q (application/graphql-response+json on
// a tie), else application/json.
func responseType(r *http.Request) string {
	qJSON, qGQL := -1.0, -1.0
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(s, 64); err != nil {
				continue
			}
		}
		switch mt {
		case mediaJSON:
			qJSON = max(qJSON, q)
		case mediaGraphQLResponse:
			qGQL = max(qGQL, q)
		}
	}
	if qGQL > 0 && qGQL >= qJSON {
		return mediaGraphQLResponse
	}
	return mediaJSON
}

// serve runs one decoded GraphQL request: refused before execution as
// the package comment says, executed otherwise.
func serve(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, params *graphql.RawParams) {
	ctx := r.Context()
	media := responseType(r)
	params.Headers = r.Header
	params.ReadTime.End = graphql.Now()
	rc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		status := http.StatusOK
		if media == mediaGraphQLResponse {
			status = http.StatusBadRequest
		}
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		writeResponse(w, media, status, requestErrors{Errors: resp.Errors, Extensions: resp.Extensions})
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	writeResponse(w, media, http.StatusOK, executed{responses(ctx)})
}

// executed is an operation's response, encoded without reading its data
// again. gqlgen has already written Data as JSON; json.Marshal of a
// json.RawMessage would scan and compact every byte of it once more,
// which was 6.7 % of the server's CPU in a profile of residents pages
// (docs/PERFORMANCE.md). Every other member is encoded by encoding/json
// as before, in gqlgen's order (errors first).
type executed struct{ *graphql.Response }

// MarshalJSON implements json.Marshaler.
func (e executed) MarshalJSON() ([]byte, error) {
	r := e.Response
	rest, err := json.Marshal(struct {
		Label      string         `json:"label,omitempty"`
		Path       ast.Path       `json:"path,omitempty"`
		HasNext    *bool          `json:"hasNext,omitempty"`
		Extensions map[string]any `json:"extensions,omitempty"`
	}{r.Label, r.Path, r.HasNext, r.Extensions})
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(r.Data)+len(rest)+32)
	b = append(b, '{')
	if len(r.Errors) > 0 {
		errs, err := json.Marshal(r.Errors)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, `"errors":`...), errs...), ',')
	}
	b = append(b, `"data":`...)
	if len(r.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, r.Data...)
	}
	if len(rest) > 2 { // more than {}
		b = append(append(b, ','), rest[1:len(rest)-1]...)
	}
	return append(b, '}'), nil
}

// requestErrors is the answer to a request refused before execution: the
// GraphQL spec's request error result, which has no data entry (gqlgen's
// Response always writes "data": null).
type requestErrors struct {
	Errors     gqlerror.List  `json:"errors"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

func writeResponse(w http.ResponseWriter, media string, status int, body any) {
	// A body that encodes itself is written as it encodes: json.Marshal
	// would scan and compact what it wrote once more (executed).
	var b []byte
	var err error
	if m, ok := body.(json.Marshaler); ok {
		b, err = m.MarshalJSON()
	} else {
		b, err = json.Marshal(body)
	}
	if err != nil {
		// Only a resolver's value that cannot be JSON gets here.
		status, b = http.StatusInternalServerError, []byte(`{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}`)
	}
	w.Header().Set("Content-Type", media+"; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// writeError answers a request a transport refuses before it is a GraphQL
// request (no data entry), with the contract's extensions.code.
func writeError(w http.ResponseWriter, r *http.Request, status int, msg, code string) {
	msg = problem.Message(problem.LangFrom(r.Context()), code, msg)
	writeResponse(w, responseType(r), status, requestErrors{Errors: gqlerror.List{{Message: msg, Extensions: map[string]any{"code": code}}}})
}

// onePOST takes exactly one GraphQL request object as POST application/json.
// A body that is JSON but not one request (an array batch, a string, a
// query that is not a string, variables or extensions that are not maps) is
// refused with 400 and a fixed message: gqlgen's own decoder error repeats
// the whole body, which may carry an ID number.
type onePOST struct{}

var _ graphql.Transport = onePOST{}

// Supports implements graphql.Transport.
func (onePOST) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" || r.Method != http.MethodPost {
		return false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == mediaJSON
}

// Do implements graphql.Transport.
func (onePOST) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	params := &graphql.RawParams{ReadTime: graphql.TraceTiming{Start: graphql.Now()}}
	if err := decodeJSON(r.Body, params); err != nil {
		writeError(w, r, http.StatusBadRequest, "the body must be one JSON object with query, variables and operationName; batching is not supported", CodeBadUserInput)
		return
	}
	if params.Query == "" {
		writeError(w, r, http.StatusBadRequest, "the request has no query", CodeBadUserInput)
		return
	}
	serve(w, r, exec, params)
}

// decodeJSON decodes exactly one JSON value into into, numbers as
// json.Number (what gqlgen's transports hand the executor), and refuses
// anything after it.
func decodeJSON(r io.Reader, into any) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

// queriesOnlyGET takes queries over GET, refusing with 405 a document that
// holds a mutation or subscription: GET requests must be safe (a link or an
// image tag can send them cross-site).
type queriesOnlyGET struct{}

var _ graphql.Transport = queriesOnlyGET{}

// Supports implements graphql.Transport.
func (queriesOnlyGET) Supports(r *http.Request) bool {
	return r.Header.Get("Upgrade") == "" && r.Method == http.MethodGet
}

// Do implements graphql.Transport.
func (queriesOnlyGET) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "the query string is not URL-encoded parameters", CodeBadUserInput)
		return
	}
	params := &graphql.RawParams{Query: q.Get("query"), OperationName: q.Get("operationName"), ReadTime: graphql.TraceTiming{Start: graphql.Now()}}
	if params.Query == "" {
		writeError(w, r, http.StatusBadRequest, "the request has no query", CodeBadUserInput)
		return
	}
	// Every operation of the document, not only the one selected; a document
	// that does not parse here does not parse for the executor either, so
	// what it executes is always a query.
	if doc, err := parser.ParseQuery(&ast.Source{Input: params.Query}); err == nil {
		for _, op := range doc.Operations {
			if op.Operation != ast.Query {
				w.Header().Set("Allow", "POST")
				writeError(w, r, http.StatusMethodNotAllowed, "GET requests only allow query operations; send mutations as POST application/json", CodeBadUserInput)
				return
			}
		}
	}
	for name, into := range map[string]*map[string]any{"variables": &params.Variables, "extensions": &params.Extensions} {
		if s := q.Get(name); s != "" {
			if err := decodeJSON(strings.NewReader(s), into); err != nil {
				writeError(w, r, http.StatusBadRequest, name+" must be a JSON object", CodeBadUserInput)
				return
			}
		}
	}
	serve(w, r, exec, params)
}

// unsupported takes every request no other transport supports and refuses
// it with 415.
type unsupported struct{}

// Supports implements graphql.Transport.
func (unsupported) Supports(*http.Request) bool { return true }

// Do implements graphql.Transport.
func (unsupported) Do(w http.ResponseWriter, r *http.Request, _ graphql.GraphExecutor) {
	writeError(w, r, http.StatusUnsupportedMediaType, "send GraphQL requests as POST application/json (or GET for queries)", CodeBadUserInput)
}
