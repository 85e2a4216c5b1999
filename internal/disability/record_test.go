package disability_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/testenv"
)

// moveTo drives a fresh record to status through the legal path.
func moveTo(t *testing.T, e *testenv.Env, tok, id, status string) {
	t.Helper()
	steps := map[string][]map[string]any{
		"REQUESTED": nil,
		"SCHEDULED": {{"status": "SCHEDULED", "scheduledOn": "2026-11-30"}},
		"DELIVERED": {{"status": "SCHEDULED", "scheduledOn": "2026-11-20"}, {"status": "DELIVERED", "deliveredOn": "2026-11-26"}},
		"CANCELLED": {{"status": "CANCELLED"}},
	}
	for _, s := range steps[status] {
		s["id"] = id
		r := e.MustDo(t, tok, updateSvc, map[string]any{"in": s})
		if r.Str("updateDisabilityService.service.status") != s["status"] {
			t.Fatalf("move to %v: %s", s["status"], r.Raw)
		}
	}
}

func TestServiceTransitions(t *testing.T) {
	e := newEnv(t)
	clerk := e.As(t, "clerk")
	holder := newResident(t, e, testenv.ResidentSpec{})
	all := []string{"REQUESTED", "SCHEDULED", "DELIVERED", "CANCELLED"}
	legal := map[[2]string]bool{
		{"REQUESTED", "SCHEDULED"}: true, {"REQUESTED", "CANCELLED"}: true,
		{"SCHEDULED", "DELIVERED"}: true, {"SCHEDULED", "CANCELLED"}: true,
	}
	for _, from := range all {
		for _, to := range all {
			t.Run(from+"->"+to, func(t *testing.T) {
				id := e.MustDo(t, clerk, requestSvc, svcInput(holder.ID, "DAY_CARE", nil)).Str("requestDisabilityService.service.id")
				moveTo(t, e, clerk, id, from)
				in := map[string]any{"id": id, "status": to, "scheduledOn": "2026-12-01", "deliveredOn": "2026-11-27"}
				r := e.MustDo(t, clerk, updateSvc, map[string]any{"in": in})
				if legal[[2]string{from, to}] {
					if r.Str("updateDisabilityService.service.status") != to {
						t.Fatalf("legal move refused: %s", r.Raw)
					}
					return
				}
				if r.Str("updateDisabilityService.userErrors.0.code") != "INVALID_TRANSITION" || r.Get("updateDisabilityService.service") != nil {
					t.Fatalf("illegal move not refused: %s", r.Raw)
				}
				var status string
				testenv.MustScan(t, e.DB, "SELECT status FROM disability_services WHERE id = ?", testenv.Args(uuidOf(t, id)), &status)
				if status != from {
					t.Fatalf("status changed to %s", status)
				}
			})
		}
	}
}

func TestServiceDeliveryDates(t *testing.T) {
	e := newEnv(t)
	clerk := e.As(t, "clerk")
	holder := newResident(t, e, testenv.ResidentSpec{})
	id := e.MustDo(t, clerk, requestSvc, svcInput(holder.ID, "ASSISTIVE_DEVICE", nil)).Str("requestDisabilityService.service.id")

	r := e.MustDo(t, clerk, updateSvc, map[string]any{"in": map[string]any{"id": id, "status": "SCHEDULED"}})
	if r.Str("updateDisabilityService.userErrors.0.code") != "INVALID" || r.Str("updateDisabilityService.userErrors.0.field.1") != "scheduledOn" {
		t.Fatalf("scheduling without a date: %s", r.Raw)
	}
	moveTo(t, e, clerk, id, "SCHEDULED")
	for _, c := range []struct {
		name string
		in   map[string]any
	}{
		{"no delivery date", map[string]any{"id": id, "status": "DELIVERED"}},
		{"delivery date tomorrow", map[string]any{"id": id, "status": "DELIVERED", "deliveredOn": "2026-11-28"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.MustDo(t, clerk, updateSvc, map[string]any{"in": c.in})
			if r.Str("updateDisabilityService.userErrors.0.field.1") != "deliveredOn" {
				t.Fatalf("not refused on deliveredOn: %s", r.Raw)
			}
		})
	}
	r = e.MustDo(t, clerk, updateSvc, map[string]any{"in": map[string]any{"id": id, "status": "DELIVERED", "deliveredOn": "2026-11-27", "note": "轮椅已送达"}})
	if r.Str("updateDisabilityService.service.deliveredOn") != "2026-11-27" || r.Str("updateDisabilityService.service.note") != "轮椅已送达" {
		t.Fatalf("delivery today: %s", r.Raw)
	}
	// request + schedule + deliver = three audited changes; refused ones leave none.
	if n := count(t, e, "SELECT count(*) FROM audit_log WHERE entity = 'DisabilityService' AND entity_id = ?", uuidOf(t, id)); n != 3 {
		t.Fatalf("audit entries = %d, want 3", n)
	}
}

