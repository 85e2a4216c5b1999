package emergency_test

import (
	"math"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/testenv"
)

// TestStats builds calls with known answer times: in 春熙路街道 answered
// after 10, 30, 50, 90 and 200 s plus one never answered; in 牛市口街道 one
// answered after 20 s; one unknown caller answered after 100 s.
func TestStats(t *testing.T) {
	e := testenv.New(t)
	base := window()
	p1, p2 := phone(), phone()
	chunxi := insertResident(t, e, testenv.ResidentSpec{Phone: p1})
	niushi := insertResident(t, e, testenv.ResidentSpec{Phone: p2, CommunityCode: "510104023001"})
	type spec struct {
		phone    string
		answer   int // seconds; -1 = never
		category string
	}
	specs := []spec{
		{p1, 10, "MEDICAL"}, {p1, 30, "MEDICAL"}, {p1, 50, "FALL"},
		{p1, 90, ""}, {p1, 200, "FALSE_ALARM"}, {p1, -1, ""},
		{p2, 20, "MEDICAL"}, {phone(), 100, "OTHER"},
	}
	_, _ = chunxi, niushi
	for i, s := range specs {
		at := base.Add(time.Duration(i) * time.Hour)
		e.Clock.Set(at)
		id := mustReceive(t, e, e.As(t, "telephony"), map[string]any{"externalCallId": uniq("ST"), "callerNumber": s.phone,
			"kind": "VOICE_CALL", "receivedAt": at.Format(time.RFC3339)})
		if s.answer < 0 {
			continue
		}
		e.Clock.Set(at.Add(time.Duration(s.answer) * time.Second))
		op := e.As(t, "operator")
		if r := answer(t, e, op, id); r.Str("answerEmergencyCall.call.status") != "ANSWERED" {
			t.Fatalf("answer: %s", r.Raw)
		}
		if s.category != "" {
			closeCall(t, e, op, id, s.category)
		}
	}
	e.Clock.Set(base.Add(24 * time.Hour))

	const q = `query($f: Time!, $t: Time!, $u: ID){ emergencyCallStats(from: $f, to: $t, orgUnitId: $u){
		total answered answeredWithin60sRate answeredWithin180sRate medianAnswerSeconds p90AnswerSeconds byCategory { category count } } }`
	window := func(u *string) map[string]any {
		v := map[string]any{"f": base.Add(-time.Minute).Format(time.RFC3339), "t": base.Add(12 * time.Hour).Format(time.RFC3339)}
		if u != nil {
			v["u"] = *u
		}
		return v
	}
	street := orgUnitID(t, e, "510104020")
	num := func(r *testenv.Response, f string) float64 {
		x, _ := r.Get("emergencyCallStats." + f).(float64)
		return x
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

	t.Run("district-wide, unknown callers included", func(t *testing.T) {
		r := e.MustDo(t, e.As(t, "operator"), q, window(nil))
		// answer times: 10 30 50 90 200 20 100, one unanswered; total 8
		if num(r, "total") != 8 || num(r, "answered") != 7 || !near(num(r, "answeredWithin60sRate"), 4.0/8) ||
			!near(num(r, "answeredWithin180sRate"), 6.0/8) || num(r, "medianAnswerSeconds") != 50 ||
			!near(num(r, "p90AnswerSeconds"), 100+0.4*(200-100)) {
			t.Fatalf("%s", r.Raw)
		}
		if r.Str("emergencyCallStats.byCategory.0.category") != "MEDICAL" || num(r, "byCategory.0.count") != 3 {
			t.Fatalf("by category: %s", r.Raw)
		}
	})
	t.Run("one street's subtree", func(t *testing.T) {
		r := e.MustDo(t, e.As(t, "operator"), q, window(&street))
		// 10 30 50 90 200 and one unanswered: median 50, p90 = 90 + 0.6*110
		if num(r, "total") != 6 || num(r, "answered") != 5 || !near(num(r, "answeredWithin60sRate"), 3.0/6) ||
			!near(num(r, "answeredWithin180sRate"), 4.0/6) || num(r, "medianAnswerSeconds") != 50 ||
			!near(num(r, "p90AnswerSeconds"), 156) {
			t.Fatalf("%s", r.Raw)
		}
	})
	t.Run("case worker defaults to their own subtree", func(t *testing.T) {
		r := e.MustDo(t, e.As(t, "caseworker"), q, window(nil))
		if num(r, "total") != 6 {
			t.Fatalf("%s", r.Raw)
		}
	})
	t.Run("empty window", func(t *testing.T) {
		v := map[string]any{"f": base.Add(-48 * time.Hour).Format(time.RFC3339), "t": base.Add(-24 * time.Hour).Format(time.RFC3339)}
		r := e.MustDo(t, e.As(t, "operator"), q, v)
		if num(r, "total") != 0 || num(r, "answeredWithin60sRate") != 0 || r.Get("emergencyCallStats.medianAnswerSeconds") != nil ||
			r.Get("emergencyCallStats.p90AnswerSeconds") != nil || len(r.Get("emergencyCallStats.byCategory").([]any)) != 0 {
			t.Fatalf("%s", r.Raw)
		}
	})
	t.Run("forbidden", func(t *testing.T) {
		if c := e.Do(t, e.As(t, "caseworker2"), q, window(&street)).ErrorCode(); c != "FORBIDDEN" {
			t.Fatalf("case worker of another street: %s", c)
		}
		for _, u := range []string{"clerk", "telephony"} {
			if c := e.Do(t, e.As(t, u), q, window(nil)).ErrorCode(); c != "FORBIDDEN" {
				t.Fatalf("%s: %s", u, c)
			}
		}
	})
}
