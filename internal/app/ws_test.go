package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/auth"

	"github.com/jinjiang/residents/internal/testenv"
)

func dialWS(t *testing.T, e *testenv.Env, origin string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.Server.URL, "http")+"/graphql", &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: h,
	})
}

// initWS sends connection_init and returns the first message type, or the close status.
func initWS(t *testing.T, c *websocket.Conn, payload map[string]any) (string, websocket.StatusCode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": payload}); err != nil {
		return "", websocket.CloseStatus(err)
	}
	var msg map[string]any
	if err := wsjson.Read(ctx, c, &msg); err != nil {
		return "", websocket.CloseStatus(err)
	}
	typ, _ := msg["type"].(string)
	return typ, -1
}

func TestWebsocketAuthentication(t *testing.T) {
	e := testenv.New(t)
	tok := e.As(t, "operator")

	t.Run("valid token is acknowledged", func(t *testing.T) {
		c, _, err := dialWS(t, e, "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if typ, _ := initWS(t, c, map[string]any{"authorization": "Bearer " + tok}); typ != "connection_ack" {
			t.Fatalf("got %q", typ)
		}
	})
	t.Run("logout closes the socket", func(t *testing.T) {
		own := e.As(t, "operator")
		c, _, err := dialWS(t, e, "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if typ, _ := initWS(t, c, map[string]any{"authorization": "Bearer " + own}); typ != "connection_ack" {
			t.Fatalf("got %q", typ)
		}
		e.MustDo(t, own, `mutation{logout}`, nil)
		waitClosed(t, c, "after logout")
	})
}

// openWS dials and initializes a socket with tok, failing the test unless
// the server acknowledges it; the socket closes when the test ends.
func openWS(t *testing.T, e *testenv.Env, tok string) *websocket.Conn {
	t.Helper()
	c, _, err := dialWS(t, e, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	if typ, code := initWS(t, c, map[string]any{"authorization": "Bearer " + tok}); typ != "connection_ack" {
		t.Fatalf("socket not acknowledged: %q, close %d", typ, code)
	}
	return c
}

// wsRefused dials and initializes a socket with tok and returns the close
// status and reason the server refused it with; it fails the test when
// the server acknowledges the socket.
func wsRefused(t *testing.T, e *testenv.Env, tok string) (websocket.StatusCode, string) {
	t.Helper()
	c, _, err := dialWS(t, e, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer " + tok}}); err != nil {
		return closeOf(err)
	}
	for {
		var msg map[string]any
		if err := wsjson.Read(ctx, c, &msg); err != nil {
			return closeOf(err)
		}
		if msg["type"] == "connection_ack" {
			t.Fatalf("the server accepted the socket: %v", msg)
		}
	}
}

func closeOf(err error) (websocket.StatusCode, string) {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, ce.Reason
	}
	return -1, err.Error()
}

// wsSubscribe sends one operation on an acknowledged socket.
func wsSubscribe(t *testing.T, c *websocket.Conn, id, doc string, vars map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, c, map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": doc, "variables": vars}}); err != nil {
		t.Fatal(err)
	}
}

// wsAnswer reads the first answer (next or error message) to any
// operation on c. Its Status is 200 when the answer came on the open
// socket, else the close code the socket closed with.
func wsAnswer(t *testing.T, c *websocket.Conn) *testenv.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		var msg struct {
			ID      string          `json:"id"`
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := wsjson.Read(ctx, c, &msg); err != nil {
			code, reason := closeOf(err)
			return &testenv.Response{Status: int(code), Raw: []byte(reason)}
		}
		r := &testenv.Response{Status: 200, Raw: msg.Payload}
		switch msg.Type {
		case "next":
			if err := json.Unmarshal(msg.Payload, r); err != nil {
				t.Fatalf("next %s: %v", msg.Payload, err)
			}
			return r
		case "error": // the payload is the list of errors
			if err := json.Unmarshal(msg.Payload, &r.Errors); err != nil {
				t.Fatalf("error %s: %v", msg.Payload, err)
			}
			return r
		}
	}
}

// wsOpen reports whether c still answers a ping.
func wsOpen(t *testing.T, c *websocket.Conn) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, c, map[string]any{"type": "ping"}); err != nil {
		return false
	}
	for {
		var msg map[string]any
		if err := wsjson.Read(ctx, c, &msg); err != nil {
			return false
		}
		if msg["type"] == "pong" {
			return true
		}
	}
}

// waitClosed fails the test unless c closes within 5 s.
func waitClosed(t *testing.T, c *websocket.Conn, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		var msg map[string]any
		if err := wsjson.Read(ctx, c, &msg); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("%s: socket still open after 5 s", what)
			}
			return
		}
	}
}

const boardSubscription = `subscription{emergencyCallUpdated{id status}}`

