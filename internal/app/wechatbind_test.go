package app_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/testenv"
)

const (
	bindDoc     = `mutation($in:BindResidentInput!){bindResident(input:$in){resident{id} userErrors{code message}}}`
	bindingsDoc = `query($id:ID!){resident(id:$id){name wechatAccounts{id boundAt resident{name}}}}`
	unbindDoc   = `mutation($id:ID!,$r:String!){unbindWechatAccount(input:{accountId:$id,reason:$r}){account{id boundAt resident{id}} userErrors{code field}}}`
)

// wechatUser is a signed-in mini-program account.
type wechatUser struct{ access, refresh, id string }

func newWechatUser(t *testing.T, e *testenv.Env) wechatUser {
	t.Helper()
	r := e.MustDo(t, "", `mutation($c:String!){wechatLogin(input:{code:$c}){accessToken refreshToken viewer{id}}}`,
		map[string]any{"c": fmt.Sprintf("ok:wx-%d", rand.Int64())})
	return wechatUser{r.Str("wechatLogin.accessToken"), r.Str("wechatLogin.refreshToken"), r.Str("wechatLogin.viewer.id")}
}

func bindAs(t *testing.T, e *testenv.Env, u wechatUser, res testenv.Resident, name string) *testenv.Response {
	t.Helper()
	return e.Do(t, u.access, bindDoc, map[string]any{"in": map[string]any{"name": name, "idNumber": res.IDNumber, "phone": res.Phone}})
}

