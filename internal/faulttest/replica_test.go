package faulttest_test

import (
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/faulttest"
	"github.com/jinjiang/residents/internal/testenv"
)

// TestReadReplicaRouting runs against a real streaming replica: queries
// read from the replica, mutations (and everything they read) from the
// primary.
func TestReadReplicaRouting(t *testing.T) {
	primary := faulttest.StartPostgres(t)
	url := primary.CreateDatabase("replicated")
	faulttest.Prepare(t, url, testenv.RedisURL(), testenv.AdminPassword)
	replica := primary.StartReplica()
	e := testenv.New(t, testenv.WithConfig(func(c *config.Config) {
		c.DatabaseURL = url
		c.DatabaseReplicaURLs = []string{replica.URL("replicated")}
	}))
	admin := e.Admin(t)
	district := e.MustDo(t, admin, `{orgUnits(kind:DISTRICT){id}}`, nil).Str("orgUnits.0.id")

	// Freeze the replica: from now on it lags behind the primary.
	replica.Exec("replicated", "SELECT pg_wal_replay_pause()")
	r := e.MustDo(t, admin, `mutation($o:ID!){createStaffUser(input:{username:"replica.test",password:"long-enough-pw",displayName:"副本",roles:[CLERK],orgUnitId:$o}){user{id username orgUnit{name}} userErrors{code}}}`,
		map[string]any{"o": district})
	uid := r.Str("createStaffUser.user.id")
	if uid == "" || r.Str("createStaffUser.user.orgUnit.name") != "锦江区" {
		t.Fatalf("mutation payload: %s", r.Raw)
	}
	// A query reads the lagging replica: the new account is not there yet.
	q := `query($id:ID!){node(id:$id){... on StaffUser{username}}}`
	if got := e.MustDo(t, admin, q, map[string]any{"id": uid}); got.Get("node") != nil {
		t.Fatalf("query was not routed to the replica: %s", got.Raw)
	}
	// Signing in (a mutation) reads the primary: the new account works at once.
	if tok := e.Login(t, "replica.test", "long-enough-pw"); tok == "" {
		t.Fatal("login of the new account failed")
	}
	replica.Exec("replicated", "SELECT pg_wal_replay_resume()")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got := e.MustDo(t, admin, q, map[string]any{"id": uid}); got.Str("node.username") == "replica.test" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica never caught up")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
