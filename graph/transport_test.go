package graph

import (
	"encoding/json"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// TestExecutedEncodesAsJSONMarshal: an operation's response written
// without re-reading its data is byte for byte what json.Marshal writes
// of the same (compact) response.
func TestExecutedEncodesAsJSONMarshal(t *testing.T) {
	yes := true
	for name, r := range map[string]*graphql.Response{
		"data":             {Data: json.RawMessage(`{"residents":{"edges":[{"node":{"name":"张桂英"}}]}}`)},
		"no data":          {},
		"errors and data":  {Errors: gqlerror.List{{Message: "无权访问", Path: ast.Path{ast.PathName("resident"), ast.PathIndex(0)}, Extensions: map[string]any{"code": "FORBIDDEN"}}}, Data: json.RawMessage(`{"resident":null}`)},
		"extensions":       {Data: json.RawMessage(`{"a":1}`), Extensions: map[string]any{"cost": 3, "note": "<&>"}},
		"incremental keys": {Data: json.RawMessage(`{"a":1}`), Label: "l", Path: ast.Path{ast.PathName("a")}, HasNext: &yes},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := executed{r}.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}
