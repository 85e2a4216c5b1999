package emergency_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const callFields = `id externalCallId status kind category outcome callerNumberMasked receivedAt answeredAt dispatchedAt closedAt device { serial } answeredBy { username } events { kind detail actor at }`

// receiveDoc asks for every field but answeredBy: the telephony system may
// not read staff accounts (a repeat alarm returns an answered call).
var receiveDoc = `mutation($in: ReceiveEmergencyCallInput!){ receiveEmergencyCall(input: $in){
	call { ` + strings.Replace(callFields, "answeredBy { username } ", "", 1) + ` } userErrors { code field message } } }`

// receive posts a call and returns the response.
func receive(t testing.TB, e *testenv.Env, tok string, in map[string]any) *testenv.Response {
	t.Helper()
	return e.Do(t, tok, receiveDoc, map[string]any{"in": in})
}

// mustReceive posts a call and returns its global id.
func mustReceive(t testing.TB, e *testenv.Env, tok string, in map[string]any) string {
	t.Helper()
	r := e.MustDo(t, tok, receiveDoc, map[string]any{"in": in})
	if c := r.Str("receiveEmergencyCall.userErrors.0.code"); c != "" {
		t.Fatalf("receive: %s", r.Raw)
	}
	return r.Str("receiveEmergencyCall.call.id")
}

func registerDevice(t testing.TB, e *testenv.Env, tok, serial string, residentID uuid.UUID) *testenv.Response {
	t.Helper()
	return e.Do(t, tok, `mutation($in: RegisterEmergencyDeviceInput!){ registerEmergencyDevice(input: $in){
		device { id serial kind lastHeartbeatAt batteryPercent resident { name } } userErrors { code field } } }`,
		map[string]any{"in": map[string]any{"serial": serial, "kind": "BUTTON_BOX", "residentId": relay.ID("Resident", residentID)}})
}

func mustDevice(t testing.TB, e *testenv.Env, tok, serial string, residentID uuid.UUID) {
	t.Helper()
	r := registerDevice(t, e, tok, serial, residentID)
	if r.Str("registerEmergencyDevice.device.serial") != serial {
		t.Fatalf("register device: %s", r.Raw)
	}
}

const stepDocs = `
mutation answer($id: ID!){ answerEmergencyCall(id: $id){ call { ` + callFields + ` } userErrors { code } } }
mutation dispatch($id: ID!, $r: ResponderKind!, $n: String){ dispatchEmergencyCall(input: {callId: $id, responder: $r, note: $n}){ call { ` + callFields + ` } userErrors { code } } }
mutation close($id: ID!, $c: CallCategory!, $o: String!){ closeEmergencyCall(input: {callId: $id, category: $c, outcome: $o}){ call { ` + callFields + ` } userErrors { code } } }
`

func answer(t testing.TB, e *testenv.Env, tok, id string) *testenv.Response {
	t.Helper()
	return doOp(t, e, tok, "answer", map[string]any{"id": id})
}

func dispatch(t testing.TB, e *testenv.Env, tok, id, responder string) *testenv.Response {
	t.Helper()
	return doOp(t, e, tok, "dispatch", map[string]any{"id": id, "r": responder, "n": "派社区网格员上门"})
}

func closeCall(t testing.TB, e *testenv.Env, tok, id, category string) *testenv.Response {
	t.Helper()
	return doOp(t, e, tok, "close", map[string]any{"id": id, "c": category, "o": "已处置"})
}

// doOp runs one named operation of stepDocs through the HTTP handler.
func doOp(t testing.TB, e *testenv.Env, tok, op string, vars map[string]any) *testenv.Response {
	t.Helper()
	// testenv.Do has no operationName: keep just the one operation.
	for _, line := range strings.Split(stepDocs, "\n") {
		if strings.HasPrefix(line, "mutation "+op+"(") {
			return e.Do(t, tok, line, vars)
		}
	}
	t.Fatalf("no operation %s", op)
	return nil
}

func orgUnitID(t testing.TB, e *testenv.Env, code string) string {
	t.Helper()
	var id uuid.UUID
	if err := e.DB.Raw("SELECT id FROM org_units WHERE code = ?", code).Row().Scan(&id); err != nil {
		t.Fatalf("org unit %s: %v", code, err)
	}
	return relay.ID("OrgUnit", id)
}

