package testenv_test

import (
	"testing"

	"github.com/jinjiang/residents/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestEnvServesLogin(t *testing.T) {
	e := testenv.New(t)
	if tok := e.Admin(t); tok == "" {
		t.Fatal("no token")
	}
	if tok := e.As(t, "clerk"); tok == "" {
		t.Fatal("no token")
	}
}

func TestInsertResident(t *testing.T) {
	e := testenv.New(t)
	r := e.InsertResident(t, testenv.ResidentSpec{Phone: "13800138000", Statuses: []string{"LIVING_ALONE"}})
	var masked string
	if err := e.DB.Raw("SELECT phone_masked FROM residents WHERE id = ?", r.ID).Row().Scan(&masked); err != nil {
		t.Fatal(err)
	}
	if masked != "138****8000" {
		t.Fatalf("phone mask = %q", masked)
	}
}
