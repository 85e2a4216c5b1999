package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/jackc/pgx/v5"
)

func TestProductionRefusesToStartWithoutSecrets(t *testing.T) {
	err := run(context.Background(), nil, func(k string) string {
		if k == "APP_ENV" {
			return "production"
		}
		return ""
	}, io.Discard)
	if err == nil {
		t.Fatal("production started without secrets")
	}
	for _, name := range []string{"JWT_SIGNING_KEY", "PII_ENCRYPTION_KEYS", "PII_INDEX_KEY", "WECHAT_APP_SECRET"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

// TestServeCreatesSeedsAndShutsDownGracefully runs the real binary's entry
// point in development against a database that does not exist yet: it is
// created, migrated and seeded, serves login, and drains on cancel.
func TestServeCreatesSeedsAndShutsDownGracefully(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a full server")
	}
	dbName := fmt.Sprintf("residents_serve_%d", time.Now().UnixNano())
	defer func() {
		conn, err := pgx.Connect(context.Background(), "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
		if err == nil {
			if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+dbName+" WITH (FORCE)"); err != nil {
				t.Errorf("drop %s: %v", dbName, err)
			}
			conn.Close(context.Background())
		}
	}()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env := map[string]string{
		"HTTP_ADDR":        addr,
		"DATABASE_URL":     "postgres://postgres@127.0.0.1:5432/" + dbName + "?sslmode=disable",
		"REDIS_KEY_PREFIX": fmt.Sprintf("serve%d:", time.Now().UnixNano()),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--residents", "20"}, func(k string) string { return env[k] }, io.Discard)
	}()
	base := "http://" + addr
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("server exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready in 90 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	body := `{"query":"mutation{login(input:{username:\"admin\",password:\"admin-dev-password\"}){accessToken userErrors{code}}}"}`
	resp, err := http.Post(base+"/graphql", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"accessToken":"ey`) {
		t.Fatalf("login as admin: %s", b)
	}
	var tok struct {
		Data struct {
			Login struct{ AccessToken string } `json:"login"`
		} `json:"data"`
	}
	json.Unmarshal(b, &tok)
	wsCtx, wsCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wsCancel()
	ws, _, err := websocket.Dial(wsCtx, "ws://"+addr+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	wsjson.Write(wsCtx, ws, map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer " + tok.Data.Login.AccessToken}})
	var ack map[string]any
	if err := wsjson.Read(wsCtx, ws, &ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("websocket init: %v %v", err, ack)
	}
	wsClosed := make(chan websocket.StatusCode, 1)
	go func() {
		for {
			var m map[string]any
			if err := wsjson.Read(wsCtx, ws, &m); err != nil {
				wsClosed <- websocket.CloseStatus(err)
				return
			}
		}
	}()

	// Requests in flight when the signal comes are all answered.
	var wg sync.WaitGroup
	var answered, failed atomic.Int32
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, base+"/graphql", strings.NewReader(`{"query":"{ orgUnits { children { children { name } } } }"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok.Data.Login.AccessToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				failed.Add(1)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				answered.Add(1)
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	cancel()
	// Readiness goes 503 before the listener closes.
	sawDraining := false
	for i := 0; i < 20 && !sawDraining; i++ {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			sawDraining = resp.StatusCode == http.StatusServiceUnavailable
			resp.Body.Close()
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !sawDraining {
		t.Error("/readyz never answered 503 while draining")
	}
	wg.Wait()
	if failed.Load() != 0 || answered.Load() != 8 {
		t.Errorf("in-flight requests: %d answered, %d failed", answered.Load(), failed.Load())
	}
	select {
	case code := <-wsClosed:
		if code != websocket.StatusNormalClosure {
			t.Errorf("websocket closed with %d, want a normal close frame", code)
		}
	case <-time.After(10 * time.Second):
		t.Error("websocket not closed on shutdown")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("server did not stop within 25 s")
	}
	t.Logf("stopped in %v", time.Since(start))
}
