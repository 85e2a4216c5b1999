package wechat_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const loginDoc = `mutation($c:String!){ wechatLogin(input:{code:$c}){ accessToken refreshToken viewer{ id roles } userErrors{ code field message } } }`

func TestWechatLogin(t *testing.T) {
	fake := testenv.NewFakeWechat(t)
	e := testenv.New(t, testenv.WithWechat(fake))
	r := e.MustDo(t, "", loginDoc, map[string]any{"c": "ok:openid-1:a"})
	tok := r.Str("wechatLogin.accessToken")
	if tok == "" || r.Str("wechatLogin.viewer.roles.0") != "RESIDENT" {
		t.Fatalf("login: %s", r.Raw)
	}
	if strings.Contains(string(r.Raw), testenv.SessionKeyPrefix) {
		t.Fatal("session_key left the server")
	}
	me := e.MustDo(t, tok, `{ me { id roles resident { name } } }`, nil)
	if me.Str("me.roles.0") != "RESIDENT" || me.Get("me.resident") != nil || me.Str("me.id") != r.Str("wechatLogin.viewer.id") {
		t.Fatalf("me: %s", me.Raw)
	}
	// The same WeChat user again: same account, no second row.
	r2 := e.MustDo(t, "", loginDoc, map[string]any{"c": "ok:openid-1:b"})
	if r2.Str("wechatLogin.viewer.id") != r.Str("wechatLogin.viewer.id") {
		t.Fatal("a second account for the same openid")
	}
	var n int
	var union string
	testenv.MustScan(t, e.DB, "SELECT count(*), max(unionid) FROM wechat_accounts WHERE openid = 'openid-1'", nil, &n, &union)
	if n != 1 || union != "union-openid-1" {
		t.Fatalf("accounts: %d, unionid %q", n, union)
	}
	// Replaying a code fails without asking WeChat.
	calls := fake.Calls.Load()
	r3 := e.MustDo(t, "", loginDoc, map[string]any{"c": "ok:openid-1:a"})
	if r3.Str("wechatLogin.userErrors.0.code") != "INVALID_CREDENTIALS" || r3.Get("wechatLogin.accessToken") != nil {
		t.Fatalf("replay: %s", r3.Raw)
	}
	if fake.Calls.Load() != calls {
		t.Fatal("replayed code was sent to WeChat")
	}
	// Refresh works for WeChat sessions too.
	rf := e.MustDo(t, "", `mutation($t:String!){ refreshSession(refreshToken:$t){ accessToken userErrors{ code } } }`,
		map[string]any{"t": r.Str("wechatLogin.refreshToken")})
	if rf.Str("refreshSession.accessToken") == "" {
		t.Fatalf("refresh: %s", rf.Raw)
	}
}

func TestWechatErrorCodes(t *testing.T) {
	fake := testenv.NewFakeWechat(t)
	e := testenv.New(t, testenv.WithWechat(fake))
	cases := []struct {
		code, userError, transport, msg string
	}{
		// Messages are Chinese by default (Accept-Language: en for English).
		{"err:40029", "INVALID_CREDENTIALS", "", "无效或已过期"},
		{"err:40163", "INVALID_CREDENTIALS", "", "无效或已过期"},
		{"err:45011", "TOO_MANY_ATTEMPTS", "", "频繁"},
		{"err:40226", "INVALID_CREDENTIALS", "", "限制登录"},
		{"err:-1", "", "SERVICE_UNAVAILABLE", ""},
		{"err:40013", "", "SERVICE_UNAVAILABLE", ""},
		{"http500", "", "SERVICE_UNAVAILABLE", ""},
		{"", "INVALID_CREDENTIALS", "", "无效"},
		{strings.Repeat("x", 200), "INVALID_CREDENTIALS", "", "无效"},
	}
	for _, c := range cases {
		t.Run(c.code[:min(len(c.code), 10)], func(t *testing.T) {
			r := e.Do(t, "", loginDoc, map[string]any{"c": c.code})
			if c.transport != "" {
				if r.ErrorCode() != c.transport || r.Status != 503 {
					t.Fatalf("want %s/503: %d %s", c.transport, r.Status, r.Raw)
				}
				return
			}
			if r.Str("wechatLogin.userErrors.0.code") != c.userError || !strings.Contains(r.Str("wechatLogin.userErrors.0.message"), c.msg) {
				t.Fatalf("answer: %s", r.Raw)
			}
		})
	}
	// An outage does not burn the code: the client may retry it.
	if r := e.Do(t, "", loginDoc, map[string]any{"c": "http500"}); r.ErrorCode() != "SERVICE_UNAVAILABLE" {
		t.Fatalf("retry after outage: %s", r.Raw)
	}
}

func TestWechatUnreachable(t *testing.T) {
	fake := testenv.NewFakeWechat(t)
	url := fake.URL
	fake.Close()
	e := testenv.New(t, testenv.WithConfig(func(c *config.Config) { c.WechatAPIBase = url }))
	start := time.Now()
	r := e.Do(t, "", loginDoc, map[string]any{"c": "ok:x"})
	if r.ErrorCode() != "SERVICE_UNAVAILABLE" || time.Since(start) > 6*time.Second {
		t.Fatalf("unreachable: %s", r.Raw)
	}
	if strings.Contains(e.Logs(), "secret=") || strings.Contains(e.Logs(), "js_code") {
		t.Fatal("the request URL (with secret and code) was logged")
	}
}

