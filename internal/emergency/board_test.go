package emergency_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/testenv"
)

// TestLiveBoardAcrossInstances runs two instances on one database and one
// Redis keyspace: a subscriber on A sees a call received on B within a second.
func TestLiveBoardAcrossInstances(t *testing.T) {
	prefix := fmt.Sprintf("board%d:", time.Now().UnixNano())
	a := testenv.New(t, testenv.SharedPrefix(prefix))
	b := testenv.New(t, testenv.SharedPrefix(prefix))
	res := insertResident(t, a, testenv.ResidentSpec{})
	serial := uniq("BOX")
	mustDevice(t, a, a.As(t, "operator"), serial, res.ID)

	ws, typ := dialWS(t, a, a.As(t, "operator"))
	if typ != "connection_ack" {
		t.Fatalf("connection_init answered %q", typ)
	}
	ws.subscribe(t, "1", nil)
	settle()

	ext := uniq("X")
	sent := time.Now()
	id := mustReceive(t, b, b.As(t, "telephony"), map[string]any{"externalCallId": ext, "deviceSerial": serial, "kind": "ALARM_BUTTON"})
	typ, ev, err := ws.next(time.Second)
	if err != nil || typ != "next" {
		t.Fatalf("no board event within a second of the call (%q, %v)", typ, err)
	}
	if got := ev.Data.EmergencyCallUpdated; got.ID != id || got.ExternalCallID != ext || got.Status != "RECEIVED" {
		t.Fatalf("event %+v", got)
	}
	t.Logf("delivered across instances in %v", time.Since(sent))

	// answering on A shows too, with the new status
	answer(t, a, a.As(t, "operator"), id)
	if _, ev, err := ws.next(time.Second); err != nil || ev.Data.EmergencyCallUpdated.Status != "ANSWERED" {
		t.Fatalf("answer not on the board: %+v %v", ev, err)
	}
}

func TestLiveBoardScopeAndRoles(t *testing.T) {
	e := testenv.New(t)
	tel := e.As(t, "telephony")
	p1, p2 := phone(), phone()
	insertResident(t, e, testenv.ResidentSpec{Phone: p1})                                // 春熙路街道
	insertResident(t, e, testenv.ResidentSpec{Phone: p2, CommunityCode: "510104023001"}) // 牛市口街道
	street := orgUnitID(t, e, "510104020")

	cw, typ := dialWS(t, e, e.As(t, "caseworker"))
	if typ != "connection_ack" {
		t.Fatal(typ)
	}
	cw.subscribe(t, "cw", nil)
	opStreet, _ := dialWS(t, e, e.As(t, "operator"))
	opStreet.subscribe(t, "st", &street)
	settle()

	far := mustReceive(t, e, tel, map[string]any{"externalCallId": uniq("F"), "callerNumber": p2, "kind": "VOICE_CALL"})
	near := mustReceive(t, e, tel, map[string]any{"externalCallId": uniq("N"), "callerNumber": p1, "kind": "VOICE_CALL"})
	for name, ws := range map[string]*wsClient{"case worker": cw, "operator on a street": opStreet} {
		_, ev, err := ws.next(2 * time.Second)
		if err != nil || ev.Data.EmergencyCallUpdated.ID != near {
			t.Fatalf("%s: got %+v (%v), want only the call in the subtree (far=%s)", name, ev, err, far)
		}
	}

	t.Run("forbidden subscribers", func(t *testing.T) {
		for _, c := range []struct {
			user string
			unit *string
		}{{"clerk", nil}, {"telephony", nil}, {"auditor", nil}, {"caseworker2", &street}} {
			ws, typ := dialWS(t, e, e.As(t, c.user))
			if typ != "connection_ack" {
				t.Fatalf("%s: %s", c.user, typ)
			}
			ws.subscribe(t, "x", c.unit)
			typ, ev, err := ws.next(2 * time.Second)
			if err != nil || (typ != "error" && typ != "next") || len(ev.Errors) == 0 || ev.Errors[0].Extensions["code"] != "FORBIDDEN" {
				t.Fatalf("%s: %q %+v %v", c.user, typ, ev, err)
			}
		}
	})
	t.Run("bad token is refused in connection_init", func(t *testing.T) {
		if _, typ := dialWS(t, e, "not-a-token"); typ == "connection_ack" {
			t.Fatal("accepted a bad token")
		}
	})
	t.Run("logout closes the socket", func(t *testing.T) {
		tok := e.As(t, "operator")
		ws, typ := dialWS(t, e, tok)
		if typ != "connection_ack" {
			t.Fatal(typ)
		}
		ws.subscribe(t, "1", nil)
		settle()
		e.MustDo(t, tok, `mutation{ logout }`, nil)
		deadline := time.Now().Add(3 * time.Second)
		for {
			typ, _, err := ws.next(time.Until(deadline))
			if err != nil || typ == "complete" {
				break // closed (or subscription completed) after revocation
			}
			if time.Now().After(deadline) {
				t.Fatal("socket still open after logout")
			}
		}
		// the socket is gone: nothing more arrives even when calls do
		mustReceive(t, e, tel, map[string]any{"externalCallId": uniq("AFTER"), "kind": "VOICE_CALL"})
		if typ, _, err := ws.next(500 * time.Millisecond); err == nil {
			t.Fatalf("still receiving after logout: %s", typ)
		}
	})
	t.Run("the socket closes when the access token expires", func(t *testing.T) {
		// sign in on a clock set so the 15-minute token has ~2 s left in real time
		e.Clock.Set(time.Now().Add(-e.Config.AccessTokenTTL + 2*time.Second))
		tok := e.As(t, "operator")
		ws, typ := dialWS(t, e, tok)
		if typ != "connection_ack" {
			t.Fatal(typ)
		}
		ws.subscribe(t, "1", nil)
		start := time.Now()
		for {
			if _, _, err := ws.next(5 * time.Second); err != nil {
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatal("socket still open after the token expired")
			}
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Fatalf("closed only after %v", d)
		}
	})
}