// TestWebsocketRedisConnections: sockets share the instance's Redis
// connections. Neither the revocation watch nor the live board holds a
// pub/sub connection per socket: opening ten sockets, each watching the
// board, adds no pub/sub connection and leaves one subscriber on the
// revocation channel.
func TestWebsocketRedisConnections(t *testing.T) {
	e := testenv.New(t)
	first := e.As(t, "operator")
	wsSubscribe(t, openWS(t, e, first), "1", boardSubscription, nil)
	revoked := e.Config.RedisKeyPrefix + "sess:revoked"
	time.Sleep(200 * time.Millisecond)
	before := e.Redis.PoolStats()
	tokens := []string{first, e.As(t, "operator")}
	for i := 1; i < 2*e.Config.WSMaxPerSession; i++ {
		wsSubscribe(t, openWS(t, e, tokens[i%2]), "1", boardSubscription, nil)
	}
	time.Sleep(200 * time.Millisecond)
	after := e.Redis.PoolStats()
	if after.PubSubStats.Active != before.PubSubStats.Active || after.PubSubStats.Active > 3 {
		t.Errorf("pub/sub connections: %d before, %d with %d more sockets (want the instance's 3: revocations, the live board and org-tree changes)",
			before.PubSubStats.Active, after.PubSubStats.Active, 2*e.Config.WSMaxPerSession-1)
	}
	if grown := int(after.TotalConns) - int(before.TotalConns); grown > 2 {
		t.Errorf("the pool grew by %d connections for %d sockets", grown, 2*e.Config.WSMaxPerSession-1)
	}
	subs, err := e.Redis.PubSubNumSub(context.Background(), revoked).Result()
	if err != nil {
		t.Fatal(err)
	}
	if subs[revoked] != 1 {
		t.Errorf("%d subscribers on the revocation channel, want the instance's one", subs[revoked])
	}
}

// TestWebsocketRevocationFanOut: logging one session out closes every
// socket of that session through the instance's one subscription, and
// none of another session of the same user.
func TestWebsocketRevocationFanOut(t *testing.T) {
	e := testenv.New(t)
	a, b := e.As(t, "operator"), e.As(t, "operator")
	var ofA []*websocket.Conn
	for i := 0; i < 3; i++ {
		ofA = append(ofA, openWS(t, e, a))
	}
	other := openWS(t, e, b)
	e.MustDo(t, a, `mutation{logout}`, nil)
	for i, c := range ofA {
		waitClosed(t, c, fmt.Sprintf("socket %d of the logged-out session", i))
	}
	if !wsOpen(t, other) {
		t.Fatal("the other session's socket closed too")
	}
	deadline := time.Now().Add(2 * time.Second)
	for e.App.Revocations.Watched() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions watched, want 1 (the other session)", e.App.Revocations.Watched())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The logged-out session's leases were given back: the user may open
	// sockets up to the per-session cap on the other session.
	for i := 1; i < e.Config.WSMaxPerSession; i++ {
		openWS(t, e, b)
	}
}

// TestSocketLeases: the caps count leases in Redis; a released lease
// frees its place at once, one refreshed stays, and one whose holder died
// (never refreshed, never released) lapses after the TTL.
func TestSocketLeases(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	const ttl = 600 * time.Millisecond
	l := auth.NewSocketLeases(e.Redis, e.Config.RedisKeyPrefix+"leasetest:", 2, 3, ttl)
	user := uuid.New()
	s1 := &auth.Viewer{ID: user, SessionID: uuid.New()}
	s2 := &auth.Viewer{ID: user, SessionID: uuid.New()}
	acquire := func(v *auth.Viewer, want error) *auth.SocketLease {
		t.Helper()
		lease, err := l.Acquire(ctx, v)
		if !errors.Is(err, want) {
			t.Fatalf("acquire: %v, want %v", err, want)
		}
		return lease
	}
	kept := acquire(s1, nil)
	acquire(s1, nil)
	acquire(s1, auth.ErrTooManySockets) // session cap
	released := acquire(s2, nil)
	acquire(s2, auth.ErrTooManySockets) // user cap
	if err := released.Release(); err != nil {
		t.Fatal(err)
	}
	acquire(s2, nil) // its place is free at once
	// Time passes: kept is refreshed, the others' holder is "dead".
	for end := time.Now().Add(ttl + 300*time.Millisecond); time.Now().Before(end); time.Sleep(ttl / 4) {
		if err := kept.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	acquire(s1, nil) // the dead lease of s1 lapsed; kept still counts
	acquire(s1, auth.ErrTooManySockets)
	acquire(s2, nil)
	if lapsed := acquire(s2, auth.ErrTooManySockets); lapsed != nil {
		t.Fatal("a refused acquire returned a lease")
	}
	time.Sleep(ttl + 100*time.Millisecond)
	if err := kept.Refresh(ctx); !errors.Is(err, auth.ErrSocketLeaseLost) {
		t.Fatalf("refresh of a lapsed lease: %v", err)
	}
}

// TestWebsocketsAcrossInstances: two instances of one deployment count
// one session's sockets together, and a logout on one closes the
// session's sockets on the other.
func TestWebsocketsAcrossInstances(t *testing.T) {
	prefix := fmt.Sprintf("multi%d:", time.Now().UnixNano())
	one := testenv.New(t, testenv.SharedPrefix(prefix))
	two := testenv.New(t, testenv.SharedPrefix(prefix))
	tok := one.As(t, "operator")
	var onTwo []*websocket.Conn
	for i := 0; i < one.Config.WSMaxPerSession; i++ {
		if i%2 == 0 {
			openWS(t, one, tok)
		} else {
			onTwo = append(onTwo, openWS(t, two, tok))
		}
	}
	if code, reason := wsRefused(t, two, tok); code != 4429 {
		t.Fatalf("socket over the cap on the second instance: close %d %q, want 4429", code, reason)
	}
	one.MustDo(t, tok, `mutation{logout}`, nil)
	for i, c := range onTwo {
		waitClosed(t, c, fmt.Sprintf("socket %d on the other instance", i))
	}
}
