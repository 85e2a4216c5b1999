package disability_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/jinjiang/residents/internal/pii"
	"github.com/jinjiang/residents/internal/testenv"
)

func TestRecordCertificateRefusesBadNumbers(t *testing.T) {
	e := newEnv(t)
	cw := e.As(t, "caseworker")
	holder := newResident(t, e, testenv.ResidentSpec{})
	other := newResident(t, e, testenv.ResidentSpec{})
	good := certNumber(holder.IDNumber, 4, 2) // PHYSICAL, grade 2

	cases := []struct {
		name     string
		number   string
		category string
		grade    int
		issued   string
		until    string
		field    string
	}{
		{"too short", holder.IDNumber + "4", "PHYSICAL", 2, "2024-01-01", "2030-12-31", "input.number"},
		{"too long", good + "1", "PHYSICAL", 2, "2024-01-01", "2030-12-31", "input.number"},
		{"letters", holder.IDNumber[:10] + "ABCDEFGH42", "PHYSICAL", 2, "2024-01-01", "2030-12-31", "input.number"},
		{"another resident's ID number", certNumber(other.IDNumber, 4, 2), "PHYSICAL", 2, "2024-01-01", "2030-12-31", "input.number"},
		{"category digit disagrees", certNumber(holder.IDNumber, 5, 2), "PHYSICAL", 2, "2024-01-01", "2030-12-31", "input.category"},
		{"category digit out of range", certNumber(holder.IDNumber, 8, 2), "PHYSICAL", 2, "2024-01-01", "2030-12-31", "input.category"},
		{"grade digit disagrees", certNumber(holder.IDNumber, 4, 3), "PHYSICAL", 2, "2024-01-01", "2030-12-31", "input.grade"},
		{"grade outside 1-4", certNumber(holder.IDNumber, 4, 5), "PHYSICAL", 5, "2024-01-01", "2030-12-31", "input.grade"},
		{"grade zero", certNumber(holder.IDNumber, 4, 0), "PHYSICAL", 0, "2024-01-01", "2030-12-31", "input.grade"},
		{"validity ends before it starts", good, "PHYSICAL", 2, "2024-01-01", "2023-12-31", "input.validUntil"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.MustDo(t, cw, recordCert, certInput(holder.ID, c.number, c.category, c.grade, c.issued, c.until))
			if r.Get("recordDisabilityCertificate.certificate") != nil {
				t.Fatalf("certificate recorded: %s", r.Raw)
			}
			ues, _ := r.Get("recordDisabilityCertificate.userErrors").([]any)
			if len(ues) != 1 {
				t.Fatalf("want exactly one user error, got %s", r.Raw)
			}
			if r.Str("recordDisabilityCertificate.userErrors.0.code") != "INVALID" {
				t.Fatalf("code: %s", r.Raw)
			}
			f, _ := r.Get("recordDisabilityCertificate.userErrors.0.field").([]any)
			got := make([]string, len(f))
			for i, x := range f {
				got[i] = x.(string)
			}
			if strings.Join(got, ".") != c.field {
				t.Fatalf("field = %v, want %s: %s", got, c.field, r.Raw)
			}
		})
	}
	if n := count(t, e, "SELECT count(*) FROM disability_certificates WHERE resident_id = ?", holder.ID); n != 0 {
		t.Fatalf("%d certificates written by refused requests", n)
	}
	// The good number goes through, with a lower-case check character too.
	r := e.MustDo(t, cw, recordCert, certInput(holder.ID, strings.ToLower(good), "PHYSICAL", 2, "2024-01-01", "2030-12-31"))
	if got := r.Str("recordDisabilityCertificate.certificate.number"); got != good {
		t.Fatalf("number = %q want %q: %s", got, good, r.Raw)
	}
}

