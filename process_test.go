package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/faulttest"
	"github.com/jinjiang/residents/internal/testenv"
	"github.com/jinjiang/residents/internal/voucher"
)

// childEnv makes the test binary run the server's main instead of tests:
// the process tests start real server processes they can SIGTERM and
// kill -9, without a separate go build.
const childEnv = "RESIDENTS_TEST_RUN_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		os.Exit(0)
	}
	testenv.Main(m)
}

// child is a server process.
type child struct {
	cmd     *exec.Cmd
	base    string
	logPath string
	exited  chan struct{}
	err     error // valid once exited is closed
}

// startChild runs `serve` in a new process with env on a free port and
// waits until it is ready.
func startChild(t *testing.T, env map[string]string) *child {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", faulttest.FreePort(t))
	c := &child{base: "http://" + addr, logPath: filepath.Join(t.TempDir(), "server.log"), exited: make(chan struct{})}
	logf, err := os.Create(c.logPath)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(os.Args[0], "serve")
	c.cmd.Env = append(os.Environ(), childEnv+"=1", "HTTP_ADDR="+addr)
	for k, v := range env {
		c.cmd.Env = append(c.cmd.Env, k+"="+v)
	}
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		logf.Close()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.exited
		if t.Failed() {
			b, _ := os.ReadFile(c.logPath)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("server log (tail):\n%s", b)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get(c.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		select {
		case <-c.exited:
			t.Fatalf("server exited before it was ready: %v", c.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready in 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// privateStores starts a throwaway Postgres cluster and Redis, prepares the
// database, and returns an in-process Env on them (for setting up data)
// and the environment a server process needs to share them.
func privateStores(t *testing.T, name string) (*testenv.Env, map[string]string) {
	t.Helper()
	pg := faulttest.StartPostgres(t)
	rd := faulttest.StartRedis(t)
	url := pg.CreateDatabase(name)
	faulttest.Prepare(t, url, rd.URL(), testenv.AdminPassword)
	e := testenv.New(t, testenv.WithConfig(func(c *config.Config) {
		c.DatabaseURL = url
		c.RedisURL = rd.URL()
	}))
	return e, map[string]string{"APP_ENV": "test", "DATABASE_URL": url, "REDIS_URL": rd.URL(),
		"REDIS_KEY_PREFIX": e.Config.RedisKeyPrefix}
}

// refused reports whether err is a failure to connect: the request never
// reached a server, so it was not in flight.
func refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// TestCrashAndRetry: kill -9 of the server in the middle of a redemption
// burst; every request that got no answer is retried with the same token
// and idempotency key against a fresh instance. Each key is executed
// exactly once, the acknowledged ones keep their redemption, and the books
// balance.
func TestCrashAndRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postgres, Redis and server processes")
	}
	e, env := privateStores(t, "crash")
	w := faulttest.Vouchers(t, e, 20)
	type job struct {
		token, key string
		amount     int64
		acked      string // redemption id answered before the crash
	}
	jobs := make([]*job, 0, 240)
	for i := 0; i < cap(jobs); i++ {
		jobs = append(jobs, &job{token: w.Token(t, e, w.Residents[i%len(w.Residents)]), key: fmt.Sprintf("crash-%d", i),
			amount: int64(100 + i%9*10)})
	}

	a := startChild(t, env)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	prov := faulttest.Login(t, client, a.base, w.ProviderUser, faulttest.ProviderPassword)
	var (
		next, acked atomic.Int64
		killed      = make(chan struct{})
		killOnce    sync.Once
		wg          sync.WaitGroup
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				ans, err := testenv.Post(client, a.base, prov, faulttest.RedeemDoc, faulttest.RedeemVars(j.token, j.key, j.amount))
				if err != nil {
					continue // unacknowledged: retried below
				}
				if id := ans.Str("redeemVoucher.redemption.id"); id != "" {
					j.acked = id
					if acked.Add(1) == 80 {
						killOnce.Do(func() {
							a.cmd.Process.Signal(syscall.SIGKILL)
							close(killed)
						})
					}
					continue
				}
				t.Errorf("job %d before the crash: %d %s", i, ans.Status, ans.Raw)
			}
		}()
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatalf("the burst ended before the kill (%d acknowledged)", acked.Load())
	}
	<-a.exited

	var unacked []*job
	for _, j := range jobs {
		if j.acked == "" {
			unacked = append(unacked, j)
		}
	}
	var committedUnacked int64
	for _, j := range unacked {
		var n int64
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM redemption_keys WHERE idempotency_key = ?", testenv.Args(j.key), &n)
		committedUnacked += n
	}
	if len(unacked) == 0 {
		t.Fatal("every request was answered: the kill came too late to test anything")
	}

	b := startChild(t, env)
	retried := map[string]string{}
	for _, j := range jobs { // the unacknowledged ones, and the acknowledged ones again
		ans, err := testenv.Post(client, b.base, prov, faulttest.RedeemDoc, faulttest.RedeemVars(j.token, j.key, j.amount))
		if err != nil {
			t.Fatalf("retry of %s on the fresh instance: %v", j.key, err)
		}
		id := ans.Str("redeemVoucher.redemption.id")
		switch {
		case id == "":
			t.Errorf("retry of %s: %s", j.key, ans.Raw)
		case j.acked != "" && id != j.acked:
			t.Errorf("retry of acknowledged %s answered %s, not %s", j.key, id, j.acked)
		}
		retried[j.key] = id
	}

	var keys, redemptions int64
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM redemption_keys WHERE idempotency_key LIKE 'crash-%'", nil, &keys)
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM redemptions r JOIN redemption_keys k ON k.redemption_id = r.id WHERE k.idempotency_key LIKE 'crash-%'", nil, &redemptions)
	if keys != int64(len(jobs)) || redemptions != int64(len(jobs)) {
		t.Errorf("%d jobs: %d keys, %d redemptions", len(jobs), keys, redemptions)
	}
	var wantSpent int64
	for _, j := range jobs {
		wantSpent += j.amount
	}
	books, bad, err := voucher.CheckBooks(context.Background(), e.DB)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range bad {
		t.Error(s)
	}
	if books.SpentFen != wantSpent {
		t.Errorf("spent %d fen, the jobs asked for %d", books.SpentFen, wantSpent)
	}
	t.Logf("%d jobs: %d acknowledged before kill -9, %d unacknowledged (%d of them had committed); after retry %d keys, %d redemptions, spent %d fen, books balance",
		len(jobs), len(jobs)-len(unacked), len(unacked), committedUnacked, keys, redemptions, books.SpentFen)
}

// TestSIGTERMUnderLoad: SIGTERM to a server process under load. Readiness
// goes 503 first; every request sent before that is answered (after it, a
// load balancer sends new requests elsewhere, so they may be refused);
// websocket clients get a close frame; the process exits 0 within 25 s.
func TestSIGTERMUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postgres, Redis and a server process")
	}
	e, env := privateStores(t, "sigterm")
	w := faulttest.Vouchers(t, e, 10)
	tokens := make(chan [2]string, 400)
	for i := 0; i < cap(tokens); i++ {
		tokens <- [2]string{w.Token(t, e, w.Residents[i%len(w.Residents)]), fmt.Sprintf("term-%d", i)}
	}
	s := startChild(t, env)
	// A new connection per request: a reused keep-alive connection the
	// server closes while idle would fail a request that never reached it.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	prov := faulttest.Login(t, client, s.base, w.ProviderUser, faulttest.ProviderPassword)
	tel := faulttest.Login(t, client, s.base, "telephony", "demo-password")
	op := faulttest.Login(t, client, s.base, "operator", "demo-password")

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+s.base[len("http"):]+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	wsjson.Write(ctx, ws, map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer " + op}})
	wsjson.Write(ctx, ws, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription{emergencyCallUpdated{id status}}"}})
	wsClosed := make(chan websocket.StatusCode, 1)
	go func() {
		for {
			var m map[string]any
			if err := wsjson.Read(ctx, ws, &m); err != nil {
				wsClosed <- websocket.CloseStatus(err)
				return
			}
		}
	}()

	var (
		answered, refusals, late atomic.Int64
		firstRefusal             atomic.Int64 // unix nanos
		firstNotReady            atomic.Int64
		dropped                  = make(chan string, 100)
		stop                     = make(chan struct{})
		wg                       sync.WaitGroup
		seq                      atomic.Int64
	)
	send := func(tok, doc string, vars map[string]any) {
		start := time.Now().UnixNano()
		ans, err := testenv.Post(client, s.base, tok, doc, vars)
		switch {
		case err == nil && ans.Status < 500:
			answered.Add(1)
		case err == nil:
			dropped <- fmt.Sprintf("%d %.200s", ans.Status, ans.Raw)
		case refused(err):
			refusals.Add(1)
			firstRefusal.CompareAndSwap(0, time.Now().UnixNano())
		case firstNotReady.Load() != 0 && start > firstNotReady.Load():
			// Sent after readiness went 503: a load balancer routes it
			// elsewhere; here it may meet a listener closing under it
			// (a reset from the kernel's accept queue).
			late.Add(1)
		default:
			dropped <- err.Error()
		}
	}
	for i := range 8 {
		faulttest.Loop(&wg, stop, func() {
			switch i % 3 {
			case 0:
				select {
				case tk := <-tokens:
					send(prov, faulttest.RedeemDoc, faulttest.RedeemVars(tk[0], tk[1], 100))
				default:
					send(op, `{residents(first:20){edges{node{name community{name}}}}}`, nil)
				}
			case 1:
				send(tel, faulttest.CallDoc, map[string]any{"id": fmt.Sprintf("term-call-%d", seq.Add(1))})
			default:
				send(op, `{residents(first:20){edges{node{name community{name}}}}}`, nil)
			}
		})
	}
	faulttest.Loop(&wg, stop, func() {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			if resp.StatusCode == http.StatusServiceUnavailable {
				firstNotReady.CompareAndSwap(0, time.Now().UnixNano())
			}
			resp.Body.Close()
		}
		time.Sleep(5 * time.Millisecond)
	})

	time.Sleep(1500 * time.Millisecond)
	before := answered.Load()
	sent := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(25 * time.Second):
		t.Fatal("the process did not exit within 25 s of SIGTERM")
	}
	took := time.Since(sent)
	close(stop)
	wg.Wait()
	close(dropped)
	for d := range dropped {
		t.Errorf("a request that reached the server was not answered: %s", d)
	}
	if s.err != nil {
		t.Errorf("exit: %v", s.err)
	}
	nr, fr := firstNotReady.Load(), firstRefusal.Load()
	switch {
	case nr == 0:
		t.Error("/readyz never answered 503 during the drain")
	case fr != 0 && fr < nr:
		t.Errorf("connections were refused %v before readiness went 503", time.Duration(nr-fr))
	}
	select {
	case code := <-wsClosed:
		if code == -1 {
			t.Error("the websocket was dropped without a close frame")
		}
	case <-time.After(5 * time.Second):
		t.Error("the websocket was not closed")
	}
	if before == 0 {
		t.Fatal("no load before the signal")
	}
	t.Logf("exited %v after SIGTERM; %d requests answered (%d after the signal); sent after readiness went 503: %d refused, %d reset",
		took.Round(time.Millisecond), answered.Load(), answered.Load()-before, refusals.Load(), late.Load())
}

