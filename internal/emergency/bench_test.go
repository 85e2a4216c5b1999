package emergency_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/testenv"
)

// percentile returns the q-quantile (nearest rank) of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func reportLatencies(b *testing.B, lat []time.Duration, prefix string) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, prefix+"p50_ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, prefix+"p99_ms")
}

// BenchmarkIntake measures receiveEmergencyCall through HTTP with 16
// concurrent clients (the telephony system's trunks), each call a new
// external id with a caller number looked up through the blind index.
func BenchmarkIntake(b *testing.B) {
	e := testenv.New(b)
	caller := phone()
	insertResident(b, e, testenv.ResidentSpec{Phone: caller})
	tok := e.As(b, "telephony")
	run := fmt.Sprintf("B%d", time.Now().UnixNano())
	var next atomic.Int64
	lat := make([]time.Duration, b.N)
	var failed atomic.Int64
	const clients = 16
	b.ResetTimer()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := e.Server.Client()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				body, _ := json.Marshal(map[string]any{"query": receiveDoc, "variables": map[string]any{"in": map[string]any{
					"externalCallId": fmt.Sprintf("%s-%d", run, i), "callerNumber": caller, "kind": "VOICE_CALL"}}})
				req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tok)
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				var out struct {
					Data struct {
						ReceiveEmergencyCall struct {
							Call *struct{ ID string } `json:"call"`
						} `json:"receiveEmergencyCall"`
					} `json:"data"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				lat[i] = time.Since(start)
				if out.Data.ReceiveEmergencyCall.Call == nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d intake requests failed", n)
	}
	reportLatencies(b, lat, "")
}

// BenchmarkFanout measures how long after a call is received each of 200
// live-board subscribers (websockets on one instance) has it.
func BenchmarkFanout(b *testing.B) {
	e := testenv.New(b)
	tel, op := e.As(b, "telephony"), e.As(b, "operator")
	const subscribers = 200
	type got struct {
		ext string
		at  time.Time
	}
	recv := make(chan got, subscribers*4)
	for i := 0; i < subscribers; i++ {
		ws, typ := dialWS(b, e, op)
		if typ != "connection_ack" {
			b.Fatalf("subscriber %d: %s", i, typ)
		}
		ws.subscribe(b, "1", nil)
		go func() {
			for {
				typ, ev, err := ws.next(time.Minute)
				if err != nil {
					return
				}
				if typ == "next" {
					recv <- got{ev.Data.EmergencyCallUpdated.ExternalCallID, time.Now()}
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	run := fmt.Sprintf("F%d", time.Now().UnixNano())
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ext := fmt.Sprintf("%s-%d", run, i)
		start := time.Now()
		mustReceive(b, e, tel, map[string]any{"externalCallId": ext, "callerNumber": "13000000000", "kind": "VOICE_CALL"})
		deadline := time.After(10 * time.Second)
		for n := 0; n < subscribers; {
			select {
			case g := <-recv:
				if g.ext == ext {
					lat = append(lat, g.at.Sub(start))
					n++
				}
			case <-deadline:
				b.Fatalf("only %d of %d subscribers got call %d", n, subscribers, i)
			}
		}
	}
	b.StopTimer()
	reportLatencies(b, lat, "delivery_")
}