func TestRecordCertificateAuthorization(t *testing.T) {
	e := newEnv(t)
	holder := newResident(t, e, testenv.ResidentSpec{}) // 春熙路街道
	vars := certInput(holder.ID, certNumber(holder.IDNumber, 1, 1), "VISUAL", 1, "2024-01-01", "2030-12-31")
	for _, c := range []struct {
		who, code string
	}{
		{"caseworker2", "FORBIDDEN"}, // 牛市口街道: outside jurisdiction
		{"clerk", "FORBIDDEN"},
		{"operator", "FORBIDDEN"},
		{"auditor", "FORBIDDEN"},
		{"caseworker", ""},
		{"admin", ""},
	} {
		t.Run(c.who, func(t *testing.T) {
			tok := ""
			if c.who == "admin" {
				tok = e.Admin(t)
			} else {
				tok = e.As(t, c.who)
			}
			r := e.Do(t, tok, recordCert, vars)
			if r.ErrorCode() != c.code {
				t.Fatalf("code = %q want %q: %s", r.ErrorCode(), c.code, r.Raw)
			}
			if c.code == "" && r.Str("recordDisabilityCertificate.certificate.id") == "" {
				t.Fatalf("no certificate: %s", r.Raw)
			}
		})
	}
	t.Run("resident self", func(t *testing.T) {
		r := e.Do(t, residentToken(t, e, holder.ID), recordCert, vars)
		if r.ErrorCode() != "FORBIDDEN" {
			t.Fatalf("code = %q: %s", r.ErrorCode(), r.Raw)
		}
	})
}

const historyQuery = `query($id: ID!) { disabilityCertificates(residentId: $id) { id grade category supersededAt number } }`

// residentViaService reads Resident.disabilityCertificate through a
// service record (the resident domain's own queries are on another branch).
const residentViaService = `query($id: ID!) { node(id: $id) { ... on DisabilityService {
  resident { disabilityCertificate { id number category grade validUntil } } } } }`

func TestCertificateSupersessionAndExpiry(t *testing.T) {
	e := newEnv(t)
	cw := e.As(t, "caseworker")
	holder := newResident(t, e, testenv.ResidentSpec{})
	first := record(t, e, cw, holder, "HEARING", 2, 4, "2020-01-01", "2030-12-31")
	second := record(t, e, cw, holder, "HEARING", 2, 3, "2026-06-01", "2027-05-31")

	h := e.MustDo(t, cw, historyQuery, map[string]any{"id": residentGID(holder.ID)})
	if h.Str("disabilityCertificates.0.id") != second || h.Str("disabilityCertificates.1.id") != first {
		t.Fatalf("history order: %s", h.Raw)
	}
	if h.Get("disabilityCertificates.0.supersededAt") != nil || h.Str("disabilityCertificates.1.supersededAt") == "" {
		t.Fatalf("supersededAt: %s", h.Raw)
	}
	if n := count(t, e, "SELECT count(*) FROM disability_certificates WHERE resident_id = ? AND superseded_at IS NULL", holder.ID); n != 1 {
		t.Fatalf("%d current certificates", n)
	}
	if n := count(t, e, "SELECT count(*) FROM audit_log WHERE action = 'recordDisabilityCertificate' AND entity_id = ?", uuidOf(t, second)); n != 1 {
		t.Fatalf("audit entries: %d", n)
	}

	svc := e.MustDo(t, cw, requestSvc, svcInput(holder.ID, "REHABILITATION", nil)).Str("requestDisabilityService.service.id")
	r := e.MustDo(t, cw, residentViaService, map[string]any{"id": svc})
	if r.Str("node.resident.disabilityCertificate.id") != second || r.Get("node.resident.disabilityCertificate.grade") != float64(3) {
		t.Fatalf("current certificate: %s", r.Raw)
	}

	// The day after validUntil (Shanghai), the resident has no current certificate.
	e.Clock.Set(civilDay(2027, 6, 1))
	cw = e.As(t, "caseworker") // tokens follow the app clock
	r = e.MustDo(t, cw, residentViaService, map[string]any{"id": svc})
	if r.Get("node.resident") == nil || r.Get("node.resident.disabilityCertificate") != nil {
		t.Fatalf("expired certificate still current: %s", r.Raw)
	}
	// On its last day it still counts.
	e.Clock.Set(civilDay(2027, 5, 31))
	cw = e.As(t, "caseworker")
	r = e.MustDo(t, cw, residentViaService, map[string]any{"id": svc})
	if r.Str("node.resident.disabilityCertificate.id") != second {
		t.Fatalf("certificate on its last day: %s", r.Raw)
	}
}

