// Command loadgen drives a running server over real HTTP with a chosen mix
// of operations, and prints throughput, latency percentiles and errors per
// operation, plus the server's RSS and goroutines before and after. With
// -baseline it also runs the minimal same-stack server (internal/baseline)
// against the same Postgres and Redis and prints the ratio.
//
//	go run ./cmd/loadgen -mix read -duration 20s -concurrency 32 -prepare 10000
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type options struct {
	url         string
	databaseURL string
	mix         string
	duration    time.Duration
	concurrency int
	prepare     int
	baseline    bool
	residents   int
	tokens      int
	program     string
	period      string
	visitState  string
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "server base URL")
	flag.StringVar(&o.databaseURL, "database", envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/residents?sslmode=disable"), "database of the server (for -prepare and -baseline)")
	flag.StringVar(&o.mix, "mix", "read", "read | read-one | read-list | lists | search | redeem-spread | redeem-hot | intake | board | issue | issue-district | visit")
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "how long to drive the mix")
	flag.IntVar(&o.concurrency, "concurrency", 16, "concurrent clients (board: subscribers)")
	flag.IntVar(&o.prepare, "prepare", 0, "seed this many synthetic residents first (seed --residents N)")
	flag.BoolVar(&o.baseline, "baseline", false, "read mixes: also measure the baseline server; redeem mixes: the write floor (pgx only); print the ratio")
	flag.IntVar(&o.residents, "residents", 10000, "residents the redeem-spread, issue and visit mixes use (visit: one visit each)")
	flag.IntVar(&o.tokens, "tokens", 0, "redeem mixes: create this many tokens before the timed phase (0: each redemption creates its token, timed)")
	flag.StringVar(&o.program, "program", "JJ-YLFWQ", "issue-district: the program whose whole district is enrolled and issued")
	flag.StringVar(&o.period, "period", "", "issue-district: the period to issue (default this month; another one is a backfill)")
	flag.StringVar(&o.visitState, "visit-state", "", "visit: prepare, save the visits to this file and stop; when it exists, confirm those instead (on a copy of the prepared database: CREATE DATABASE … TEMPLATE)")
	cpuProfile := flag.String("cpuprofile", "", "write the generator's own CPU profile here (it shares the machine with the server)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(context.Background(), o); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, o options) error {
	if o.prepare > 0 {
		start := time.Now()
		if err := seedResidents(ctx, o.databaseURL, o.prepare); err != nil {
			return err
		}
		fmt.Printf("prepared %d residents in %v\n", o.prepare, time.Since(start).Round(time.Millisecond))
	}
	c := newClient(o.url, o.concurrency)
	before := serverStats(o.url)
	fmt.Printf("server before: %s\n", before)
	st := newStats()
	var err error
	var elapsed time.Duration
	switch o.mix {
	case "read", "read-one", "read-list":
		elapsed, err = readMix(ctx, c, st, o)
	case "redeem-spread", "redeem-hot":
		elapsed, err = redeemMix(ctx, c, st, o)
	case "intake":
		elapsed, err = intakeMix(ctx, c, st, o)
	case "board":
		elapsed, err = boardMix(ctx, c, st, o)
	case "issue":
		elapsed, err = issueMix(ctx, c, st, o)
	case "lists":
		elapsed, err = listsMix(ctx, c, st, o)
	case "search":
		elapsed, err = searchMix(ctx, c, st, o)
	case "issue-district":
		elapsed, err = issueDistrictMix(ctx, c, st, o)
	case "visit":
		elapsed, err = visitMix(ctx, c, st, o)
	default:
		return fmt.Errorf("unknown mix %q", o.mix)
	}
	if err != nil {
		return err
	}
	fmt.Printf("\nmix %s, %d clients, %v\n", o.mix, o.concurrency, elapsed.Round(time.Millisecond))
	st.print(os.Stdout, elapsed)
	// Close this client's keep-alive connections first: each holds a server
	// goroutine, which would otherwise count against "back to idle".
	c.http.CloseIdleConnections()
	time.Sleep(2 * time.Second) // let idle connections and goroutines settle
	fmt.Printf("server after: %s\n", serverStats(o.url))
	if o.baseline && (o.mix == "read" || o.mix == "read-one") {
		return compareBaseline(ctx, st, elapsed, o)
	}
	if o.baseline && (o.mix == "redeem-spread" || o.mix == "redeem-hot") {
		return compareWriteFloor(ctx, st, elapsed, o)
	}
	return nil
}

// drive runs fn from n workers until d has passed, or until done (if
// given) says the i-th call has no work left.
func drive(ctx context.Context, n int, d time.Duration, fn func(ctx context.Context, worker int, i int64), done ...func(i int64) bool) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	var seq atomic.Int64
	start := time.Now()
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for ctx.Err() == nil {
				i := seq.Add(1)
				if len(done) > 0 && done[0](i) {
					cancel() // out of work before out of time
					return
				}
				fn(ctx, w, i)
			}
		}(w)
	}
	wg.Wait()
	return time.Since(start)
}

// timed runs one GraphQL call and records it under op.
func timed(ctx context.Context, st *stats, c *client, op, token, query string, vars map[string]any, payload string) *gqlResponse {
	start := time.Now()
	r, err := c.do(context.WithoutCancel(ctx), token, query, vars)
	d := time.Since(start)
	switch {
	case err != nil:
		st.record(op, d, "TRANSPORT")
	default:
		st.record(op, d, r.errCode(payload))
	}
	return r
}

// serverStats reads RSS and goroutines from the server's /metrics.
func serverStats(url string) string {
	resp, err := http.Get(strings.TrimRight(url, "/") + "/metrics")
	if err != nil {
		return "metrics unavailable: " + err.Error()
	}
	defer resp.Body.Close()
	vals := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []string{"process_resident_memory_bytes", "go_goroutines"} {
			if strings.HasPrefix(line, k+" ") {
				v, _ := strconv.ParseFloat(strings.TrimPrefix(line, k+" "), 64)
				vals[k] = v
			}
		}
	}
	return fmt.Sprintf("RSS %.1f MiB, %d goroutines", vals["process_resident_memory_bytes"]/(1<<20), int(vals["go_goroutines"]))
}
