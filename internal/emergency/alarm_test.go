package emergency_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/emergency"
	"github.com/jinjiang/residents/internal/testenv"
)

// telephony is a fake telephony webhook: it records what it was sent and
// answers with the status in fail (0: 200).
type telephony struct {
	mu     sync.Mutex
	bodies [][]byte
	sigs   []string
	fail   int
}

func (f *telephony) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bodies, f.sigs = append(f.bodies, b), append(f.sigs, r.Header.Get("X-Signature"))
	if f.fail != 0 {
		w.WriteHeader(f.fail)
	}
}

func (f *telephony) got() ([][]byte, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.bodies...), append([]string(nil), f.sigs...)
}

// callbackWorld is a resident with a phone and one emergency contact, and
// an open call of theirs answered by the operator.
type callbackWorld struct {
	e                      *testenv.Env
	res                    testenv.Resident
	residentPhone, contact string
	contactID, call        string
	op                     string
}

func newCallbackWorld(t *testing.T, opts ...testenv.Option) *callbackWorld {
	t.Helper()
	e := testenv.New(t, opts...)
	w := &callbackWorld{e: e, residentPhone: phone(), contact: phone(), op: e.As(t, "operator")}
	w.res = insertResident(t, e, testenv.ResidentSpec{Phone: w.residentPhone})
	r := e.MustDo(t, e.As(t, "clerk"), `mutation($in: UpdateResidentInput!){ updateResident(input: $in){
		resident { emergencyContacts { id name phoneMasked } } userErrors { code message } } }`,
		map[string]any{"in": map[string]any{"id": relay.ID("Resident", w.res.ID),
			"emergencyContacts": []any{map[string]any{"name": "张小明", "relation": "儿子", "phone": w.contact}}}})
	w.contactID = r.Str("updateResident.resident.emergencyContacts.0.id")
	if w.contactID == "" {
		t.Fatalf("contact: %s", r.Raw)
	}
	w.call = mustReceive(t, e, e.As(t, "telephony"), map[string]any{"externalCallId": uniq("CB"), "callerNumber": w.residentPhone, "kind": "ALARM_BUTTON"})
	if r := answer(t, e, w.op, w.call); r.Str("answerEmergencyCall.call.status") != "ANSWERED" {
		t.Fatalf("answer: %s", r.Raw)
	}
	return w
}

const outboundDoc = `mutation($in: RequestOutboundCallInput!){ requestOutboundCall(input: $in){
	outboundCall { id target whom numberMasked status attempts } userErrors { code field message } } }`

const revealDoc = `mutation($in: RevealContactNumberInput!){ revealContactNumber(input: $in){ number userErrors { code field message } } }`

// TestRequestOutboundCall: the operator asks for a call-back to a contact;
// the request reaches the telephony webhook signed, with the full number,
// and the number never appears in anything the operator is sent. A failed
// delivery is retried; a closed call may not be called back.
func TestRequestOutboundCall(t *testing.T) {
	fake := &telephony{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	w := newCallbackWorld(t, testenv.WithConfig(func(c *config.Config) { c.TelephonyWebhookURL = srv.URL }))
	e := w.e

	fake.mu.Lock()
	fake.fail = http.StatusServiceUnavailable
	fake.mu.Unlock()
	r := e.MustDo(t, w.op, outboundDoc, map[string]any{"in": map[string]any{"callId": w.call, "target": "CONTACT", "contactId": w.contactID}})
	if r.Str("requestOutboundCall.outboundCall.status") != "PENDING" || r.Str("requestOutboundCall.outboundCall.whom") != "张小明 (儿子)" {
		t.Fatalf("request: %s", r.Raw)
	}
	if strings.Contains(string(r.Raw), w.contact) || strings.Contains(string(r.Raw), w.contact[3:]) {
		t.Fatalf("the full number reached the operator: %s", r.Raw)
	}
	// The first delivery fails (503): the request stays pending with one attempt.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if b, _ := fake.got(); len(b) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the webhook was never called")
		}
		time.Sleep(50 * time.Millisecond)
	}
	const callDoc = `query($id: ID!){ node(id: $id){ ... on EmergencyCall { outboundCalls { status attempts numberMasked } events { kind detail } } } }`
	time.Sleep(200 * time.Millisecond)
	if got := e.MustDo(t, w.op, callDoc, map[string]any{"id": w.call}); got.Str("node.outboundCalls.0.status") != "PENDING" ||
		got.Get("node.outboundCalls.0.attempts") != float64(1) {
		t.Fatalf("after a failed delivery: %s", got.Raw)
	}
	// The retry (due after the back-off) succeeds.
	fake.mu.Lock()
	fake.fail = 0
	fake.mu.Unlock()
	e.Clock.Advance(10 * time.Second)
	if n, err := e.App.Emergency.DeliverOutbound(context.Background()); err != nil || n != 1 {
		t.Fatalf("retry delivered %d, %v", n, err)
	}
	bodies, sigs := fake.got()
	last := bodies[len(bodies)-1]
	var p emergency.OutboundPayload
	if err := json.Unmarshal(last, &p); err != nil || p.Number != w.contact || p.Target != "CONTACT" {
		t.Fatalf("payload %s: %v", last, err)
	}
	ts := strings.TrimPrefix(strings.Split(sigs[len(sigs)-1], ",")[0], "t=")
	var unix int64
	_ = json.Unmarshal([]byte(ts), &unix)
	if want := emergency.Sign([]byte(e.Config.TelephonyWebhookSecret), unix, last); sigs[len(sigs)-1] != want {
		t.Fatalf("signature %q, want %q", sigs[len(sigs)-1], want)
	}
	got := e.MustDo(t, w.op, callDoc, map[string]any{"id": w.call})
	if got.Str("node.outboundCalls.0.status") != "DELIVERED" || strings.Contains(string(got.Raw), w.contact) {
		t.Fatalf("after delivery: %s", got.Raw)
	}
	kinds := string(got.Raw)
	if !strings.Contains(kinds, "CALLBACK_REQUESTED") || !strings.Contains(kinds, "CALLBACK_DELIVERED") {
		t.Fatalf("trail: %s", got.Raw)
	}
	// The resident themself; a case worker may not; a closed call may not be called back.
	if r := e.MustDo(t, w.op, outboundDoc, map[string]any{"in": map[string]any{"callId": w.call, "target": "RESIDENT"}}); r.Str("requestOutboundCall.outboundCall.whom") != "本人" {
		t.Fatalf("resident: %s", r.Raw)
	}
	if r := e.Do(t, e.As(t, "caseworker"), outboundDoc, map[string]any{"in": map[string]any{"callId": w.call, "target": "RESIDENT"}}); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("case worker: %s", r.Raw)
	}
	closeCall(t, e, w.op, w.call, "MEDICAL")
	if r := e.MustDo(t, w.op, outboundDoc, map[string]any{"in": map[string]any{"callId": w.call, "target": "RESIDENT"}}); r.Str("requestOutboundCall.userErrors.0.code") != "INVALID_TRANSITION" {
		t.Fatalf("closed call: %s", r.Raw)
	}
}