// TestCheckBooksCommand: `residents checkbooks` on a seeded database (the
// restore drill's last step) reports balanced books.
func TestCheckBooksCommand(t *testing.T) {
	var out strings.Builder
	env := map[string]string{"APP_ENV": "test", "DATABASE_URL": testenv.DatabaseURL()}
	if err := run(context.Background(), []string{"checkbooks"}, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("checkbooks: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "the voucher books balance") {
		t.Fatalf("output: %s", out.String())
	}
}

// TestIssueCommand: `residents issue` issues a period as a run (plain
// progress lines when the output is no terminal), a second time issues
// nothing, and a past period needs --allow-backfill.
func TestIssueCommand(t *testing.T) {
	e := testenv.New(t)
	res := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{"LOW_INCOME"}})
	var program string
	testenv.MustScan(t, e.DB, "SELECT id::text FROM voucher_programs WHERE code = ?", testenv.Args(voucher.SampleProgramCode), &program)
	if err := e.DB.Exec("INSERT INTO voucher_enrollments (program_id, resident_id) VALUES (?, ?) ON CONFLICT DO NOTHING", program, res.ID).Error; err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"APP_ENV": "test", "DATABASE_URL": testenv.DatabaseURL(), "REDIS_KEY_PREFIX": e.Config.RedisKeyPrefix}
	issue := func(args ...string) (string, error) {
		var out strings.Builder
		err := run(context.Background(), append([]string{"issue", "--program", voucher.SampleProgramCode}, args...),
			func(k string) string { return env[k] }, &out)
		return out.String(), err
	}
	count := func() (n int) {
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM vouchers WHERE resident_id = ?", testenv.Args(res.ID), &n)
		return n
	}
	next := civil.MonthOf(civil.DateOf(time.Now())).AddMonths(1).String()
	out, err := issue("--period", next)
	if err != nil || !strings.Contains(out, "started issuance run") || !strings.Contains(out, "SUCCEEDED") || strings.Contains(out, "\r") {
		t.Fatalf("issue: %v\n%s", err, out)
	}
	if count() != 1 {
		t.Fatalf("%d vouchers after the run", count())
	}
	out, err = issue("--period", next)
	if err != nil || !strings.Contains(out, "SUCCEEDED") || !strings.Contains(out, " 0 issued") || count() != 1 {
		t.Fatalf("again: %v\n%s", err, out)
	}
	past := civil.MonthOf(civil.DateOf(time.Now())).AddMonths(-2).String()
	if out, err := issue("--period", past); err == nil || !strings.Contains(err.Error(), "INVALID") || count() != 1 {
		t.Fatalf("a past period without --allow-backfill: %v\n%s", err, out)
	}
	if out, err := issue("--period", past, "--allow-backfill"); err != nil || count() != 2 {
		t.Fatalf("backfill: %v\n%s", err, out)
	}
}
