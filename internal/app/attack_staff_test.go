package app_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jinjiang/residents/internal/testenv"
)

// The attack suite's cases on staff accounts shown through other objects,
// manual call intake and WeChat bindings (security issue #17, items 7, 8
// and 14). The harness is in attack_test.go.

// answeredCall has the telephony system report a call from the world's
// resident's phone and the operator answer it; it returns the call's id.
func answeredCall(t *testing.T, s *suite) string {
	t.Helper()
	r := s.e.MustDo(t, s.e.As(t, "telephony"), `mutation($x:String!){receiveEmergencyCall(input:{externalCallId:$x,callerNumber:"13800001111",kind:VOICE_CALL}){call{id} userErrors{code}}}`,
		map[string]any{"x": fmt.Sprintf("staff-%d", rand.IntN(1e9))})
	id := r.Str("receiveEmergencyCall.call.id")
	if a := s.e.MustDo(t, s.e.As(t, "operator"), `mutation($id:ID!){answerEmergencyCall(id:$id){call{status} userErrors{code}}}`,
		map[string]any{"id": id}); a.Str("answerEmergencyCall.call.status") != "ANSWERED" {
		t.Fatalf("answer: %s", a.Raw)
	}
	return id
}

func staffAttacks() []attack {
	return []attack{
		{name: "EmergencyCall.answeredBy: a case worker reads the operator's account", setup: func(t *testing.T, s *suite) string {
			return answeredCall(t, s) + " " + s.e.As(t, "caseworker")
		}, run: func(t *testing.T, s *suite, arg string) *testenv.Response {
			id, tok, _ := strings.Cut(arg, " ")
			return s.e.Do(t, tok, `query($id:ID!){node(id:$id){... on EmergencyCall{status answeredBy{id username displayName roles}}}}`,
				map[string]any{"id": id})
		}, status: 200, code: "FORBIDDEN", check: func(t *testing.T, _ *suite, r *testenv.Response) {
			if r.Str("node.status") != "ANSWERED" || r.Get("node.answeredBy") != nil || strings.Contains(string(r.Raw), `"operator"`) {
				t.Fatalf("want the call without its operator: %s", r.Raw)
			}
		}},
	}
}
