package emergency_test

import (
	"testing"

	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/testenv"
)

// TestManualIntake: an operator typing a call in gets it linked to the
// resident whose phone it is (the call card needs it), but every such
// intake is audited with what the number matched, and an operator may take
// in only EMERGENCY_MANUAL_INTAKE_PER_HOUR calls an hour; the telephony
// system is not throttled.
func TestManualIntake(t *testing.T) {
	e := testenv.New(t, testenv.WithConfig(func(c *config.Config) { c.ManualIntakePerHour = 3 }))
	tel, op := e.As(t, "telephony"), e.As(t, "operator")
	p := phone()
	res := insertResident(t, e, testenv.ResidentSpec{Name: "赵奶奶", Phone: p})
	detail := func(t *testing.T) (manual bool, matchedBy, residentID string, matches int) {
		t.Helper()
		testenv.MustScan(t, e.DB, `SELECT coalesce((detail->>'manual')::boolean, false), coalesce(detail->>'matchedBy', ''), coalesce(detail->>'residentId', ''),
			coalesce((detail->>'callerMatches')::int, -1) FROM audit_log WHERE action = 'receiveEmergencyCall' ORDER BY id DESC LIMIT 1`, nil,
			&manual, &matchedBy, &residentID, &matches)
		return
	}

	t.Run("linked to the resident and audited with the match", func(t *testing.T) {
		r := receive(t, e, op, map[string]any{"externalCallId": uniq("MAN"), "callerNumber": p, "kind": "VOICE_CALL"})
		id := r.Str("receiveEmergencyCall.call.id")
		card := e.MustDo(t, op, `query($id:ID!){node(id:$id){... on EmergencyCall{resident{name}}}}`, map[string]any{"id": id})
		if card.Str("node.resident.name") != "赵奶奶" {
			t.Fatalf("not linked: %s", card.Raw)
		}
		manual, by, rid, n := detail(t)
		if !manual || by != "callerNumber" || rid != res.ID.String() || n != 1 {
			t.Fatalf("audit: manual %v, matchedBy %q, residentId %q, callerMatches %d", manual, by, rid, n)
		}
	})
	t.Run("an unknown number is audited as no match", func(t *testing.T) {
		mustReceive(t, e, op, map[string]any{"externalCallId": uniq("MAN"), "callerNumber": phone(), "kind": "VOICE_CALL"})
		if manual, by, rid, n := detail(t); !manual || by != "none" || rid != "" || n != 0 {
			t.Fatalf("audit: manual %v, matchedBy %q, residentId %q, callerMatches %d", manual, by, rid, n)
		}
	})
	t.Run("a typed-in id already recorded is audited too", func(t *testing.T) {
		ext := uniq("MAN")
		mustReceive(t, e, tel, map[string]any{"externalCallId": ext, "kind": "VOICE_CALL"})
		var before, after int64
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM audit_log WHERE action = 'receiveEmergencyCall'", nil, &before)
		mustReceive(t, e, op, map[string]any{"externalCallId": ext, "callerNumber": p, "kind": "VOICE_CALL"})
		var outcome string
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM audit_log WHERE action = 'receiveEmergencyCall'", nil, &after)
		testenv.MustScan(t, e.DB, "SELECT detail->>'outcome' FROM audit_log WHERE action = 'receiveEmergencyCall' ORDER BY id DESC LIMIT 1", nil, &outcome)
		if after != before+1 || outcome != "already_recorded" {
			t.Fatalf("%d -> %d entries, outcome %q", before, after, outcome)
		}
	})
	t.Run("the fourth intake in the hour is refused and audited", func(t *testing.T) {
		r := receive(t, e, op, map[string]any{"externalCallId": uniq("MAN"), "callerNumber": p, "kind": "VOICE_CALL"})
		if r.Str("receiveEmergencyCall.userErrors.0.code") != "TOO_MANY_ATTEMPTS" || r.Get("receiveEmergencyCall.call") != nil {
			t.Fatalf("%s", r.Raw)
		}
		var outcome string
		testenv.MustScan(t, e.DB, "SELECT detail->>'outcome' FROM audit_log WHERE action = 'receiveEmergencyCall' ORDER BY id DESC LIMIT 1", nil, &outcome)
		if outcome != "rate_limited" {
			t.Fatalf("refusal audited as %q", outcome)
		}
	})
	t.Run("the telephony system is not throttled", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			mustReceive(t, e, tel, map[string]any{"externalCallId": uniq("TEL"), "callerNumber": p, "kind": "VOICE_CALL"})
		}
		if manual, _, _, _ := detail(t); manual {
			t.Fatal("telephony intake audited as manual")
		}
	})
}
