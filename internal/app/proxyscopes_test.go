package app_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/testenv"
)

// proxyOf makes u a proxy of the elder (whose own account is elder) with
// scopes, through createProxyInvitation and acceptProxyInvitation, and
// answers the link's global id.
func proxyOf(t *testing.T, e *testenv.Env, elder, u wechatUser, scopes ...string) string {
	t.Helper()
	code := e.MustDo(t, elder.access, inviteDoc, map[string]any{"in": map[string]any{"relation": "CHILD", "scopes": scopes}}).
		Str("createProxyInvitation.code")
	link := e.MustDo(t, u.access, acceptDoc, map[string]any{"c": code}).Str("acceptProxyInvitation.proxy.id")
	if link == "" {
		t.Fatalf("no link for %v", scopes)
	}
	return link
}

const (
	proxyReadDoc  = `query($r:ID!){resident(id:$r){id name idNumberMasked vouchers{id balanceFen}}}`
	proxyTokenDoc = `mutation($p:ID!,$r:ID){createRedemptionToken(programId:$p,residentId:$r){token userErrors{code}}}`
	proxySubmit   = `mutation($r:ID!){submitApplication(input:{itemCode:"GLJT-SL",applicantId:$r,materials:[{name:"居民身份证"}]}){application{id} userErrors{code}}}`
)

