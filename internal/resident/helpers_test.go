package resident_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph"
	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/idnumber"
	"github.com/jinjiang/residents/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// unitGID returns the global ID of the org unit with code.
func unitGID(t testing.TB, e *testenv.Env, code string) string {
	t.Helper()
	var id uuid.UUID
	if err := e.DB.Raw("SELECT id FROM org_units WHERE code = ?", code).Row().Scan(&id); err != nil {
		t.Fatalf("unit %s: %v", code, err)
	}
	return relay.ID(graph.TypeOrgUnit, id)
}

func residentGID(id uuid.UUID) string { return relay.ID(graph.TypeResident, id) }

var seq int

// newIDNumber generates a fresh valid ID number for a birth date.
func newIDNumber(birth time.Time, g idnumber.Gender) string {
	seq++ // Generate adjusts the sequence's parity to the gender: keep it distinct per gender.
	return idnumber.Generate("510104", birth, 2*seq, g)
}

// fakeServed answers HasServed from a fixed set of pairs.
type fakeServed map[[2]uuid.UUID]bool

func (f fakeServed) HasServed(_ context.Context, p, r uuid.UUID) (bool, error) {
	return f[[2]uuid.UUID{p, r}], nil
}

// providerToken creates a PROVIDER user for providerID and signs it in.
func providerToken(t testing.TB, e *testenv.Env, providerID uuid.UUID) string {
	t.Helper()
	name := "prov" + providerID.String()[24:]
	_, err := e.App.Auth.CreateUserTx(context.Background(), e.DB, auth.NewUser{Username: name, Password: "provider-password-1",
		DisplayName: "养老服务商", Roles: []auth.Role{auth.Provider}, ProviderID: &providerID})
	if err != nil {
		t.Fatal(err)
	}
	return e.Login(t, name, "provider-password-1")
}

const registerDoc = `mutation($in: RegisterResidentInput!){ registerResident(input:$in){
  resident{ id name idNumber idNumberMasked gender birthDate age phoneMasked version careLevel statuses
    community{ name } grid{ name } emergencyContacts{ name relation phoneMasked priority } }
  userErrors{ code field message } } }`

// register registers a resident through the API and returns its global ID.
func register(t testing.TB, e *testenv.Env, tok string, in map[string]any) (*testenv.Response, string) {
	t.Helper()
	r := e.MustDo(t, tok, registerDoc, map[string]any{"in": in})
	return r, r.Str("registerResident.resident.id")
}
