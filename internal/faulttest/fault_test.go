package faulttest_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/faulttest"
	"github.com/jinjiang/residents/internal/testenv"
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

// TestPostgresRestartUnderLoad: writes flow while Postgres is stopped and
// started. Every acknowledged write is there afterwards, clients only ever
// see SERVICE_UNAVAILABLE (never INTERNAL, never a hang), readiness follows
// the database, and the server recovers without a restart.
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

	var (
		acked   sync.Map
		seq     atomic.Int64
		badMu   sync.Mutex
		bad     []string
		slowest atomic.Int64
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("load.user%d", seq.Add(1))
				start := time.Now()
				r := e.Do(t, admin, `mutation($u:String!,$o:ID!){createStaffUser(input:{username:$u,password:"long-enough-pw",displayName:"负载",roles:[CLERK],orgUnitId:$o}){user{id} userErrors{code}}}`,
					map[string]any{"u": name, "o": district})
				if d := time.Since(start).Milliseconds(); d > slowest.Load() {
					slowest.Store(d)
				}
				switch {
				case r.Str("createStaffUser.user.id") != "":
					acked.Store(name, true)
				case r.ErrorCode() == "SERVICE_UNAVAILABLE":
				default:
					badMu.Lock()
					bad = append(bad, string(r.Raw))
					badMu.Unlock()
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
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
	n := 0
	acked.Range(func(k, _ any) bool {
		n++
		var count int64
		if err := e.DB.Raw("SELECT count(*) FROM users WHERE username = ?", k).Row().Scan(&count); err != nil || count != 1 {
			t.Errorf("acknowledged user %s missing after restart (%v)", k, err)
		}
		return true
	})
	if n == 0 {
		t.Fatal("no write was acknowledged")
	}
	t.Logf("%d acknowledged writes survived the restart; slowest request %d ms", n, slowest.Load())
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
			e.DB.Exec("SELECT pg_sleep(4)")
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