func TestServiceUpdateWho(t *testing.T) {
	e := newEnv(t)
	clerk := e.As(t, "clerk")
	holder := newResident(t, e, testenv.ResidentSpec{}) // 春熙路街道
	assigned, otherProv := seededProviders(t, e)
	cases := []struct {
		who  string
		tok  func() string
		code string
	}{
		{"admin", func() string { return e.Admin(t) }, ""},
		{"clerk", func() string { return clerk }, ""},
		{"caseworker in jurisdiction", func() string { return e.As(t, "caseworker") }, ""},
		{"caseworker elsewhere", func() string { return e.As(t, "caseworker2") }, "FORBIDDEN"},
		{"operator", func() string { return e.As(t, "operator") }, "FORBIDDEN"},
		{"auditor", func() string { return e.As(t, "auditor") }, "FORBIDDEN"},
		{"assigned provider", func() string { return providerToken(t, e, assigned) }, ""},
		{"another provider", func() string { return providerToken(t, e, otherProv) }, "FORBIDDEN"},
		{"the resident", func() string { return residentToken(t, e, holder.ID) }, "FORBIDDEN"},
		{"anonymous", func() string { return "" }, "UNAUTHENTICATED"},
	}
	for _, c := range cases {
		t.Run(c.who, func(t *testing.T) {
			r := e.MustDo(t, clerk, requestSvc, svcInput(holder.ID, "HOME_MODIFICATION", &assigned))
			id := r.Str("requestDisabilityService.service.id")
			u := e.Do(t, c.tok(), updateSvc, map[string]any{"in": map[string]any{"id": id, "status": "SCHEDULED", "scheduledOn": "2026-12-03"}})
			if u.ErrorCode() != c.code {
				t.Fatalf("code %q want %q: %s", u.ErrorCode(), c.code, u.Raw)
			}
			var status string
			if err := e.DB.Raw("SELECT status FROM disability_services WHERE id = ?", uuidOf(t, id)).Row().Scan(&status); err != nil {
				t.Fatal(err)
			}
			want := "SCHEDULED"
			if c.code != "" {
				want = "REQUESTED"
			}
			if status != want {
				t.Fatalf("status %s want %s", status, want)
			}
		})
	}
}

