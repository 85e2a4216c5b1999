package emergency_test

import (
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/testenv"
)

func TestListCalls(t *testing.T) {
	e := testenv.New(t)
	// the package database is shared by all tests: this test's calls are
	// the only ones received in a window in early 2025
	base := window()
	e.Clock.Set(base.Add(10 * time.Minute))
	tel, op := e.As(t, "telephony"), e.As(t, "operator")
	win := func(f map[string]any) map[string]any {
		out := map[string]any{"from": base.Add(-time.Minute).Format(time.RFC3339), "to": base.Add(time.Hour).Format(time.RFC3339)}
		for k, v := range f {
			out[k] = v
		}
		return out
	}
	p1, p2 := phone(), phone()
	chunxi := insertResident(t, e, testenv.ResidentSpec{Phone: p1})
	insertResident(t, e, testenv.ResidentSpec{Phone: p2, CommunityCode: "510104023001"})
	var ids []string // oldest first
	for i, phone := range []string{p1, p2, p1, phone(), p1} {
		at := base.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
		ids = append(ids, mustReceive(t, e, tel, map[string]any{"externalCallId": uniq("L"), "callerNumber": phone, "kind": "VOICE_CALL", "receivedAt": at}))
	}
	answer(t, e, op, ids[0])

	const q = `query($f: EmergencyCallFilter, $n: Int, $a: String){ emergencyCalls(filter: $f, first: $n, after: $a){
		totalCount edges { cursor node { id status } } pageInfo { hasNextPage endCursor } } }`
	idsOf := func(r *testenv.Response) []string {
		var out []string
		edges, _ := r.Get("emergencyCalls.edges").([]any)
		for _, x := range edges {
			out = append(out, x.(map[string]any)["node"].(map[string]any)["id"].(string))
		}
		return out
	}
	t.Run("newest first across pages", func(t *testing.T) {
		r := e.MustDo(t, op, q, map[string]any{"n": 2, "f": win(nil)})
		p1 := idsOf(r)
		if r.Get("emergencyCalls.totalCount") != float64(5) || len(p1) != 2 || p1[0] != ids[4] || p1[1] != ids[3] ||
			r.Get("emergencyCalls.pageInfo.hasNextPage") != true {
			t.Fatalf("page 1: %s", r.Raw)
		}
		r = e.MustDo(t, op, q, map[string]any{"n": 2, "f": win(nil), "a": r.Str("emergencyCalls.pageInfo.endCursor")})
		if p2 := idsOf(r); len(p2) != 2 || p2[0] != ids[2] || p2[1] != ids[1] {
			t.Fatalf("page 2: %s", r.Raw)
		}
		r = e.MustDo(t, op, q, map[string]any{"n": 2, "f": win(nil), "a": r.Str("emergencyCalls.pageInfo.endCursor")})
		if p3 := idsOf(r); len(p3) != 1 || p3[0] != ids[0] || r.Get("emergencyCalls.pageInfo.hasNextPage") != false {
			t.Fatalf("page 3: %s", r.Raw)
		}
	})
	street := orgUnitID(t, e, "510104020")
	for _, c := range []struct {
		name, user string
		filter     map[string]any
		want       []string
		err        string
	}{
		{"status filter", "operator", map[string]any{"status": "ANSWERED"}, []string{ids[0]}, ""},
		{"org unit subtree", "operator", map[string]any{"orgUnitId": street}, []string{ids[4], ids[2], ids[0]}, ""},
		{"time window", "operator", map[string]any{"from": base.Add(time.Minute).Format(time.RFC3339), "to": base.Add(3 * time.Minute).Format(time.RFC3339)}, []string{ids[2], ids[1]}, ""},
		{"empty time window", "operator", map[string]any{"to": base.Add(-time.Hour).Format(time.RFC3339)}, nil, ""},
		{"case worker sees their subtree only", "caseworker", nil, []string{ids[4], ids[2], ids[0]}, ""},
		{"auditor reads district-wide", "auditor", map[string]any{"status": "RECEIVED"}, []string{ids[4], ids[3], ids[2], ids[1]}, ""},
		{"case worker outside their subtree", "caseworker2", map[string]any{"orgUnitId": street}, nil, "FORBIDDEN"},
		{"clerk forbidden", "clerk", nil, nil, "FORBIDDEN"},
		{"telephony forbidden", "telephony", nil, nil, "FORBIDDEN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.Do(t, e.As(t, c.user), q, map[string]any{"f": win(c.filter)})
			if r.ErrorCode() != c.err {
				t.Fatalf("error %q: %s", r.ErrorCode(), r.Raw)
			}
			if c.err != "" {
				return
			}
			got := idsOf(r)
			if len(got) != len(c.want) || r.Get("emergencyCalls.totalCount") != float64(len(c.want)) {
				t.Fatalf("got %v want %v: %s", got, c.want, r.Raw)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("got %v want %v", got, c.want)
				}
			}
		})
	}
	t.Run("resident's calls", func(t *testing.T) {
		r := e.MustDo(t, op, `query($id: ID!){ node(id: $id){ ... on EmergencyCall { resident { emergencyCalls(first: 2) { totalCount edges { node { id } } } } } } }`,
			map[string]any{"id": ids[0]})
		if r.Get("node.resident.emergencyCalls.totalCount") != float64(3) || r.Str("node.resident.emergencyCalls.edges.0.node.id") != ids[4] {
			t.Fatalf("%s", r.Raw)
		}
		_ = chunxi
	})
	t.Run("node applies the same authorization", func(t *testing.T) {
		r := e.MustDo(t, e.As(t, "caseworker2"), `query($id: ID!){ node(id: $id){ id } }`, map[string]any{"id": ids[0]})
		if r.Get("node") != nil {
			t.Fatalf("case worker of another street read the call: %s", r.Raw)
		}
	})
}
