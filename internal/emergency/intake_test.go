package emergency_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/pii"
	"github.com/jinjiang/residents/internal/testenv"
)

func TestIntakeFindsResident(t *testing.T) {
	e := testenv.New(t)
	tel, op := e.As(t, "telephony"), e.As(t, "operator")
	byDevice := insertResident(t, e, testenv.ResidentSpec{Name: "王大爷", Statuses: []string{"LIVING_ALONE"}, CareLevel: "SEVERE"})
	lp, unknown := phone(), phone()
	insertResident(t, e, testenv.ResidentSpec{Name: "李奶奶", Phone: lp})
	formatted := "+86 " + lp[:3] + "-" + lp[3:7] + "-" + lp[7:]
	serial := uniq("BOX")
	mustDevice(t, e, op, serial, byDevice.ID)

	const card = `query($id: ID!){ node(id: $id){ ... on EmergencyCall { callerNumberMasked
		resident { name statuses careLevel idNumberMasked emergencyCalls { totalCount } } device { serial } } } }`
	cases := []struct {
		name     string
		in       map[string]any
		wantName string
		device   bool
		masked   string
	}{
		{"by device serial", map[string]any{"deviceSerial": serial, "kind": "ALARM_BUTTON"}, "王大爷", true, ""},
		{"by caller number through the blind index", map[string]any{"callerNumber": formatted, "kind": "VOICE_CALL"}, "李奶奶", false, pii.MaskPhone(lp)},
		{"unknown device falls back to the number", map[string]any{"deviceSerial": "NOPE", "callerNumber": lp, "kind": "FALL_DETECTED"}, "李奶奶", false, pii.MaskPhone(lp)},
		{"unknown caller", map[string]any{"callerNumber": unknown, "kind": "VOICE_CALL"}, "", false, pii.MaskPhone(unknown)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.in["externalCallId"] = uniq("EXT")
			id := mustReceive(t, e, tel, c.in)
			r := e.MustDo(t, op, card, map[string]any{"id": id})
			if got := r.Str("node.resident.name"); got != c.wantName {
				t.Fatalf("resident %q, want %q: %s", got, c.wantName, r.Raw)
			}
			if (r.Get("node.device") != nil) != c.device {
				t.Fatalf("device: %s", r.Raw)
			}
			if c.masked != "" && r.Str("node.callerNumberMasked") != c.masked {
				t.Fatalf("mask: %s", r.Raw)
			}
			if c.wantName == "王大爷" {
				if r.Str("node.resident.careLevel") != "SEVERE" || r.Str("node.resident.statuses.0") != "LIVING_ALONE" ||
					!strings.Contains(r.Str("node.resident.idNumberMasked"), "*") {
					t.Fatalf("call card: %s", r.Raw)
				}
			}
		})
	}
	t.Run("caller number is stored encrypted and never logged", func(t *testing.T) {
		var leaked int64
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM emergency_calls WHERE caller_number_enc LIKE ? OR caller_number_masked LIKE ?", testenv.Args("%"+lp[3:]+"%", "%"+lp[3:]+"%"), &leaked)
		if leaked != 0 {
			t.Fatal("caller number stored in the clear")
		}
		var auditLeak int64
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM audit_log WHERE detail::text LIKE ?", testenv.Args("%"+lp[3:]+"%"), &auditLeak)
		if auditLeak != 0 || strings.Contains(e.Logs(), lp[3:]) || strings.Contains(e.Logs(), unknown) {
			t.Fatal("caller number leaked into logs or audit")
		}
	})
	t.Run("telephony does not see the resident", func(t *testing.T) {
		r := e.MustDo(t, tel, `mutation($in: ReceiveEmergencyCallInput!){ receiveEmergencyCall(input: $in){ call { resident { name } } } }`,
			map[string]any{"in": map[string]any{"externalCallId": uniq("EXT"), "callerNumber": lp, "kind": "VOICE_CALL"}})
		if r.Get("receiveEmergencyCall.call.resident") != nil {
			t.Fatalf("telephony saw the resident: %s", r.Raw)
		}
	})
	t.Run("forbidden roles", func(t *testing.T) {
		for _, u := range []string{"clerk", "caseworker", "auditor"} {
			r := receive(t, e, e.As(t, u), map[string]any{"externalCallId": uniq("EXT"), "kind": "VOICE_CALL"})
			if r.ErrorCode() != "FORBIDDEN" {
				t.Fatalf("%s: %s", u, r.Raw)
			}
		}
	})
	t.Run("operator may take a call in by hand; blank id is INVALID", func(t *testing.T) {
		mustReceive(t, e, op, map[string]any{"externalCallId": uniq("MANUAL"), "kind": "VOICE_CALL"})
		r := receive(t, e, op, map[string]any{"externalCallId": " ", "kind": "VOICE_CALL"})
		if r.Str("receiveEmergencyCall.userErrors.0.code") != "INVALID" {
			t.Fatalf("%s", r.Raw)
		}
	})
}