// TestProxyScopesThroughGraphQL: each scope lets a proxy do what it names
// for the elder and nothing else, through the API: VIEW reads the record
// (masked) and its vouchers, SPEND creates the elder's redemption tokens,
// APPLY submits the elder's applications; each such action is audited
// with both identities (the proxy's account as actor, the elder and the
// link in the detail); without the scope it is FORBIDDEN, and a revoked
// link allows nothing at once. The proxy never becomes the elder: the
// token and the application are the elder's, its own me.resident stays
// empty.
func TestProxyScopesThroughGraphQL(t *testing.T) {
	fake := testenv.NewFakeWechat(t)
	e := testenv.New(t, testenv.OwnDatabase(t), testenv.WithWechat(fake))
	res := e.InsertResident(t, testenv.ResidentSpec{Name: "吴爷爷", Phone: "13800005555"})
	rid := relay.ID("Resident", res.ID)
	admin, clerk := e.Admin(t), e.As(t, "clerk")

	// A program the elder is enrolled in, this month's voucher issued.
	pr := e.MustDo(t, admin, `mutation($in:CreateVoucherProgramInput!){createVoucherProgram(input:$in){program{id} userErrors{code}}}`,
		map[string]any{"in": map[string]any{"code": fmt.Sprintf("PX%d", time.Now().UnixNano()%1e9), "name": "代理测试券",
			"categories": []string{"MEAL"}, "rules": []map[string]any{{"amountFen": 20000}}}})
	program := pr.Str("createVoucherProgram.program.id")
	e.MustDo(t, admin, `mutation($id:ID!){activateVoucherProgram(id:$id){program{status}}}`, map[string]any{"id": program})
	e.MustDo(t, admin, `mutation($p:ID!,$r:ID!){enrollResident(programId:$p,residentId:$r){program{id}}}`, map[string]any{"p": program, "r": rid})
	period := civil.MonthOf(civil.DateOf(e.Clock.Now())).String()
	if r := e.MustDo(t, admin, `mutation($p:ID!,$m:String!){issueVouchers(input:{programId:$p,period:$m}){issuedCount userErrors{code}}}`,
		map[string]any{"p": program, "m": period}); r.Get("issueVouchers.issuedCount") != float64(1) {
		t.Fatalf("issue: %s", r.Raw)
	}

	elder := newWechatUser(t, e)
	code := e.MustDo(t, clerk, issueCodeDoc, map[string]any{"r": rid}).Str("issueBindingCode.code")
	e.MustDo(t, elder.access, bindCodeDoc, map[string]any{"c": code})
	viewer, spender, applier, alarms := newWechatUser(t, e), newWechatUser(t, e), newWechatUser(t, e), newWechatUser(t, e)
	viewLink := proxyOf(t, e, elder, viewer, "VIEW")
	spendLink := proxyOf(t, e, elder, spender, "SPEND")
	proxyOf(t, e, elder, applier, "APPLY")
	proxyOf(t, e, elder, alarms, "ALARMS")
	if r := e.MustDo(t, viewer.access, myProxiesDoc, nil); r.Str("myProxies.0.id") != viewLink {
		t.Fatalf("myProxies: %s", r.Raw)
	}
	if r := e.MustDo(t, viewer.access, `{myProxies{residentId}}`, nil); r.Str("myProxies.0.residentId") != rid {
		t.Fatalf("the proxy is not told whom it acts for: %s", r.Raw)
	}
	audited := func(t *testing.T, u wechatUser, action string) int {
		t.Helper()
		var n int
		testenv.MustScan(t, e.DB, `SELECT count(*) FROM audit_log WHERE action = ? AND actor_id = ? AND actor_kind = 'WECHAT'
			AND detail->>'onBehalfOf' = ? AND detail ? 'proxyLinkId'`, testenv.Args(action, relayUUID(t, u.id), res.ID.String()), &n)
		return n
	}

	t.Run("VIEW", func(t *testing.T) {
		r := e.MustDo(t, viewer.access, proxyReadDoc, map[string]any{"r": rid})
		if r.Str("resident.name") != "吴爷爷" || len(r.Get("resident.vouchers").([]any)) != 1 || r.Get("resident.vouchers.0.balanceFen") != float64(20000) {
			t.Fatalf("the VIEW proxy's read: %s", r.Raw)
		}
		if r := e.Do(t, viewer.access, `query($r:ID!){resident(id:$r){idNumber}}`, map[string]any{"r": rid}); r.Get("resident.idNumber") != nil {
			t.Fatalf("a proxy read the full ID number: %s", r.Raw)
		}
		if n := audited(t, viewer, "resident"); n < 1 {
			t.Fatalf("the proxy's read is not audited with both identities")
		}
		for _, u := range []wechatUser{spender, applier, alarms} {
			if r := e.Do(t, u.access, proxyReadDoc, map[string]any{"r": rid}); r.ErrorCode() != "FORBIDDEN" || r.Get("resident") != nil {
				t.Fatalf("a proxy without VIEW read the record: %s", r.Raw)
			}
		}
	})

	t.Run("SPEND", func(t *testing.T) {
		r := e.MustDo(t, spender.access, proxyTokenDoc, map[string]any{"p": program, "r": rid})
		tok := r.Str("createRedemptionToken.token")
		if tok == "" {
			t.Fatalf("the SPEND proxy's token: %s", r.Raw)
		}
		// The token is the elder's: a provider's preview names the elder.
		if n := audited(t, spender, "createRedemptionToken"); n != 1 {
			t.Fatalf("%d token audit entries with both identities, want 1", n)
		}
		var entity string
		testenv.MustScan(t, e.DB, `SELECT entity_id::text FROM audit_log WHERE action = 'createRedemptionToken' AND actor_id = ?`,
			testenv.Args(relayUUID(t, spender.id)), &entity)
		if entity != res.ID.String() {
			t.Fatalf("the token was made for %s, not the elder", entity)
		}
		for _, u := range []wechatUser{viewer, applier, alarms} {
			if r := e.Do(t, u.access, proxyTokenDoc, map[string]any{"p": program, "r": rid}); r.ErrorCode() != "FORBIDDEN" || r.Str("createRedemptionToken.token") != "" {
				t.Fatalf("a proxy without SPEND made a token: %s", r.Raw)
			}
		}
	})

	t.Run("APPLY", func(t *testing.T) {
		r := e.MustDo(t, applier.access, proxySubmit, map[string]any{"r": rid})
		app := r.Str("submitApplication.application.id")
		if app == "" {
			t.Fatalf("the APPLY proxy's application: %s", r.Raw)
		}
		var applicant string
		testenv.MustScan(t, e.DB, "SELECT applicant_id::text FROM applications WHERE id = ?", testenv.Args(relayUUID(t, app)), &applicant)
		if applicant != res.ID.String() {
			t.Fatalf("the application is %s's, not the elder's", applicant)
		}
		if n := audited(t, applier, "submitApplication"); n != 1 {
			t.Fatalf("%d submission audit entries with both identities, want 1", n)
		}
		for _, u := range []wechatUser{viewer, spender, alarms} {
			if r := e.Do(t, u.access, proxySubmit, map[string]any{"r": rid}); r.ErrorCode() != "FORBIDDEN" || r.Str("submitApplication.application.id") != "" {
				t.Fatalf("a proxy without APPLY submitted: %s", r.Raw)
			}
		}
		// The VIEW proxy reads the elder's applications and redemptions as
		// the mini-program shows them; the APPLY proxy does not read them.
		r = e.MustDo(t, viewer.access, `query($r:ID!){resident(id:$r){applications{edges{node{id}}} redemptions(first:5){id}}}`, map[string]any{"r": rid})
		if r.Str("resident.applications.edges.0.node.id") != app || r.Get("resident.redemptions") == nil {
			t.Fatalf("the VIEW proxy's applications: %s", r.Raw)
		}
		if r := e.Do(t, applier.access, `query($r:ID!){resident(id:$r){applications{edges{node{id}}}}}`, map[string]any{"r": rid}); r.ErrorCode() != "FORBIDDEN" {
			t.Fatalf("the APPLY proxy read the applications: %s", r.Raw)
		}
		// Withdrawing is APPLY's too: refused to the others, the
		// application unchanged; the APPLY proxy's withdrawal is audited
		// with both identities.
		const withdraw = `mutation($id:ID!){transitionApplication(input:{id:$id,action:WITHDRAW,note:"家属代为撤回"}){application{status} userErrors{code}}}`
		for _, u := range []wechatUser{viewer, spender, alarms} {
			r := e.Do(t, u.access, withdraw, map[string]any{"id": app})
			if r.Str("transitionApplication.application.status") != "" || (r.Str("transitionApplication.userErrors.0.code") == "" && r.ErrorCode() == "") {
				t.Fatalf("a proxy without APPLY withdrew: %s", r.Raw)
			}
		}
		if r := e.MustDo(t, applier.access, withdraw, map[string]any{"id": app}); r.Str("transitionApplication.application.status") != "WITHDRAWN" {
			t.Fatalf("the APPLY proxy's withdrawal: %s", r.Raw)
		}
		if n := audited(t, applier, "transitionApplication"); n != 1 {
			t.Fatalf("%d withdrawal audit entries with both identities, want 1", n)
		}
	})

	t.Run("ALARMS", func(t *testing.T) {
		// Alarm notices reach the ALARMS proxy only (the outbox tests in
		// internal/emergency send them): here, a call of the elder.
		call := e.MustDo(t, e.As(t, "telephony"), `mutation($in:ReceiveEmergencyCallInput!){receiveEmergencyCall(input:$in){call{id} userErrors{code}}}`,
			map[string]any{"in": map[string]any{"externalCallId": "PX-" + uuid.NewString(), "callerNumber": "13800005555", "kind": "VOICE_CALL"}})
		if call.Str("receiveEmergencyCall.call.id") == "" {
			t.Fatalf("call: %s", call.Raw)
		}
		r := e.MustDo(t, alarms.access, myNoticesDoc, nil)
		if r.Str("myNotifications.0.kind") != "ALARM_RECEIVED" {
			t.Fatalf("the ALARMS proxy's notices: %s", r.Raw)
		}
		for _, u := range []wechatUser{viewer, spender, applier} {
			r := e.MustDo(t, u.access, myNoticesDoc, nil)
			for _, n := range r.Get("myNotifications").([]any) {
				if n.(map[string]any)["kind"] == "ALARM_RECEIVED" {
					t.Fatalf("a proxy without ALARMS was told of the alarm: %s", r.Raw)
				}
			}
		}
	})

	t.Run("a revoked link allows nothing at once", func(t *testing.T) {
		e.MustDo(t, elder.access, revokeDoc, map[string]any{"id": viewLink})
		e.MustDo(t, spender.access, revokeDoc, map[string]any{"id": spendLink})
		if r := e.Do(t, viewer.access, proxyReadDoc, map[string]any{"r": rid}); r.ErrorCode() != "FORBIDDEN" {
			t.Fatalf("a revoked VIEW link still reads: %s", r.Raw)
		}
		if r := e.Do(t, spender.access, proxyTokenDoc, map[string]any{"p": program, "r": rid}); r.ErrorCode() != "FORBIDDEN" {
			t.Fatalf("a revoked SPEND link still makes tokens: %s", r.Raw)
		}
	})

	// The proxy never became the elder.
	if r := e.MustDo(t, spender.access, `{me{resident{id}}}`, nil); r.Get("me.resident") != nil {
		t.Fatalf("the proxy became the elder: %s", r.Raw)
	}
}

