package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

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
			conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+dbName+" WITH (FORCE)")
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
	go func() { done <- run(ctx, []string{"serve", "--residents", "20"}, func(k string) string { return env[k] }, io.Discard) }()
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
	start := time.Now()
	cancel()
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
