package main

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// stats collects latencies and outcomes per operation.
type stats struct {
	mu  sync.Mutex
	ops map[string]*opStats
}

type opStats struct {
	lat    []time.Duration
	errors map[string]int
}

func newStats() *stats { return &stats{ops: map[string]*opStats{}} }

func (s *stats) record(op string, d time.Duration, errCode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.ops[op]
	if o == nil {
		o = &opStats{errors: map[string]int{}}
		s.ops[op] = o
	}
	o.lat = append(o.lat, d)
	if errCode != "" {
		o.errors[errCode]++
	}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

// count returns the number of calls of op.
func (s *stats) count(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.ops[op]; o != nil {
		return len(o.lat)
	}
	return 0
}

func (s *stats) print(w io.Writer, elapsed time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.ops))
	for n := range s.ops {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "%-28s %9s %10s %9s %9s %9s %s\n", "operation", "count", "per_sec", "p50_ms", "p95_ms", "p99_ms", "errors")
	for _, n := range names {
		o := s.ops[n]
		sort.Slice(o.lat, func(i, j int) bool { return o.lat[i] < o.lat[j] })
		fmt.Fprintf(w, "%-28s %9d %10.1f %9.2f %9.2f %9.2f %v\n", n, len(o.lat), float64(len(o.lat))/elapsed.Seconds(),
			ms(percentile(o.lat, .50)), ms(percentile(o.lat, .95)), ms(percentile(o.lat, .99)), o.errors)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