// TestInvitationAndBindingCodesThrottled: tries of invitation codes count
// per account (and per client address) and per code, as binding codes'
// do: past the limit TOO_MANY_ATTEMPTS, even for a right code.
func TestInvitationAndBindingCodesThrottled(t *testing.T) {
	fake := testenv.NewFakeWechat(t)
	e := testenv.New(t, testenv.WithWechat(fake))
	res := e.InsertResident(t, testenv.ResidentSpec{Name: "郑奶奶", Phone: "13800004444"})
	rid := relay.ID("Resident", res.ID)
	clerk := e.As(t, "clerk")
	elder := newWechatUser(t, e)
	e.MustDo(t, elder.access, bindCodeDoc, map[string]any{"c": e.MustDo(t, clerk, issueCodeDoc, map[string]any{"r": rid}).Str("issueBindingCode.code")})
	invite := func() string {
		return e.MustDo(t, elder.access, inviteDoc, map[string]any{"in": map[string]any{"relation": "CHILD", "scopes": []string{"VIEW"}}}).
			Str("createProxyInvitation.code")
	}

	// Per account: five wrong codes, then even the right one is refused.
	guesser := newWechatUser(t, e)
	for i := range 5 {
		r := e.MustDo(t, guesser.access, acceptDoc, map[string]any{"c": fmt.Sprintf("ABCDE-FGH%d", i+2)})
		if c := r.Str("acceptProxyInvitation.userErrors.0.code"); c != "NOT_FOUND" {
			t.Fatalf("try %d: %s", i, r.Raw)
		}
	}
	good := invite()
	if r := e.MustDo(t, guesser.access, acceptDoc, map[string]any{"c": good}); r.Str("acceptProxyInvitation.userErrors.0.code") != "TOO_MANY_ATTEMPTS" {
		t.Fatalf("the sixth try of one account: %s", r.Raw)
	}

	// Per code: one code tried by five accounts is refused to the sixth,
	// whose own count is fresh.
	for i := range 5 {
		u := newWechatUser(t, e)
		r := e.MustDo(t, u.access, acceptDoc, map[string]any{"c": "WXYZ2-34567"})
		if c := r.Str("acceptProxyInvitation.userErrors.0.code"); c != "NOT_FOUND" {
			t.Fatalf("code try %d: %s", i, r.Raw)
		}
	}
	fresh := newWechatUser(t, e)
	if r := e.MustDo(t, fresh.access, acceptDoc, map[string]any{"c": "WXYZ2-34567"}); r.Str("acceptProxyInvitation.userErrors.0.code") != "TOO_MANY_ATTEMPTS" {
		t.Fatalf("the sixth try of one code: %s", r.Raw)
	}
	// A fresh account accepts a fresh code, and binding codes are limited
	// per code too.
	if r := e.MustDo(t, fresh.access, acceptDoc, map[string]any{"c": invite()}); r.Str("acceptProxyInvitation.proxy.id") == "" {
		t.Fatalf("a fresh account and code: %s", r.Raw)
	}
	for i := range 5 {
		r := e.MustDo(t, newWechatUser(t, e).access, bindCodeDoc, map[string]any{"c": "QRST2-34568"})
		if c := r.Str("bindResidentWithCode.userErrors.0.code"); c != "NOT_FOUND" {
			t.Fatalf("binding code try %d: %s", i, r.Raw)
		}
	}
	if r := e.MustDo(t, newWechatUser(t, e).access, bindCodeDoc, map[string]any{"c": "QRST2-34568"}); r.Str("bindResidentWithCode.userErrors.0.code") != "TOO_MANY_ATTEMPTS" {
		t.Fatalf("the sixth try of one binding code: %s", r.Raw)
	}
}
