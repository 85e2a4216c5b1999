package emergency_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/relay"

	"github.com/jinjiang/residents/internal/testenv"
)

func TestHandlingWorkflow(t *testing.T) {
	e := testenv.New(t)
	tel, op, admin := e.As(t, "telephony"), e.As(t, "operator"), e.Admin(t)
	res := insertResident(t, e, testenv.ResidentSpec{})
	serial := uniq("BOX")
	mustDevice(t, e, op, serial, res.ID)
	id := mustReceive(t, e, tel, map[string]any{"externalCallId": uniq("W"), "deviceSerial": serial, "kind": "FALL_DETECTED"})
	other := mustReceive(t, e, tel, map[string]any{"externalCallId": uniq("W"), "kind": "VOICE_CALL"})

	steps := []struct {
		name   string
		do     func() *testenv.Response
		field  string
		err    string
		code   string
		status string
	}{
		{"telephony may not answer", func() *testenv.Response { return answer(t, e, tel, id) }, "answerEmergencyCall", "FORBIDDEN", "", ""},
		{"case worker may not answer", func() *testenv.Response { return answer(t, e, e.As(t, "caseworker"), id) }, "answerEmergencyCall", "FORBIDDEN", "", ""},
		{"cannot dispatch before answering", func() *testenv.Response { return dispatch(t, e, op, id, "FAMILY") }, "dispatchEmergencyCall", "", "INVALID_TRANSITION", ""},
		{"cannot close before answering", func() *testenv.Response { return closeCall(t, e, op, id, "MEDICAL") }, "closeEmergencyCall", "", "INVALID_TRANSITION", ""},
		{"operator answers", func() *testenv.Response { return answer(t, e, op, id) }, "answerEmergencyCall", "", "", "ANSWERED"},
		{"a second answer conflicts", func() *testenv.Response { return answer(t, e, admin, id) }, "answerEmergencyCall", "", "CONFLICT", ""},
		{"dispatch family", func() *testenv.Response { return dispatch(t, e, op, id, "FAMILY") }, "dispatchEmergencyCall", "", "", "DISPATCHED"},
		{"dispatch 120 as well", func() *testenv.Response { return dispatch(t, e, admin, id, "AMBULANCE_120") }, "dispatchEmergencyCall", "", "", "DISPATCHED"},
		{"close", func() *testenv.Response { return closeCall(t, e, op, id, "MEDICAL") }, "closeEmergencyCall", "", "", "CLOSED"},
		{"no dispatch after closing", func() *testenv.Response { return dispatch(t, e, op, id, "FAMILY") }, "dispatchEmergencyCall", "", "INVALID_TRANSITION", ""},
		{"no second close", func() *testenv.Response { return closeCall(t, e, op, id, "FALL") }, "closeEmergencyCall", "", "INVALID_TRANSITION", ""},
		{"no answer after closing", func() *testenv.Response { return answer(t, e, op, id) }, "answerEmergencyCall", "", "INVALID_TRANSITION", ""},
		{"answered call closes directly", func() *testenv.Response { answer(t, e, op, other); return closeCall(t, e, op, other, "INFORMATION") }, "closeEmergencyCall", "", "", "CLOSED"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := s.do()
			if r.ErrorCode() != s.err {
				t.Fatalf("error %q, want %q: %s", r.ErrorCode(), s.err, r.Raw)
			}
			if s.err != "" {
				return
			}
			if got := r.Str(s.field + ".userErrors.0.code"); got != s.code {
				t.Fatalf("user error %q, want %q: %s", got, s.code, r.Raw)
			}
			if s.status != "" && r.Str(s.field+".call.status") != s.status {
				t.Fatalf("status: %s", r.Raw)
			}
		})
	}
	t.Run("every step left an event with actor and the answering operator", func(t *testing.T) {
		r := e.MustDo(t, op, `query($id: ID!){ node(id: $id){ ... on EmergencyCall { status category outcome answeredAt dispatchedAt closedAt
			answeredBy { username } events { kind actor detail at } } } }`, map[string]any{"id": id})
		want := []string{"RECEIVED", "ANSWERED", "DISPATCHED", "DISPATCHED", "CLOSED"}
		evs, _ := r.Get("node.events").([]any)
		if len(evs) != len(want) {
			t.Fatalf("events: %s", r.Raw)
		}
		for i, k := range want {
			ev := evs[i].(map[string]any)
			if ev["kind"] != k || ev["actor"] == nil || ev["at"] == nil {
				t.Fatalf("event %d: %v", i, ev)
			}
		}
		if r.Str("node.events.3.detail") != "AMBULANCE_120: 派社区网格员上门" || r.Str("node.answeredBy.username") != "operator" ||
			r.Str("node.category") != "MEDICAL" || r.Str("node.outcome") != "已处置" || r.Str("node.closedAt") == "" || r.Str("node.dispatchedAt") == "" {
			t.Fatalf("call: %s", r.Raw)
		}
		var audits int64
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM audit_log WHERE action IN ('answerEmergencyCall', 'dispatchEmergencyCall', 'closeEmergencyCall')", nil, &audits)
		if audits < 6 {
			t.Fatalf("audit entries %d", audits)
		}
	})
	t.Run("unknown call is NOT_FOUND", func(t *testing.T) {
		r := answer(t, e, op, relay.ID("EmergencyCall", uuid.Must(uuid.NewV7())))
		if r.Str("answerEmergencyCall.userErrors.0.code") != "NOT_FOUND" {
			t.Fatalf("%s", r.Raw)
		}
	})
}

func TestConcurrentAnswerOneWins(t *testing.T) {
	e := testenv.New(t)
	tel := e.As(t, "telephony")
	toks := []string{e.As(t, "operator"), e.Admin(t)}
	race := uniq("RACE")
	for round := 0; round < 5; round++ {
		id := mustReceive(t, e, tel, map[string]any{"externalCallId": fmt.Sprintf("%s-%d", race, round), "kind": "VOICE_CALL"})
		codes := make([]string, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range toks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r := answer(t, e, toks[i], id)
				codes[i] = r.Str("answerEmergencyCall.userErrors.0.code")
				if codes[i] == "" && r.Str("answerEmergencyCall.call.status") != "ANSWERED" {
					codes[i] = "BROKEN"
				}
			}()
		}
		close(start)
		wg.Wait()
		if !(codes[0] == "" && codes[1] == "CONFLICT" || codes[0] == "CONFLICT" && codes[1] == "") {
			t.Fatalf("round %d: codes %v, want one success and one CONFLICT", round, codes)
		}
		var answered int64
		testenv.MustScan(t, e.DB, `SELECT count(*) FROM emergency_call_events ev JOIN emergency_calls c ON c.id = ev.call_id
			WHERE ev.kind = 'ANSWERED' AND c.external_call_id LIKE ? AND c.status = 'ANSWERED'`, testenv.Args(race+"-%"), &answered)
		if answered != int64(round+1) {
			t.Fatalf("answered events %d after round %d", answered, round)
		}
	}
}
