package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

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
		{name: "manual intake: a receive time ahead of the clock dates the answer before the receipt", setup: func(t *testing.T, s *suite) string {
			op := s.e.As(t, "operator")
			r := s.e.MustDo(t, op, intakeDoc, map[string]any{"in": map[string]any{"externalCallId": fmt.Sprintf("ahead-%d", rand.IntN(1e9)),
				"kind": "VOICE_CALL", "receivedAt": time.Now().Add(4 * time.Minute).Format(time.RFC3339)}})
			id := r.Str("receiveEmergencyCall.call.id")
			s.e.MustDo(t, op, `mutation($id:ID!){answerEmergencyCall(id:$id){userErrors{code}}}`, map[string]any{"id": id})
			return id
		}, run: func(t *testing.T, s *suite, id string) *testenv.Response {
			return s.e.Do(t, s.admin, `query($id:ID!){node(id:$id){... on EmergencyCall{receivedAt answeredAt}}}`, map[string]any{"id": id})
		}, status: 200, code: "", check: func(t *testing.T, _ *suite, r *testenv.Response) {
			received, _ := time.Parse(time.RFC3339Nano, r.Str("node.receivedAt"))
			answered, _ := time.Parse(time.RFC3339Nano, r.Str("node.answeredAt"))
			if received.IsZero() || answered.Before(received) {
				t.Fatalf("answered before it was received: %s", r.Raw)
			}
		}},
		{name: "manual intake: a receive time two days back", setup: func(t *testing.T, s *suite) string { return s.e.As(t, "operator") },
			run: func(t *testing.T, s *suite, op string) *testenv.Response {
				return s.e.Do(t, op, intakeDoc, map[string]any{"in": map[string]any{"externalCallId": fmt.Sprintf("back-%d", rand.IntN(1e9)),
					"kind": "VOICE_CALL", "receivedAt": time.Now().Add(-48 * time.Hour).Format(time.RFC3339)}})
			}, status: 200, userError: "receiveEmergencyCall.userErrors.0.code", code: "INVALID"},
		{name: "manual intake: caller-number probing is rate-limited", setup: func(t *testing.T, s *suite) string {
			op := s.e.As(t, "operator")
			var uid string
			testenv.MustScan(t, s.e.DB, "SELECT id::text FROM users WHERE username = 'operator'", nil, &uid)
			if err := s.e.Redis.Del(context.Background(), s.e.Config.RedisKeyPrefix+"throttle:manualcall:"+uid).Err(); err != nil {
				t.Fatal(err)
			}
			// An hour's budget, 30 aliases a request.
			for left := s.e.Config.ManualIntakePerHour; left > 0; left -= 30 {
				var b strings.Builder
				b.WriteString("mutation{")
				for i := 0; i < min(left, 30); i++ {
					fmt.Fprintf(&b, `a%d: receiveEmergencyCall(input:{externalCallId:"probe-%d",callerNumber:"139%08d",kind:VOICE_CALL}){userErrors{code}} `,
						i, rand.IntN(1e9), rand.IntN(1e8))
				}
				b.WriteString("}")
				if r := s.e.Do(t, op, b.String(), nil); len(r.Errors) > 0 || strings.Contains(string(r.Raw), "TOO_MANY") {
					t.Fatalf("intakes within the limit refused: %.400s", r.Raw)
				}
			}
			return op
		}, run: func(t *testing.T, s *suite, op string) *testenv.Response {
			return s.e.Do(t, op, intakeDoc, map[string]any{"in": map[string]any{"externalCallId": fmt.Sprintf("probe-%d", rand.IntN(1e9)),
				"callerNumber": "13800001111", "kind": "VOICE_CALL"}})
		}, status: 200, userError: "receiveEmergencyCall.userErrors.0.code", code: "TOO_MANY_ATTEMPTS", audit: 1,
			check: func(t *testing.T, s *suite, r *testenv.Response) {
				if r.Get("receiveEmergencyCall.call") != nil || strings.Contains(string(r.Raw), "张大爷") {
					t.Fatalf("answered over the limit: %s", r.Raw)
				}
				// The telephony system's intake is not throttled.
				if c := s.e.MustDo(t, s.e.As(t, "telephony"), intakeDoc, map[string]any{"in": map[string]any{"externalCallId": fmt.Sprintf("tel-%d", rand.IntN(1e9)),
					"kind": "VOICE_CALL"}}); c.Str("receiveEmergencyCall.call.id") == "" {
					t.Fatalf("telephony throttled: %s", c.Raw)
				}
			}},
		{name: "bindResident: one account more than WECHAT_MAX_BINDINGS_PER_RESIDENT", setup: func(t *testing.T, s *suite) string {
			res := s.e.InsertResident(t, testenv.ResidentSpec{Name: "绑满", Phone: fmt.Sprintf("137%08d", rand.IntN(1e8))})
			for i := 0; i < s.e.Config.WechatMaxBindings; i++ {
				if r := bindAs(t, s.e, newWechatUser(t, s.e), res, "绑满"); r.Str("bindResident.resident.id") == "" {
					t.Fatalf("bind %d: %s", i, r.Raw)
				}
			}
			b, _ := json.Marshal(map[string]any{"name": "绑满", "idNumber": res.IDNumber, "phone": res.Phone, "tok": newWechatUser(t, s.e).access})
			return string(b)
		}, run: func(t *testing.T, s *suite, arg string) *testenv.Response {
			var in map[string]any
			json.Unmarshal([]byte(arg), &in)
			tok := in["tok"].(string)
			delete(in, "tok")
			return s.e.Do(t, tok, bindDoc, map[string]any{"in": in})
		}, status: 200, userError: "bindResident.userErrors.0.code", code: "CONFLICT"},
		{name: "Resident.wechatAccounts: an operator lists a resident's bound accounts", setup: func(t *testing.T, s *suite) string {
			return s.e.As(t, "operator")
		}, run: func(t *testing.T, s *suite, op string) *testenv.Response {
			return s.e.Do(t, op, `query($id:ID!){resident(id:$id){name wechatAccounts{id}}}`, map[string]any{"id": s.resident})
		}, status: 200, code: "FORBIDDEN", check: func(t *testing.T, _ *suite, r *testenv.Response) {
			if r.Str("resident.name") != "张大爷" || r.Get("resident.wechatAccounts") != nil {
				t.Fatalf("want the resident without the accounts: %s", r.Raw)
			}
		}},
		{name: "unbindWechatAccount by a case worker of another street", setup: func(t *testing.T, s *suite) string {
			u := newWechatUser(t, s.e)
			bindWechat2(t, s, u)
			return u.id + " " + s.e.As(t, "caseworker2") + " " + u.access
		}, run: func(t *testing.T, s *suite, arg string) *testenv.Response {
			f := strings.Fields(arg)
			return s.e.Do(t, f[1], unbindDoc, map[string]any{"id": f[0], "r": "冒名解绑"})
		}, status: 200, userError: "unbindWechatAccount.userErrors.0.code", code: "OUT_OF_JURISDICTION", check: func(t *testing.T, s *suite, _ *testenv.Response) {
			sessionAlive(t, s.e, strings.Fields(s.arg)[2])
		}},
	}
}

// bindWechat2 binds u to the suite's resident (张大爷, 春熙路街道).
func bindWechat2(t *testing.T, s *suite, u wechatUser) {
	t.Helper()
	r := s.e.MustDo(t, u.access, bindDoc, map[string]any{"in": map[string]any{"name": "张大爷", "idNumber": s.idNumber, "phone": "13800001111"}})
	if r.Str("bindResident.resident.id") == "" {
		t.Fatalf("bind: %s", r.Raw)
	}
}

const intakeDoc = `mutation($in:ReceiveEmergencyCallInput!){receiveEmergencyCall(input:$in){call{id resident{name}} userErrors{code field}}}`
