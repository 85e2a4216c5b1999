package disability_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// fixedNow is the business "today" of every test: 2026-11-27 in Shanghai.
var fixedNow = time.Date(2026, 11, 27, 10, 0, 0, 0, civil.Shanghai)

func newEnv(t *testing.T) *testenv.Env {
	t.Helper()
	e := testenv.New(t, testenv.OwnDatabase(t)) // the tests change the district's subsidy rules
	e.Clock.Set(fixedNow)
	return e
}

func residentGID(id uuid.UUID) string { return relay.ID("Resident", id) }

// certNumber builds a certificate number for an ID number.
func certNumber(idNumber string, category, grade int) string {
	return fmt.Sprintf("%s%d%d", idNumber, category, grade)
}

// residentToken signs in a WeChat account bound to the resident (what
// wechatLogin + bindResident end with).
func residentToken(t *testing.T, e *testenv.Env, residentID uuid.UUID) string {
	t.Helper()
	ctx := context.Background()
	acc := uuid.Must(uuid.NewV7())
	if err := e.DB.Exec("INSERT INTO wechat_accounts (id, openid, resident_id, bound_at) VALUES (?, ?, ?, now())",
		acc, "openid-"+acc.String(), residentID).Error; err != nil {
		t.Fatal(err)
	}
	g, err := e.App.Auth.StartSession(ctx, e.DB, auth.WechatViewer(acc, &residentID))
	if err != nil {
		t.Fatal(err)
	}
	return g.AccessToken
}

// providerToken creates a provider user for providerID and signs it in.
func providerToken(t *testing.T, e *testenv.Env, providerID uuid.UUID) string {
	t.Helper()
	name := "prov" + providerID.String()[:8] + fmt.Sprint(time.Now().UnixNano()%100000)
	_, err := e.App.Auth.CreateUserTx(context.Background(), e.DB, auth.NewUser{Username: name, Password: "provider-password",
		DisplayName: "服务机构", Roles: []auth.Role{auth.Provider}, ProviderID: &providerID})
	if err != nil {
		t.Fatal(err)
	}
	return e.Login(t, name, "provider-password")
}

const recordCert = `mutation($in: RecordDisabilityCertificateInput!) {
  recordDisabilityCertificate(input: $in) {
    certificate { id number category grade issuedOn validUntil supersededAt }
    userErrors { code field message }
  }
}`

func certInput(residentID uuid.UUID, number, category string, grade int, issued, until string) map[string]any {
	return map[string]any{"in": map[string]any{"residentId": residentGID(residentID), "number": number,
		"category": category, "grade": grade, "issuedOn": issued, "validUntil": until}}
}

// record records a certificate and fails the test on any error.
func record(t *testing.T, e *testenv.Env, tok string, r testenv.Resident, category string, digit, grade int, issued, until string) string {
	t.Helper()
	res := e.MustDo(t, tok, recordCert, certInput(r.ID, certNumber(r.IDNumber, digit, grade), category, grade, issued, until))
	if ue := res.Get("recordDisabilityCertificate.userErrors"); len(ue.([]any)) > 0 {
		t.Fatalf("record certificate: %s", res.Raw)
	}
	return res.Str("recordDisabilityCertificate.certificate.id")
}

func count(t *testing.T, e *testenv.Env, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.DB.Raw(sql, args...).Row().Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// civilDay is 10:00 in Shanghai on the given day.
func civilDay(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 10, 0, 0, 0, civil.Shanghai)
}

const requestSvc = `mutation($in: RequestDisabilityServiceInput!) {
  requestDisabilityService(input: $in) {
    service { id kind status scheduledOn deliveredOn note provider { id } resident { name } }
    userErrors { code field message }
  }
}`

func svcInput(residentID uuid.UUID, kind string, provider *uuid.UUID) map[string]any {
	in := map[string]any{"residentId": residentGID(residentID), "kind": kind}
	if provider != nil {
		in["providerId"] = relay.ID("Provider", *provider)
	}
	return map[string]any{"in": in}
}

const updateSvc = `mutation($in: UpdateDisabilityServiceInput!) {
  updateDisabilityService(input: $in) {
    service { id status scheduledOn deliveredOn note }
    userErrors { code field message }
  }
}`

// uuidOf extracts the UUID from a global ID.
func uuidOf(t *testing.T, gid string) uuid.UUID {
	t.Helper()
	_, id, err := relay.Parse(gid)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newResident is e.InsertResident with an empty status list by default
// (InsertResident writes NULL statuses for a nil slice, which the column refuses).
var birthSeq atomic.Int64

func newResident(t *testing.T, e *testenv.Env, s testenv.ResidentSpec) testenv.Resident {
	t.Helper()
	if s.Statuses == nil {
		s.Statuses = []string{}
	}
	if s.BirthDate.IsZero() {
		// ID numbers are generated from the birth date and a 0-999 sequence:
		// spread the birth dates so that a package's residents never collide.
		s.BirthDate = time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(birthSeq.Add(1))*7)
	}
	return e.InsertResident(t, s)
}

// seededProviders returns the providers of the demo users provider1 and provider2.
func seededProviders(t *testing.T, e *testenv.Env) (uuid.UUID, uuid.UUID) {
	t.Helper()
	rows, err := e.DB.Raw("SELECT provider_id FROM users WHERE username IN ('provider1', 'provider2') ORDER BY username").Rows()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 {
		t.Fatalf("%d seeded providers", len(ids))
	}
	return ids[0], ids[1]
}

func firstProvider(t *testing.T, e *testenv.Env) uuid.UUID {
	p, _ := seededProviders(t, e)
	return p
}