const bindDoc = `mutation($in: BindResidentInput!){ bindResident(input:$in){ resident{ name idNumber } userErrors{ code field message } } }`

func TestBindResident(t *testing.T) {
	fake := testenv.NewFakeWechat(t)
	e := testenv.New(t, testenv.WithWechat(fake))
	res := e.InsertResident(t, testenv.ResidentSpec{Name: "林淑芳", Phone: "13812340000"})
	tok := e.WechatLogin(t, "ok:bind-1")
	good := map[string]any{"name": "林淑芳", "idNumber": res.IDNumber, "phone": "138-1234-0000"}

	t.Run("mismatches look alike", func(t *testing.T) {
		var msgs []string
		for _, in := range []map[string]any{
			{"name": "林淑", "idNumber": res.IDNumber, "phone": "13812340000"},
			{"name": "林淑芳", "idNumber": res.IDNumber, "phone": "13812340001"},
			{"name": "林淑芳", "idNumber": testenv.OtherIDNumber(res.IDNumber), "phone": "13812340000"},
		} {
			r := e.MustDo(t, tok, bindDoc, map[string]any{"in": in})
			if r.Str("bindResident.userErrors.0.code") != "NOT_FOUND" {
				t.Fatalf("mismatch: %s", r.Raw)
			}
			msgs = append(msgs, r.Str("bindResident.userErrors.0.message"))
		}
		if msgs[0] != msgs[1] || msgs[1] != msgs[2] {
			t.Fatalf("mismatch messages differ: %v", msgs)
		}
	})
	t.Run("success updates the live session", func(t *testing.T) {
		r := e.MustDo(t, tok, bindDoc, map[string]any{"in": good})
		if r.Str("bindResident.resident.name") != "林淑芳" || r.Str("bindResident.resident.idNumber") != res.IDNumber {
			t.Fatalf("bind: %s", r.Raw)
		}
		me := e.MustDo(t, tok, `{ me { resident { name idNumberMasked } } }`, nil)
		if me.Str("me.resident.name") != "林淑芳" {
			t.Fatalf("me.resident right after binding: %s", me.Raw)
		}
		var bound uuid.UUID
		testenv.MustScan(t, e.DB, "SELECT resident_id FROM wechat_accounts WHERE openid = 'bind-1'", nil, &bound)
		if bound != res.ID {
			t.Fatal("account not bound in the database")
		}
		// A new sign-in of the same WeChat user is bound at once.
		tok2 := e.WechatLogin(t, "ok:bind-1:again")
		if r := e.MustDo(t, tok2, `{ me { resident { name } } }`, nil); r.Str("me.resident.name") != "林淑芳" {
			t.Fatalf("after new login: %s", r.Raw)
		}
	})
	t.Run("throttled per account", func(t *testing.T) {
		prober := e.WechatLogin(t, "ok:prober")
		wrong := map[string]any{"name": "林淑芳", "idNumber": res.IDNumber, "phone": "13800000000"}
		for i := 0; i < 5; i++ {
			if r := e.MustDo(t, prober, bindDoc, map[string]any{"in": wrong}); r.Str("bindResident.userErrors.0.code") != "NOT_FOUND" {
				t.Fatalf("attempt %d: %s", i, r.Raw)
			}
		}
		r := e.MustDo(t, prober, bindDoc, map[string]any{"in": good})
		if r.Str("bindResident.userErrors.0.code") != "TOO_MANY_ATTEMPTS" || r.Get("bindResident.resident") != nil {
			t.Fatalf("sixth attempt: %s", r.Raw)
		}
		// Another account is not affected; after the window the prober may try again.
		other := e.WechatLogin(t, "ok:other")
		if r := e.MustDo(t, other, bindDoc, map[string]any{"in": good}); r.Str("bindResident.resident.name") != "林淑芳" {
			t.Fatalf("other account: %s", r.Raw)
		}
	})
	t.Run("refused", func(t *testing.T) {
		if r := e.Do(t, e.As(t, "clerk"), bindDoc, map[string]any{"in": good}); r.ErrorCode() != "FORBIDDEN" {
			t.Fatalf("staff: %s", r.Raw)
		}
		if r := e.Do(t, "", bindDoc, map[string]any{"in": good}); r.ErrorCode() != "UNAUTHENTICATED" {
			t.Fatalf("anonymous: %s", r.Raw)
		}
		fresh := e.WechatLogin(t, "ok:fresh")
		r := e.MustDo(t, fresh, bindDoc, map[string]any{"in": map[string]any{"name": "x", "idNumber": "123", "phone": "13800000000"}})
		if r.Str("bindResident.userErrors.0.code") != "INVALID_ID_NUMBER" || r.Str("bindResident.userErrors.0.field.1") != "idNumber" {
			t.Fatalf("invalid number: %s", r.Raw)
		}
	})
}