func TestCertificateNumberMasking(t *testing.T) {
	e := newEnv(t)
	cw := e.As(t, "caseworker")
	holder := newResident(t, e, testenv.ResidentSpec{})
	id := record(t, e, cw, holder, "MENTAL", 6, 3, "2024-01-01", "2030-12-31")
	full := certNumber(holder.IDNumber, 6, 3)
	masked := pii.MaskIDNumber(holder.IDNumber) + "63"
	q := `query($id: ID!) { node(id: $id) { ... on DisabilityCertificate { number grade } } }`
	for _, c := range []struct {
		who  string
		want string
		code string
	}{
		{"caseworker", full, ""},
		{"clerk", full, ""},
		{"admin", full, ""},
		{"self", full, ""},
		{"operator", masked, ""},
		{"auditor", masked, ""},
		{"caseworker2", "", "FORBIDDEN"},
		{"other resident", "", "FORBIDDEN"},
	} {
		t.Run(c.who, func(t *testing.T) {
			var tok string
			switch c.who {
			case "admin":
				tok = e.Admin(t)
			case "self":
				tok = residentToken(t, e, holder.ID)
			case "other resident":
				tok = residentToken(t, e, newResident(t, e, testenv.ResidentSpec{}).ID)
			default:
				tok = e.As(t, c.who)
			}
			before := count(t, e, "SELECT count(*) FROM audit_log WHERE action = 'number' AND entity_id = ?", uuidOf(t, id))
			r := e.Do(t, tok, q, map[string]any{"id": id})
			if r.ErrorCode() != c.code {
				t.Fatalf("code %q want %q: %s", r.ErrorCode(), c.code, r.Raw)
			}
			if c.code != "" {
				return
			}
			if got := r.Str("node.number"); got != c.want {
				t.Fatalf("number %q want %q", got, c.want)
			}
			after := count(t, e, "SELECT count(*) FROM audit_log WHERE action = 'number' AND entity_id = ?", uuidOf(t, id))
			if wantAudit := c.want == full; (after == before+1) != wantAudit {
				t.Fatalf("audit entries %d -> %d (full read: %v)", before, after, wantAudit)
			}
		})
	}
	var stored string
	if err := e.DB.Raw("SELECT number_enc FROM disability_certificates WHERE id = (SELECT id FROM disability_certificates WHERE resident_id = ?)", holder.ID).Row().Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, holder.IDNumber) {
		t.Fatal("certificate number stored in clear")
	}
}

func TestConcurrentRecordsKeepOneCurrent(t *testing.T) {
	e := newEnv(t)
	cw := e.As(t, "caseworker")
	holder := newResident(t, e, testenv.ResidentSpec{})
	const n = 6
	errs := make(chan string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(grade int) {
			defer wg.Done()
			r := e.Do(t, cw, recordCert, certInput(holder.ID, certNumber(holder.IDNumber, 4, grade), "PHYSICAL", grade, "2024-01-01", "2030-12-31"))
			if len(r.Errors) > 0 || r.Str("recordDisabilityCertificate.certificate.id") == "" {
				errs <- string(r.Raw)
			}
		}(i%4 + 1)
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Errorf("concurrent record failed: %s", msg)
	}
	if c := count(t, e, "SELECT count(*) FROM disability_certificates WHERE resident_id = ? AND superseded_at IS NULL", holder.ID); c != 1 {
		t.Fatalf("%d current certificates", c)
	}
	if c := count(t, e, "SELECT count(*) FROM disability_certificates WHERE resident_id = ?", holder.ID); c != n {
		t.Fatalf("%d certificates in history, want %d", c, n)
	}
}
