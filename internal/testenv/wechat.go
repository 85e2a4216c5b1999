package testenv

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jinjiang/residents/internal/config"
)

// FakeWechat is an in-process stand-in for WeChat's code2Session endpoint
// (GET /sns/jscode2session). Codes say what it answers:
//
//	"ok:<openid>[:anything]"  success for that openid
//	"err:<errcode>"           {"errcode": n, "errmsg": "..."}
//	"http500"                 an HTTP 500
type FakeWechat struct {
	*httptest.Server
	// Calls counts requests that reached the fake.
	Calls atomic.Int64
}

// SessionKeyPrefix starts every session_key the fake hands out, so tests
// can assert it never leaves the server.
const SessionKeyPrefix = "FAKE-SESSION-KEY-"

// NewFakeWechat starts the fake; it stops when the test ends.
func NewFakeWechat(t testing.TB) *FakeWechat {
	f := &FakeWechat{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.Calls.Add(1)
		q := r.URL.Query()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/sns/jscode2session" || q.Get("grant_type") != "authorization_code" || q.Get("appid") == "" || q.Get("secret") == "" {
			json.NewEncoder(w).Encode(map[string]any{"errcode": 40013, "errmsg": "invalid appid"})
			return
		}
		code := q.Get("js_code")
		switch {
		case strings.HasPrefix(code, "ok:"):
			openid, _, _ := strings.Cut(code[3:], ":")
			json.NewEncoder(w).Encode(map[string]any{"openid": openid, "session_key": SessionKeyPrefix + openid, "unionid": "union-" + openid})
		case strings.HasPrefix(code, "err:"):
			n, _ := strconv.Atoi(code[4:])
			json.NewEncoder(w).Encode(map[string]any{"errcode": n, "errmsg": "fake error"})
		case code == "http500":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			json.NewEncoder(w).Encode(map[string]any{"errcode": 40029, "errmsg": "invalid code"})
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// WithWechat points the app at a fake WeChat server.
func WithWechat(f *FakeWechat) Option {
	return WithConfig(func(c *config.Config) { c.WechatAPIBase = f.URL })
}

// WechatLogin signs a WeChat user in with code and returns the access token.
func (e *Env) WechatLogin(t testing.TB, code string) string {
	t.Helper()
	r := e.MustDo(t, "", `mutation($c:String!){wechatLogin(input:{code:$c}){accessToken userErrors{code message}}}`, map[string]any{"c": code})
	tok := r.Str("wechatLogin.accessToken")
	if tok == "" {
		t.Fatalf("wechatLogin failed: %s", r.Raw)
	}
	return tok
}