// TestRevealContactNumber: a reason is required, the number is shown, the
// audit entry has the reason and not the number, and the per-operator
// limit holds.
func TestRevealContactNumber(t *testing.T) {
	w := newCallbackWorld(t, testenv.WithConfig(func(c *config.Config) { c.RevealsPerHour = 1 }))
	e := w.e
	in := func(reason string) map[string]any {
		return map[string]any{"in": map[string]any{"callId": w.call, "target": "CONTACT", "contactId": w.contactID, "reason": reason}}
	}
	if r := e.MustDo(t, w.op, revealDoc, in(" ")); r.Str("revealContactNumber.userErrors.0.field.1") != "reason" {
		t.Fatalf("no reason: %s", r.Raw)
	}
	r := e.MustDo(t, w.op, revealDoc, in("系统回拨失败，需手工拨打"))
	if r.Str("revealContactNumber.number") != w.contact {
		t.Fatalf("reveal: %s", r.Raw)
	}
	var detail string
	testenv.MustScan(t, e.DB, `SELECT detail::text FROM audit_log WHERE action = 'revealContactNumber' AND detail->>'reason' IS NOT NULL ORDER BY at DESC LIMIT 1`, nil, &detail)
	if !strings.Contains(detail, "系统回拨失败") || strings.Contains(detail, w.contact) {
		t.Fatalf("audit detail %s", detail)
	}
	// the one allowed this hour is used
	if r := e.MustDo(t, w.op, revealDoc, in("再次确认号码")); r.Str("revealContactNumber.userErrors.0.code") != "TOO_MANY_ATTEMPTS" || r.Get("revealContactNumber.number") != nil {
		t.Fatalf("over the limit: %s", r.Raw)
	}
}

// TestContactAttempts: each attempt is an event of the call with whom,
// when, the outcome and a note.
func TestContactAttempts(t *testing.T) {
	w := newCallbackWorld(t)
	e := w.e
	const doc = `mutation($in: RecordContactAttemptInput!){ recordContactAttempt(input: $in){
		call { events { kind at detail contactWhom contactOutcome actor } } userErrors { code field } } }`
	for _, o := range []string{"NO_ANSWER", "BUSY", "ANSWERED"} {
		r := e.MustDo(t, w.op, doc, map[string]any{"in": map[string]any{"callId": w.call, "whom": "张小明 (儿子)", "outcome": o, "note": "第" + o}})
		if c := r.Str("recordContactAttempt.userErrors.0.code"); c != "" {
			t.Fatalf("%s: %s", o, r.Raw)
		}
	}
	r := e.MustDo(t, w.op, `query($id: ID!){ node(id: $id){ ... on EmergencyCall { events { kind contactWhom contactOutcome detail actor } } } }`, map[string]any{"id": w.call})
	var outcomes []string
	for i := 0; ; i++ {
		k := r.Get("node.events." + strconv.Itoa(i) + ".kind")
		if k == nil {
			break
		}
		if k == "CONTACT_ATTEMPT" {
			if r.Str("node.events."+strconv.Itoa(i)+".contactWhom") != "张小明 (儿子)" || r.Str("node.events."+strconv.Itoa(i)+".actor") == "" {
				t.Fatalf("attempt %d: %s", i, r.Raw)
			}
			outcomes = append(outcomes, r.Str("node.events."+strconv.Itoa(i)+".contactOutcome"))
		}
	}
	if strings.Join(outcomes, ",") != "NO_ANSWER,BUSY,ANSWERED" {
		t.Fatalf("outcomes %v: %s", outcomes, r.Raw)
	}
	if r := e.MustDo(t, w.op, doc, map[string]any{"in": map[string]any{"callId": w.call, "whom": "", "outcome": "BUSY"}}); r.Str("recordContactAttempt.userErrors.0.field.1") != "whom" {
		t.Fatalf("empty whom: %s", r.Raw)
	}
}