// TestWechatBindings: at most WECHAT_MAX_BINDINGS_PER_RESIDENT accounts on
// one record, also under concurrent binds; the accounts already bound are
// told of each new one (a notifications row, in the bind's transaction);
// counters in scope list the accounts and unbind one, which ends its
// sessions at once and frees its place.
func TestWechatBindings(t *testing.T) {
	fake := testenv.NewFakeWechat(t)
	e := testenv.New(t, testenv.WithWechat(fake))
	res := e.InsertResident(t, testenv.ResidentSpec{Name: "钱奶奶", Phone: "13800007777"})
	rid := relay.ID("Resident", res.ID)
	clerk, cw, cw2, op, admin := e.As(t, "clerk"), e.As(t, "caseworker"), e.As(t, "caseworker2"), e.As(t, "operator"), e.Admin(t)
	notified := func(t *testing.T, to string) (n int, accountID string) {
		t.Helper()
		var payload []byte
		testenv.MustScan(t, e.DB, `SELECT count(*) OVER (), payload FROM notifications WHERE kind = 'WECHAT_BINDING_ADDED'
			AND recipient_kind = 'WECHAT' AND recipient_id::text = ? ORDER BY id DESC LIMIT 1`, testenv.Args(relayUUID(t, to)), &n, &payload)
		var p struct{ AccountID string }
		if err := json.Unmarshal(payload, &p); err != nil {
			t.Fatal(err)
		}
		return n, p.AccountID
	}

	var users []wechatUser
	for i := 0; i < 3; i++ {
		u := newWechatUser(t, e)
		if r := bindAs(t, e, u, res, "钱奶奶"); r.Str("bindResident.resident.id") != rid {
			t.Fatalf("bind %d: %s", i, r.Raw)
		}
		users = append(users, u)
	}
	t.Run("the accounts already bound are told", func(t *testing.T) {
		if n, acc := notified(t, users[0].id); n != 2 || acc != relayUUID(t, users[2].id) {
			t.Fatalf("first account: %d notifications, last about %s", n, acc)
		}
		if n, acc := notified(t, users[1].id); n != 1 || acc != relayUUID(t, users[2].id) {
			t.Fatalf("second account: %d notifications, last about %s", n, acc)
		}
		var none int64
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM notifications WHERE recipient_id::text = ?", testenv.Args(relayUUID(t, users[2].id)), &none)
		if none != 0 {
			t.Fatal("the new account was told of itself")
		}
	})
	fourth := newWechatUser(t, e)
	t.Run("a fourth account is refused", func(t *testing.T) {
		r := bindAs(t, e, fourth, res, "钱奶奶")
		if r.Str("bindResident.userErrors.0.code") != "CONFLICT" || r.Get("bindResident.resident") != nil {
			t.Fatalf("%s", r.Raw)
		}
	})
	t.Run("binding an account again changes nothing", func(t *testing.T) {
		if r := bindAs(t, e, users[1], res, "钱奶奶"); r.Str("bindResident.resident.id") != rid {
			t.Fatalf("%s", r.Raw)
		}
	})
	t.Run("counters in scope list them; others get null and FORBIDDEN for the field alone", func(t *testing.T) {
		for _, tok := range []string{clerk, cw, admin, e.As(t, "auditor")} {
			r := e.MustDo(t, tok, bindingsDoc, map[string]any{"id": rid})
			list, _ := r.Get("resident.wechatAccounts").([]any)
			if len(list) != 3 || r.Str("resident.wechatAccounts.0.id") != users[0].id || r.Str("resident.wechatAccounts.0.resident.name") != "钱奶奶" {
				t.Fatalf("list: %s", r.Raw)
			}
		}
		fieldForbidden(t, "operator", e.Do(t, op, bindingsDoc, map[string]any{"id": rid}), "resident", "wechatAccounts")
		// An account read by node(id:) follows the same rule.
		const node = `query($id:ID!){node(id:$id){id}}`
		if r := e.Do(t, cw, node, map[string]any{"id": users[0].id}); r.Str("node.id") != users[0].id {
			t.Fatalf("caseworker, node: %s", r.Raw)
		}
		for _, tok := range []string{cw2, op} {
			if r := e.Do(t, tok, node, map[string]any{"id": users[0].id}); r.ErrorCode() != "FORBIDDEN" || r.Get("node") != nil {
				t.Fatalf("node: %s", r.Raw)
			}
		}
	})
	t.Run("unbinding: out of jurisdiction, forbidden role, no reason", func(t *testing.T) {
		for _, c := range []struct {
			tok, reason, err, code string
		}{
			{cw2, "家属申请", "", "OUT_OF_JURISDICTION"},
			// A wrong role: the GraphQL error and the same refusal in the payload.
			{op, "家属申请", "FORBIDDEN", "FORBIDDEN"},
			{users[1].access, "家属申请", "FORBIDDEN", "FORBIDDEN"},
			{clerk, "  ", "", "INVALID"},
		} {
			r := e.Do(t, c.tok, unbindDoc, map[string]any{"id": users[0].id, "r": c.reason})
			if r.ErrorCode() != c.err || r.Str("unbindWechatAccount.userErrors.0.code") != c.code {
				t.Errorf("want %q/%q: %s", c.err, c.code, r.Raw)
			}
		}
		if r := e.MustDo(t, clerk, bindingsDoc, map[string]any{"id": rid}); len(r.Get("resident.wechatAccounts").([]any)) != 3 {
			t.Fatalf("unbound anyway: %s", r.Raw)
		}
	})
	t.Run("a counter unbinds one: audited, its sessions end at once, its place is free", func(t *testing.T) {
		r := e.MustDo(t, cw, unbindDoc, map[string]any{"id": users[0].id, "r": "手机丢失，家属申请解绑"})
		if r.Str("unbindWechatAccount.account.id") != users[0].id || r.Get("unbindWechatAccount.account.resident") != nil ||
			r.Get("unbindWechatAccount.userErrors.0") != nil {
			t.Fatalf("%s", r.Raw)
		}
		if me := e.Do(t, users[0].access, meQuery, nil); me.ErrorCode() != "UNAUTHENTICATED" {
			t.Fatalf("the unbound account's session still works: %s", me.Raw)
		}
		if rf := e.Do(t, "", refreshMutation, map[string]any{"t": users[0].refresh}); rf.Get("refreshSession.accessToken") != nil {
			t.Fatalf("the unbound account's refresh token still works: %s", rf.Raw)
		}
		var reason, resident string
		testenv.MustScan(t, e.DB, `SELECT detail->>'reason', detail->>'residentId' FROM audit_log WHERE action = 'unbindWechatAccount'
			AND entity = 'WechatAccount' AND entity_id::text = ?`, testenv.Args(relayUUID(t, users[0].id)), &reason, &resident)
		if reason != "手机丢失，家属申请解绑" || resident != res.ID.String() {
			t.Fatalf("audit: %q %q", reason, resident)
		}
		if r := e.Do(t, cw, unbindDoc, map[string]any{"id": users[0].id, "r": "再次"}); r.Str("unbindWechatAccount.userErrors.0.code") != "INVALID_TRANSITION" {
			t.Fatalf("unbinding twice: %s", r.Raw)
		}
		if r := bindAs(t, e, fourth, res, "钱奶奶"); r.Str("bindResident.resident.id") != rid {
			t.Fatalf("the freed place: %s", r.Raw)
		}
		sessionAlive(t, e, users[1].access)
	})
	t.Run("concurrent binds never pass the cap", func(t *testing.T) {
		other := e.InsertResident(t, testenv.ResidentSpec{Name: "孙爷爷", Phone: "13800008888"})
		var wg sync.WaitGroup
		codes := make([]string, 8)
		us := make([]wechatUser, len(codes))
		for i := range us {
			us[i] = newWechatUser(t, e)
		}
		for i := range us {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := bindAs(t, e, us[i], other, "孙爷爷")
				codes[i] = r.Str("bindResident.userErrors.0.code")
				if codes[i] == "" && r.Get("bindResident.resident.id") == nil {
					codes[i] = "error: " + string(r.Raw)
				}
			}()
		}
		wg.Wait()
		var bound, refused int
		for _, c := range codes {
			switch c {
			case "":
				bound++
			case "CONFLICT":
				refused++
			default:
				t.Errorf("bind: %s", c)
			}
		}
		var n int64
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM wechat_accounts WHERE resident_id = ?", testenv.Args(other.ID), &n)
		if bound != 3 || refused != 5 || n != 3 {
			t.Fatalf("%d bound, %d refused, %d in the table", bound, refused, n)
		}
	})
}

// relayUUID is the uuid inside a global ID.
func relayUUID(t *testing.T, gid string) string {
	t.Helper()
	_, id, err := relay.Parse(gid)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}
