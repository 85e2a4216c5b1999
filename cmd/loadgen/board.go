package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// boardMix opens N live-board subscribers (graphql-transport-ws) as the
// operator and sends calls through the telephony login; it records, per
// subscriber, how long each change took to arrive and whether every
// subscriber saw every call.
func boardMix(ctx context.Context, c *client, st *stats, o options) (time.Duration, error) {
	op, err := c.login(ctx, "operator", "demo-password")
	if err != nil {
		return 0, err
	}
	tel, err := c.login(ctx, "telephony", "demo-password")
	if err != nil {
		return 0, err
	}
	var mu sync.Mutex
	sent := map[string]time.Time{}
	seen := make([]map[string]bool, o.concurrency)
	wsURL := "ws" + strings.TrimPrefix(c.url, "http") + "/graphql"
	subCtx, stop := context.WithCancel(ctx)
	defer stop()
	var ready, done sync.WaitGroup
	for s := 0; s < o.concurrency; s++ {
		seen[s] = map[string]bool{}
		ready.Add(1)
		done.Add(1)
		go func(s int) {
			defer done.Done()
			conn, _, err := websocket.Dial(subCtx, wsURL, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
			if err != nil {
				st.record("subscribe", 0, "DIAL")
				ready.Done()
				return
			}
			defer conn.CloseNow()
			conn.SetReadLimit(1 << 20)
			wsjson.Write(subCtx, conn, map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer " + op}})
			var ack map[string]any
			if err := wsjson.Read(subCtx, conn, &ack); err != nil || ack["type"] != "connection_ack" {
				st.record("subscribe", 0, "INIT")
				ready.Done()
				return
			}
			wsjson.Write(subCtx, conn, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
				"query": `subscription{emergencyCallUpdated{id externalCallId status}}`}})
			ready.Done()
			for {
				var msg struct {
					Type    string `json:"type"`
					Payload struct {
						Data struct {
							U struct {
								ExternalCallID string `json:"externalCallId"`
								Status         string `json:"status"`
							} `json:"emergencyCallUpdated"`
						} `json:"data"`
					} `json:"payload"`
				}
				if err := wsjson.Read(subCtx, conn, &msg); err != nil {
					return
				}
				if msg.Type != "next" {
					continue
				}
				id := msg.Payload.Data.U.ExternalCallID
				mu.Lock()
				at, ok := sent[id]
				first := !seen[s][id]
				seen[s][id] = true
				mu.Unlock()
				if ok && first {
					st.record("delivery", time.Since(at), "")
				}
			}
		}(s)
	}
	ready.Wait()
	time.Sleep(500 * time.Millisecond) // subscriptions registered
	run := time.Now().UnixNano()
	elapsed := drive(ctx, 4, o.duration, func(ctx context.Context, w int, i int64) {
		id := fmt.Sprintf("board-%d-%d", run, i)
		mu.Lock()
		sent[id] = time.Now()
		mu.Unlock()
		timed(ctx, st, c, "receiveEmergencyCall", tel, `mutation($in:ReceiveEmergencyCallInput!){receiveEmergencyCall(input:$in){call{id} userErrors{code}}}`,
			map[string]any{"in": map[string]any{"externalCallId": id, "kind": "ALARM_BUTTON"}}, "receiveEmergencyCall")
		time.Sleep(20 * time.Millisecond)
	})
	time.Sleep(2 * time.Second) // let the last deliveries arrive
	stop()
	done.Wait()
	mu.Lock()
	missing := 0
	for s := range seen {
		for id := range sent {
			if !seen[s][id] {
				missing++
			}
		}
	}
	mu.Unlock()
	fmt.Printf("board: %d subscribers, %d calls, %d deliveries missing\n", o.concurrency, len(sent), missing)
	return elapsed, nil
}