func TestIntakeIdempotentUnderConcurrency(t *testing.T) {
	e := testenv.New(t)
	tel, op := e.As(t, "telephony"), e.As(t, "operator")
	res := insertResident(t, e, testenv.ResidentSpec{})
	serial := uniq("BOX")
	mustDevice(t, e, op, serial, res.ID)
	for _, c := range []struct {
		name string
		in   map[string]any
	}{
		{"with a device", map[string]any{"deviceSerial": serial, "kind": "ALARM_BUTTON"}},
		{"caller number only", map[string]any{"callerNumber": phone(), "kind": "VOICE_CALL"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ext := uniq("CONC")
			c.in["externalCallId"] = ext
			ids := make([]string, 10)
			var wg sync.WaitGroup
			for i := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ids[i] = mustReceive(t, e, tel, c.in)
				}()
			}
			wg.Wait()
			for _, id := range ids {
				if id == "" || id != ids[0] {
					t.Fatalf("different calls for one external id: %v", ids)
				}
			}
			var calls, events int64
			testenv.MustScan(t, e.DB, "SELECT count(*) FROM emergency_calls WHERE external_call_id = ?", testenv.Args(ext), &calls)
			testenv.MustScan(t, e.DB, "SELECT count(*) FROM emergency_call_events ev JOIN emergency_calls c ON c.id = ev.call_id WHERE c.external_call_id = ?", testenv.Args(ext), &events)
			if calls != 1 || events != 1 {
				t.Fatalf("calls=%d events=%d, want 1 and 1", calls, events)
			}
			// the device's open call now absorbs later alarms; close it for the next case
			answer(t, e, op, ids[0])
			r := closeCall(t, e, op, ids[0], "FALSE_ALARM")
			if r.Str("closeEmergencyCall.call.status") != "CLOSED" {
				t.Fatalf("%s", r.Raw)
			}
		})
	}
}

func TestRepeatAlarm(t *testing.T) {
	e := testenv.New(t)
	base := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	e.Clock.Set(base)
	// access tokens expire with the test clock: sign in again after moving it
	var tel, op string
	login := func() { tel, op = e.As(t, "telephony"), e.As(t, "operator") }
	login()
	res := insertResident(t, e, testenv.ResidentSpec{})
	serial := uniq("BOX")
	mustDevice(t, e, op, serial, res.ID)
	alarm := func(ext string, at time.Time) string {
		return mustReceive(t, e, tel, map[string]any{"externalCallId": ext, "deviceSerial": serial, "kind": "ALARM_BUTTON", "receivedAt": at.Format(time.RFC3339)})
	}
	first := alarm(uniq("A"), base)
	repeatExt := uniq("A")
	t.Run("second alarm within 30 minutes attaches to the open call", func(t *testing.T) {
		e.Clock.Set(base.Add(10 * time.Minute))
		login()
		if id := alarm(repeatExt, base.Add(10*time.Minute)); id != first {
			t.Fatalf("new call %s, want %s", id, first)
		}
		if id := alarm(repeatExt, base.Add(10*time.Minute)); id != first {
			t.Fatal("retried repeat alarm opened a call")
		}
		r := e.MustDo(t, op, `query($id: ID!){ node(id: $id){ ... on EmergencyCall { events { kind } } } }`, map[string]any{"id": first})
		evs, _ := r.Get("node.events").([]any)
		if len(evs) != 2 || r.Str("node.events.1.kind") != "REPEAT_ALARM" {
			t.Fatalf("events: %s", r.Raw)
		}
	})
	t.Run("also while answered", func(t *testing.T) {
		answer(t, e, op, first)
		e.Clock.Set(base.Add(20 * time.Minute))
		login()
		if id := alarm(uniq("A"), base.Add(20*time.Minute)); id != first {
			t.Fatal("alarm on answered call opened a new call")
		}
	})
	var second string
	t.Run("after 30 minutes a new call opens", func(t *testing.T) {
		e.Clock.Set(base.Add(31 * time.Minute))
		login()
		if second = alarm(uniq("A"), base.Add(31*time.Minute)); second == first {
			t.Fatal("alarm after the window attached to the old call")
		}
	})
	t.Run("after closing a new call opens", func(t *testing.T) {
		e.Clock.Set(base.Add(40 * time.Minute))
		login()
		answer(t, e, op, second)
		if r := closeCall(t, e, op, second, "FALL"); r.Str("closeEmergencyCall.call.status") != "CLOSED" {
			t.Fatalf("%s", r.Raw)
		}
		if id := alarm(uniq("B"), base.Add(41*time.Minute)); id == second || id == first {
			t.Fatal("alarm attached to a closed or stale call")
		}
	})
}

