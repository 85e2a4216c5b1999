package emergency_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/testenv"
)

// TestReportedTimesAreBounded covers every time a client reports (a call's
// receivedAt, a heartbeat's at): at most 5 minutes ahead of the server's
// clock, and then taken as now; at most 24 hours behind. A call is never
// answered before it was received, so a fast telephony clock cannot put a
// call answered after 3 minutes into the 60-second rate.
func TestReportedTimesAreBounded(t *testing.T) {
	e := testenv.New(t)
	base := window()
	e.Clock.Set(base)
	tel, op := e.As(t, "telephony"), e.As(t, "operator")
	p := phone()
	insertResident(t, e, testenv.ResidentSpec{Phone: p})
	at := func(d time.Duration) string { return base.Add(d).Format(time.RFC3339) }

	t.Run("receivedAt ahead within the skew is taken as now; answering 3 minutes later is 180 s", func(t *testing.T) {
		r := receive(t, e, tel, map[string]any{"externalCallId": uniq("RT"), "callerNumber": p, "kind": "VOICE_CALL", "receivedAt": at(4 * time.Minute)})
		if got := r.Str("receiveEmergencyCall.call.receivedAt"); !sameTime(t, got, base) {
			t.Fatalf("receivedAt %s, want the server's now %s: %s", got, base, r.Raw)
		}
		if ev := r.Str("receiveEmergencyCall.call.events.0.at"); !sameTime(t, ev, base) {
			t.Fatalf("RECEIVED event at %s: %s", ev, r.Raw)
		}
		id := r.Str("receiveEmergencyCall.call.id")
		e.Clock.Set(base.Add(3 * time.Minute))
		a := answer(t, e, op, id)
		if a.Str("answerEmergencyCall.call.status") != "ANSWERED" || !sameTime(t, a.Str("answerEmergencyCall.call.answeredAt"), base.Add(3*time.Minute)) {
			t.Fatalf("answer: %s", a.Raw)
		}
		s := e.MustDo(t, op, `query($f:Time!,$t:Time!){emergencyCallStats(from:$f,to:$t){total answeredWithin60sRate medianAnswerSeconds}}`,
			map[string]any{"f": at(-time.Minute), "t": at(10 * time.Minute)})
		if s.Get("emergencyCallStats.total") != float64(1) || s.Get("emergencyCallStats.answeredWithin60sRate") != float64(0) ||
			s.Get("emergencyCallStats.medianAnswerSeconds") != float64(180) {
			t.Fatalf("stats: %s", s.Raw)
		}
		e.Clock.Set(base)
	})
	for _, c := range []struct {
		name string
		d    time.Duration
		code string
	}{
		{"receivedAt beyond the skew is INVALID", 6 * time.Minute, "INVALID"},
		{"receivedAt more than a day back is INVALID", -25 * time.Hour, "INVALID"},
		{"receivedAt an hour back is kept", -time.Hour, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := receive(t, e, tel, map[string]any{"externalCallId": uniq("RT"), "kind": "VOICE_CALL", "receivedAt": at(c.d)})
			if got := r.Str("receiveEmergencyCall.userErrors.0.code"); got != c.code {
				t.Fatalf("code %q, want %q: %s", got, c.code, r.Raw)
			}
			if c.code == "" && !sameTime(t, r.Str("receiveEmergencyCall.call.receivedAt"), base.Add(c.d)) {
				t.Fatalf("receivedAt changed: %s", r.Raw)
			}
			if c.code != "" && r.Get("receiveEmergencyCall.call") != nil {
				t.Fatalf("recorded: %s", r.Raw)
			}
		})
	}

	serial := uniq("HB")
	dev := insertResident(t, e, testenv.ResidentSpec{})
	mustDevice(t, e, op, serial, dev.ID)
	const hb = `mutation($in: DeviceHeartbeatInput!){ recordDeviceHeartbeat(input: $in){ device { lastHeartbeatAt } userErrors { code field } } }`
	t.Run("a heartbeat ahead within the skew is taken as now", func(t *testing.T) {
		r := e.MustDo(t, tel, hb, map[string]any{"in": map[string]any{"serial": serial, "at": at(4 * time.Minute)}})
		if !sameTime(t, r.Str("recordDeviceHeartbeat.device.lastHeartbeatAt"), base) {
			t.Fatalf("%s", r.Raw)
		}
	})
	t.Run("a heartbeat more than a day back is INVALID", func(t *testing.T) {
		r := e.MustDo(t, tel, hb, map[string]any{"in": map[string]any{"serial": serial, "at": at(-25 * time.Hour)}})
		if r.Str("recordDeviceHeartbeat.userErrors.0.code") != "INVALID" || r.Str("recordDeviceHeartbeat.userErrors.0.field.1") != "at" {
			t.Fatalf("%s", r.Raw)
		}
	})
	t.Run("the schema refuses an answer before the receive time", func(t *testing.T) {
		var id uuid.UUID
		testenv.MustScan(t, e.DB, "SELECT id FROM emergency_calls WHERE status = 'RECEIVED' LIMIT 1", nil, &id)
		err := e.DB.WithContext(context.Background()).Exec(`UPDATE emergency_calls SET status = 'ANSWERED', answered_at = received_at - interval '1 second' WHERE id = ?`, id).Error
		if err == nil || !strings.Contains(err.Error(), "emergency_calls_answered_after_received") {
			t.Fatalf("answered before received: %v", err)
		}
	})
}

// sameTime reports whether the RFC 3339 time s is the instant want.
func sameTime(t *testing.T, s string, want time.Time) bool {
	t.Helper()
	got, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(fmt.Errorf("time %q: %w", s, err))
	}
	return got.Equal(want.Truncate(time.Microsecond))
}
