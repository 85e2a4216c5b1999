package faulttest_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/faulttest"
	"github.com/jinjiang/residents/internal/testenv"
	"github.com/jinjiang/residents/internal/voucher"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func readyz(t *testing.T, e *testenv.Env) int {
	resp, err := http.Get(e.Server.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRedisOutage: authenticated requests fail closed while Redis is down
// and the service resumes by itself when it returns. Redis keeps nothing on
// disk here, so the sessions are gone: clients sign in again.
func TestRedisOutage(t *testing.T) {
	rd := faulttest.StartRedis(t)
	e := testenv.New(t, testenv.WithConfig(func(c *config.Config) { c.RedisURL = rd.URL() }))
	tok := e.Admin(t)
	e.MustDo(t, tok, `{me{id}}`, nil)

	rd.Stop()
	r := e.Do(t, tok, `{me{id}}`, nil)
	if r.Status != http.StatusServiceUnavailable || r.ErrorCode() != "SERVICE_UNAVAILABLE" {
		t.Fatalf("during outage: %d %s", r.Status, r.Raw)
	}
	if got := readyz(t, e); got != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during outage = %d", got)
	}

	rd.Start()
	deadline := time.Now().Add(10 * time.Second)
	for readyz(t, e) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("not ready 10 s after Redis came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code := e.Do(t, tok, `{me{id}}`, nil).ErrorCode(); code != "UNAUTHENTICATED" {
		t.Fatalf("old session after a Redis restart without persistence: %q", code)
	}
	fresh := e.Admin(t)
	e.MustDo(t, fresh, `{me{id}}`, nil)
}

// TestPostgresRestartUnderLoad: redemptions, emergency calls and staff
// writes flow while Postgres is stopped and started. Every acknowledged
// write is there afterwards, clients only ever see SERVICE_UNAVAILABLE
// (never INTERNAL, never a hang), readiness follows the database, the
// server recovers without a restart, and the voucher books balance.
func TestPostgresRestartUnderLoad(t *testing.T) {
	pg := faulttest.StartPostgres(t)
	url := pg.CreateDatabase("faults")
	faulttest.Prepare(t, url, testenv.RedisURL(), testenv.AdminPassword)
	e := testenv.New(t, testenv.WithConfig(func(c *config.Config) {
		c.DatabaseURL = url
		c.RequestTimeout = 5 * time.Second
	}))
	admin := e.Admin(t)
	district := e.MustDo(t, admin, `{orgUnits(kind:DISTRICT){id}}`, nil).Str("orgUnits.0.id")
	w := faulttest.Vouchers(t, e, 10)
	tokens := make(chan string, 300)
	for i := 0; i < cap(tokens); i++ {
		tokens <- w.Token(t, e, w.Residents[i%len(w.Residents)])
	}
	prov := e.Login(t, w.ProviderUser, faulttest.ProviderPassword)
	tel := e.As(t, "telephony")

	var (
		ackedUsers, ackedCalls, ackedRedemptions sync.Map
		seq                                      atomic.Int64
		badMu                                    sync.Mutex
		bad                                      []string
		unavailable                              atomic.Int64
		slowest                                  atomic.Int64
		stop                                     = make(chan struct{})
		wg                                       sync.WaitGroup
	)
	// write sends one mutation and files its answer: acknowledged (ok
	// returns the id to remember), SERVICE_UNAVAILABLE, or anything else (a
	// failure of the test).
	write := func(tok, doc string, vars map[string]any, path string, acked *sync.Map, key string) {
		start := time.Now()
		r := e.Do(t, tok, doc, vars)
		if d := time.Since(start).Milliseconds(); d > slowest.Load() {
			slowest.Store(d)
		}
		switch {
		case r.Str(path) != "":
			acked.Store(key, r.Str(path))
		case r.ErrorCode() == "SERVICE_UNAVAILABLE":
			unavailable.Add(1)
		default:
			badMu.Lock()
			bad = append(bad, string(r.Raw))
			badMu.Unlock()
		}
	}
	for i := 0; i < 6; i++ {
		faulttest.Loop(&wg, stop, func() {
			n := seq.Add(1)
			switch i % 3 {
			case 0:
				select {
				case tok := <-tokens:
					key := fmt.Sprintf("pg-%d", n)
					write(prov, faulttest.RedeemDoc, faulttest.RedeemVars(tok, key, 100), "redeemVoucher.redemption.id", &ackedRedemptions, key)
				default:
				}
			case 1:
				id := fmt.Sprintf("pg-call-%d", n)
				write(tel, faulttest.CallDoc, map[string]any{"id": id}, "receiveEmergencyCall.call.id", &ackedCalls, id)
			default:
				name := fmt.Sprintf("load.user%d", n)
				write(admin, `mutation($u:String!,$o:ID!){createStaffUser(input:{username:$u,password:"long-enough-pw",displayName:"负载",roles:[CLERK],orgUnitId:$o}){user{id} userErrors{code}}}`,
					map[string]any{"u": name, "o": district}, "createStaffUser.user.id", &ackedUsers, name)
			}
			time.Sleep(10 * time.Millisecond)
		})
	}
	time.Sleep(time.Second)
	pg.Stop()
	time.Sleep(1500 * time.Millisecond)
	if got := readyz(t, e); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Postgres down = %d", got)
	}
	pg.Start()
	deadline := time.Now().Add(15 * time.Second)
	for readyz(t, e) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("not ready 15 s after Postgres came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	for _, b := range bad {
		t.Errorf("unexpected answer during the restart: %.300s", b)
	}
	if s := slowest.Load(); s > 6000 {
		t.Errorf("a request took %d ms, past the 5 s request timeout", s)
	}
	count := func(acked *sync.Map, what, query string) int {
		n := 0
		acked.Range(func(k, _ any) bool {
			n++
			var c int64
			if err := e.DB.Raw(query, k).Row().Scan(&c); err != nil || c != 1 {
				t.Errorf("acknowledged %s %s missing after the restart (%v)", what, k, err)
			}
			return true
		})
		if n == 0 {
			t.Errorf("no %s was acknowledged", what)
		}
		return n
	}
	users := count(&ackedUsers, "staff user", "SELECT count(*) FROM users WHERE username = ?")
	calls := count(&ackedCalls, "emergency call", "SELECT count(*) FROM emergency_calls WHERE external_call_id = ?")
	reds := count(&ackedRedemptions, "redemption", "SELECT count(*) FROM redemption_keys WHERE idempotency_key = ? AND redemption_id IS NOT NULL")
	if unavailable.Load() == 0 {
		t.Error("no request met the outage: the test proved nothing")
	}
	_, broken, err := voucher.CheckBooks(context.Background(), e.DB)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range broken {
		t.Error(b)
	}
	t.Logf("acknowledged and present after the restart: %d redemptions, %d calls, %d staff users; %d SERVICE_UNAVAILABLE; slowest request %d ms",
		reds, calls, users, unavailable.Load(), slowest.Load())
	e.MustDo(t, admin, `{me{id}}`, nil)
}

// TestPoolExhaustion: slow queries hold every connection; new requests fail
// fast with SERVICE_UNAVAILABLE, and nothing leaks afterwards.
func TestPoolExhaustion(t *testing.T) {
	e := testenv.New(t, testenv.WithConfig(func(c *config.Config) { c.DBMaxConns = 3 }))
	tok := e.Admin(t)
	ignore := goleak.IgnoreCurrent()
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.DB.Exec("SELECT pg_sleep(4)").Error; err != nil {
				t.Errorf("holding a connection: %v", err)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	r := e.Do(t, tok, `{orgUnits{id}}`, nil)
	took := time.Since(start)
	if r.Status != http.StatusServiceUnavailable || r.ErrorCode() != "SERVICE_UNAVAILABLE" {
		t.Fatalf("with the pool exhausted: %d %s", r.Status, r.Raw)
	}
	if took > 3*time.Second {
		t.Fatalf("refusal took %v; want it fast", took)
	}
	wg.Wait()
	e.MustDo(t, tok, `{orgUnits{id}}`, nil)
	e.Server.CloseClientConnections()
	goleak.VerifyNone(t, ignore, goleak.IgnoreAnyFunction("database/sql.(*DB).connectionOpener"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"), goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"))
}