// TestIntakeTrailAndAudit pins what intake writes beside the call (it does
// so in one statement, not through audit.Record): one event and one audit
// entry per new call or repeat alarm, none for a replayed external id.
func TestIntakeTrailAndAudit(t *testing.T) {
	e := testenv.New(t)
	tel, op := e.As(t, "telephony"), e.As(t, "operator")
	known := phone()
	insertResident(t, e, testenv.ResidentSpec{Phone: known})
	boxOwner := insertResident(t, e, testenv.ResidentSpec{})
	serial := uniq("BOX")
	mustDevice(t, e, op, serial, boxOwner.ID)
	var telID, telName string
	if err := e.DB.Raw("SELECT id, display_name FROM users WHERE username = 'telephony'").Row().Scan(&telID, &telName); err != nil {
		t.Fatal(err)
	}
	type trail struct{ kind, actor, detail, ext string }
	type entry struct{ action, actorID, actorKind, requestID, detail string }
	written := func(t *testing.T, ext string) ([]trail, []entry) {
		t.Helper()
		var callID string
		if err := e.DB.Raw(`SELECT id FROM emergency_calls WHERE external_call_id = ? OR
			id = (SELECT call_id FROM emergency_call_events WHERE external_call_id = ?)`, ext, ext).Row().Scan(&callID); err != nil {
			t.Fatalf("call of %s: %v", ext, err)
		}
		rows, err := e.DB.Raw(`SELECT kind, coalesce(actor_name, ''), coalesce(detail, ''), coalesce(external_call_id, '')
			FROM emergency_call_events WHERE call_id = ? AND actor_id IS NULL ORDER BY at, id`, callID).Rows()
		if err != nil {
			t.Fatal(err)
		}
		var ts []trail
		for rows.Next() {
			var x trail
			if err := rows.Scan(&x.kind, &x.actor, &x.detail, &x.ext); err != nil {
				t.Fatal(err)
			}
			ts = append(ts, x)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		rows, err = e.DB.Raw(`SELECT action, actor_id::text, actor_kind, request_id, detail::text FROM audit_log
			WHERE entity = 'EmergencyCall' AND entity_id = ? ORDER BY id`, callID).Rows()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var es []entry
		for rows.Next() {
			var x entry
			if err := rows.Scan(&x.action, &x.actorID, &x.actorKind, &x.requestID, &x.detail); err != nil {
				t.Fatal(err)
			}
			es = append(es, x)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return ts, es
	}
	check := func(t *testing.T, ext string, wantTrail []trail, wantDetails ...string) {
		t.Helper()
		ts, es := written(t, ext)
		if fmt.Sprint(ts) != fmt.Sprint(wantTrail) {
			t.Fatalf("events %v, want %v", ts, wantTrail)
		}
		if len(es) != len(wantDetails) {
			t.Fatalf("audit entries %v, want %d", es, len(wantDetails))
		}
		for i, x := range es {
			action := "receiveEmergencyCall"
			if x.action != action || x.actorID != telID || x.actorKind != "USER" || x.requestID == "" || x.detail != wantDetails[i] {
				t.Fatalf("audit entry %d: %+v, want %s by %s with %s", i, x, action, telID, wantDetails[i])
			}
		}
	}
	received := trail{"RECEIVED", telName, "", ""}
	t.Run("caller number, resident known; a replay writes nothing", func(t *testing.T) {
		ext := uniq("EXT")
		in := map[string]any{"externalCallId": ext, "callerNumber": known, "kind": "VOICE_CALL"}
		first := mustReceive(t, e, tel, in)
		if again := mustReceive(t, e, tel, in); again != first {
			t.Fatalf("replay returned %s, want %s", again, first)
		}
		check(t, ext, []trail{received}, `{"kind": "VOICE_CALL", "device": false, "residentKnown": true}`)
	})
	t.Run("unknown caller", func(t *testing.T) {
		ext := uniq("EXT")
		mustReceive(t, e, tel, map[string]any{"externalCallId": ext, "callerNumber": phone(), "kind": "VOICE_CALL"})
		check(t, ext, []trail{received}, `{"kind": "VOICE_CALL", "device": false, "residentKnown": false}`)
	})
	t.Run("device, then a repeat alarm, then its replay", func(t *testing.T) {
		ext, rep := uniq("EXT"), uniq("REP")
		first := mustReceive(t, e, tel, map[string]any{"externalCallId": ext, "deviceSerial": serial, "kind": "ALARM_BUTTON"})
		for range 2 {
			if id := mustReceive(t, e, tel, map[string]any{"externalCallId": rep, "deviceSerial": serial, "kind": "FALL_DETECTED"}); id != first {
				t.Fatalf("repeat alarm opened %s, want %s", id, first)
			}
		}
		check(t, rep, []trail{received, {"REPEAT_ALARM", telName, "FALL_DETECTED", rep}},
			`{"kind": "ALARM_BUTTON", "device": true, "residentKnown": true}`, `{"kind": "FALL_DETECTED", "repeatAlarm": true}`)
		answer(t, e, op, first)
		closeCall(t, e, op, first, "FALSE_ALARM")
	})
}