var seq = time.Now().UnixNano()

// uniq returns a fresh identifier for external call ids and serials.
func uniq(prefix string) string {
	seq++
	return fmt.Sprintf("%s-%d", prefix, seq)
}

// --- graphql-transport-ws client -------------------------------------------

type wsClient struct {
	c *websocket.Conn
}

type wsMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// dialWS opens a graphql-transport-ws connection and sends connection_init
// with the token; it returns the first server message type (connection_ack
// when accepted).
func dialWS(t testing.TB, e *testenv.Env, tok string) (*wsClient, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(e.Server.URL, "http") + "/graphql"
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	w := &wsClient{c: c}
	w.send(t, wsMsg{Type: "connection_init", Payload: json.RawMessage(fmt.Sprintf(`{"authorization":"Bearer %s"}`, tok))})
	m, err := w.read(5 * time.Second)
	if err != nil {
		return w, "closed"
	}
	return w, m.Type
}

func (w *wsClient) send(t testing.TB, m wsMsg) {
	t.Helper()
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("ws write: %v", err)
	}
}

// read returns the next message other than a ping (answered with pong).
func (w *wsClient) read(timeout time.Duration) (wsMsg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		_, b, err := w.c.Read(ctx)
		if err != nil {
			return wsMsg{}, err
		}
		var m wsMsg
		if err := json.Unmarshal(b, &m); err != nil {
			return wsMsg{}, err
		}
		if m.Type == "ping" {
			_ = w.c.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`))
			continue
		}
		return m, nil
	}
}

const boardDoc = `subscription($u: ID){ emergencyCallUpdated(orgUnitId: $u){ id externalCallId status events { kind } } }`

func (w *wsClient) subscribe(t testing.TB, id string, unit *string) {
	t.Helper()
	vars := map[string]any{}
	if unit != nil {
		vars["u"] = *unit
	}
	p, _ := json.Marshal(map[string]any{"query": boardDoc, "variables": vars})
	w.send(t, wsMsg{ID: id, Type: "subscribe", Payload: p})
}

type boardEvent struct {
	Data struct {
		EmergencyCallUpdated struct {
			ID             string `json:"id"`
			ExternalCallID string `json:"externalCallId"`
			Status         string `json:"status"`
		} `json:"emergencyCallUpdated"`
	} `json:"data"`
	Errors []struct {
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// next waits for the next message; for "next" it decodes the board event.
func (w *wsClient) next(timeout time.Duration) (string, boardEvent, error) {
	m, err := w.read(timeout)
	if err != nil {
		return "", boardEvent{}, err
	}
	var ev boardEvent
	if m.Type == "next" {
		_ = json.Unmarshal(m.Payload, &ev)
	}
	if m.Type == "error" {
		var errs []struct {
			Extensions map[string]any `json:"extensions"`
		}
		_ = json.Unmarshal(m.Payload, &errs)
		ev.Errors = errs
	}
	return m.Type, ev, nil
}

// settle gives the server a moment to register a subscription.
func settle() { time.Sleep(150 * time.Millisecond) }

// insertResident works around testenv.InsertResident writing NULL statuses
// when none are given (reported to the lead).
func insertResident(t testing.TB, e *testenv.Env, s testenv.ResidentSpec) testenv.Resident {
	t.Helper()
	if s.Statuses == nil {
		s.Statuses = []string{}
	}
	// spread birth dates: generated ID numbers of one date collide quickly
	if s.BirthDate.IsZero() {
		s.BirthDate = time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rand.IntN(25*365))
	}
	return e.InsertResident(t, s)
}

var phoneSeq = time.Now().UnixNano() % 1e7

// phone returns a mobile number no other test (or earlier run on the same
// database) used, so blind-index look-ups stay unambiguous.
func phone() string {
	phoneSeq++
	return fmt.Sprintf("1%d%09d", 3+phoneSeq%7, (phoneSeq*7919)%1e9)
}

// window returns a base time in the past unique to this run, so tests
// that count calls in a time window see only their own.
func window() time.Time {
	return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(time.Now().UnixNano()%(1<<20)) * time.Hour)
}
