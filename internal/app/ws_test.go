package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

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
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for {
			var msg map[string]any
			if err := wsjson.Read(ctx, c, &msg); err != nil {
				if ctx.Err() != nil {
					t.Fatal("socket still open 5 s after logout")
				}
				return
			}
		}
	})
}