func TestRequestServiceWho(t *testing.T) {
	e := newEnv(t)
	holder := newResident(t, e, testenv.ResidentSpec{})                                 // 春熙路街道
	elsewhere := newResident(t, e, testenv.ResidentSpec{CommunityCode: "510104023001"}) // 牛市口街道
	self := residentToken(t, e, holder.ID)
	cases := []struct {
		who    string
		tok    func() string
		target uuid.UUID
		code   string
	}{
		{"resident for themself", func() string { return self }, holder.ID, ""},
		{"resident for someone else", func() string { return self }, elsewhere.ID, "FORBIDDEN"},
		{"clerk anywhere", func() string { return e.As(t, "clerk") }, elsewhere.ID, ""},
		{"caseworker in jurisdiction", func() string { return e.As(t, "caseworker") }, holder.ID, ""},
		{"caseworker elsewhere", func() string { return e.As(t, "caseworker") }, elsewhere.ID, "FORBIDDEN"},
		{"operator", func() string { return e.As(t, "operator") }, holder.ID, "FORBIDDEN"},
		{"provider", func() string { _, p2 := seededProviders(t, e); return providerToken(t, e, p2) }, holder.ID, "FORBIDDEN"},
	}
	for _, c := range cases {
		t.Run(c.who, func(t *testing.T) {
			before := count(t, e, "SELECT count(*) FROM disability_services WHERE resident_id = ?", c.target)
			r := e.Do(t, c.tok(), requestSvc, svcInput(c.target, "ACCESSIBLE_CINEMA", nil))
			if r.ErrorCode() != c.code {
				t.Fatalf("code %q want %q: %s", r.ErrorCode(), c.code, r.Raw)
			}
			after := count(t, e, "SELECT count(*) FROM disability_services WHERE resident_id = ?", c.target)
			if (after == before+1) != (c.code == "") {
				t.Fatalf("rows %d -> %d", before, after)
			}
			if c.code == "" && r.Str("requestDisabilityService.service.status") != "REQUESTED" {
				t.Fatalf("status: %s", r.Raw)
			}
		})
	}

	// The resident sees their own services through Resident.disabilityServices.
	id := e.MustDo(t, self, requestSvc, svcInput(holder.ID, "CARE_ASSISTANCE", nil)).Str("requestDisabilityService.service.id")
	r := e.MustDo(t, self, `query($id: ID!) { node(id: $id) { ... on DisabilityService { resident { disabilityServices { id kind status } } } } }`,
		map[string]any{"id": id})
	list, _ := r.Get("node.resident.disabilityServices").([]any)
	if len(list) != 3 || r.Str("node.resident.disabilityServices.0.id") != id {
		t.Fatalf("disabilityServices (newest first, 3 expected): %s", r.Raw)
	}
	if n := count(t, e, "SELECT count(*) FROM audit_log WHERE action = 'requestDisabilityService' AND entity_id = ?", uuidOf(t, id)); n != 1 {
		t.Fatalf("request not audited")
	}
}

func TestProviderSeesOnlyItsRecords(t *testing.T) {
	e := newEnv(t)
	clerk := e.As(t, "clerk")
	holder := newResident(t, e, testenv.ResidentSpec{})
	p1, p2 := seededProviders(t, e)
	record(t, e, e.As(t, "caseworker"), holder, "VISUAL", 1, 2, "2024-01-01", "2030-12-31")
	mine := e.MustDo(t, clerk, requestSvc, svcInput(holder.ID, "REHABILITATION", &p1)).Str("requestDisabilityService.service.id")
	e.MustDo(t, clerk, requestSvc, svcInput(holder.ID, "DAY_CARE", &p2))
	tok := providerToken(t, e, p1)
	r := e.MustDo(t, tok, `query($id: ID!) { node(id: $id) { ... on DisabilityService { kind resident { disabilityServices { id } disabilityCertificate { id } } } } }`,
		map[string]any{"id": mine})
	list, _ := r.Get("node.resident.disabilityServices").([]any)
	if r.Str("node.kind") != "REHABILITATION" || len(list) != 1 || r.Str("node.resident.disabilityServices.0.id") != mine {
		t.Fatalf("provider view: %s", r.Raw)
	}
	if r.Get("node.resident") == nil || r.Get("node.resident.disabilityCertificate") != nil {
		t.Fatalf("a provider must not see the certificate: %s", r.Raw)
	}
	other := e.MustDo(t, clerk, requestSvc, svcInput(holder.ID, "DAY_CARE", &p2)).Str("requestDisabilityService.service.id")
	if r := e.Do(t, tok, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": other}); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("provider read another provider's record: %s", r.Raw)
	}
}
