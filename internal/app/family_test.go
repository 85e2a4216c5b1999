package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/testenv"
)

const (
	issueCodeDoc  = `mutation($r:ID!){issueBindingCode(residentId:$r){code expiresAt userErrors{code field}}}`
	bindCodeDoc   = `mutation($c:String!){bindResidentWithCode(code:$c){resident{id name} userErrors{code field}}}`
	inviteDoc     = `mutation($in:CreateProxyInvitationInput!){createProxyInvitation(input:$in){code expiresAt userErrors{code field}}}`
	acceptDoc     = `mutation($c:String!){acceptProxyInvitation(code:$c){proxy{id residentName relation scopes consentMethod consentEvidence mine} userErrors{code field}}}`
	revokeDoc     = `mutation($id:ID!,$r:String){revokeProxy(id:$id,reason:$r){proxy{revokedAt revokedBy revokeReason} userErrors{code field}}}`
	myProxiesDoc  = `{myProxies{id residentName scopes mine}}`
	myNoticesDoc  = `{myNotifications{kind title channel status}}`
	deliveriesDoc = `query($r:ID!){resident(id:$r){notificationDeliveries{kind channel status lastError}}}`
)

// actFor asks the one proxy check for WeChat account acc (bound to own).
func actFor(e *testenv.Env, acc string, own *uuid.UUID, r uuid.UUID, s policy.ProxyScope) (policy.Acting, error) {
	id, _ := uuid.Parse(acc)
	ctx := auth.WithViewer(context.Background(), auth.WechatViewer(id, own))
	return e.App.Proxies.ActFor(ctx, r, s)
}

// TestBindingCodesAndProxies: a clerk's binding code binds once; the
// elder's own account consents to a proxy with scopes; the proxy acts for
// the elder only within them (policy.ActFor), never as the elder, and
// cannot invite others; consent at a counter needs its evidence; the
// elder, the proxy or a clerk revokes, and a revoked link allows nothing.
func TestBindingCodesAndProxies(t *testing.T) {
	fake := testenv.NewFakeWechat(t)
	e := testenv.New(t, testenv.WithWechat(fake))
	res := e.InsertResident(t, testenv.ResidentSpec{Name: "孙爷爷", Phone: "13800008888"})
	rid := relay.ID("Resident", res.ID)
	clerk, op := e.As(t, "clerk"), e.As(t, "operator")

	// Binding code: the operator may not issue one; the clerk may.
	if r := e.Do(t, op, issueCodeDoc, map[string]any{"r": rid}); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("operator issued a binding code: %s", r.Raw)
	}
	ir := e.Do(t, clerk, issueCodeDoc, map[string]any{"r": rid})
	if len(ir.Errors) > 0 {
		t.Fatal(e.Logs())
	}
	code := ir.Str("issueBindingCode.code")
	if len(code) != 11 {
		t.Fatalf("code %q", code)
	}
	elder := newWechatUser(t, e)
	r := e.MustDo(t, elder.access, bindCodeDoc, map[string]any{"c": code})
	if r.Str("bindResidentWithCode.resident.id") != rid {
		t.Fatalf("bind with code: %s", r.Raw)
	}
	other := newWechatUser(t, e)
	if r := e.MustDo(t, other.access, bindCodeDoc, map[string]any{"c": code}); r.Str("bindResidentWithCode.userErrors.0.code") != "NOT_FOUND" {
		t.Fatalf("a used code bound again: %s", r.Raw)
	}
	elderID := relayUUID(t, elder.id)

	// The elder's own account consents to a proxy with VIEW and SPEND.
	inv := e.MustDo(t, elder.access, inviteDoc, map[string]any{"in": map[string]any{"relation": "CHILD", "scopes": []string{"VIEW", "SPEND"}}})
	icode := inv.Str("createProxyInvitation.code")
	if icode == "" {
		t.Fatalf("invite: %s", inv.Raw)
	}
	child := newWechatUser(t, e)
	acc := e.MustDo(t, child.access, acceptDoc, map[string]any{"c": icode})
	if acc.Str("acceptProxyInvitation.proxy.consentMethod") != "ELDER_ACCOUNT" || acc.Str("acceptProxyInvitation.proxy.residentName") != "孙**" ||
		acc.Get("acceptProxyInvitation.proxy.mine") != true {
		t.Fatalf("accept: %s", acc.Raw)
	}
	link := acc.Str("acceptProxyInvitation.proxy.id")
	if r := e.MustDo(t, other.access, acceptDoc, map[string]any{"c": icode}); r.Str("acceptProxyInvitation.userErrors.0.code") != "NOT_FOUND" {
		t.Fatalf("an invitation was used twice: %s", r.Raw)
	}
	childID := relayUUID(t, child.id)
	if a, err := actFor(e, childID, nil, res.ID, policy.ScopeSpend); err != nil || !a.Proxy() || a.Detail(nil)["onBehalfOf"] != res.ID {
		t.Fatalf("SPEND proxy: %+v %v", a, err)
	}
	if _, err := actFor(e, childID, nil, res.ID, policy.ScopeApply); !errors.Is(err, problem.ErrForbidden) {
		t.Fatalf("APPLY without the scope: %v", err)
	}
	if a, err := actFor(e, elderID, &res.ID, res.ID, policy.ScopeAlarms); err != nil || a.Proxy() {
		t.Fatalf("the elder acts for itself: %+v %v", a, err)
	}
	// A proxy never becomes the elder: its viewer is unbound, it reads no
	// record as its own, and it cannot consent to further proxies.
	if r := e.MustDo(t, child.access, `{me{resident{id}}}`, nil); r.Get("me.resident") != nil {
		t.Fatalf("the proxy became the elder: %s", r.Raw)
	}
	if r := e.Do(t, child.access, inviteDoc, map[string]any{"in": map[string]any{"residentId": rid, "relation": "CHILD", "scopes": []string{"VIEW"}}}); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("a proxy invited another: %s", r.Raw)
	}
	if r := e.MustDo(t, child.access, myProxiesDoc, nil); r.Str("myProxies.0.id") != link || r.Get("myProxies.0.mine") != true {
		t.Fatalf("myProxies: %s", r.Raw)
	}
	if r := e.MustDo(t, elder.access, myProxiesDoc, nil); r.Str("myProxies.0.id") != link || r.Get("myProxies.0.mine") != false {
		t.Fatalf("the elder's myProxies: %s", r.Raw)
	}
	// The audit log names both identities: the proxy's account and the resident.
	var n int
	testenv.MustScan(t, e.DB, `SELECT count(*) FROM audit_log WHERE action = 'acceptProxyInvitation' AND actor_id = ? AND entity_id = ?
		AND detail->>'proxyLinkId' = ?`, testenv.Args(relayUUID(t, child.id), res.ID, relayUUID(t, link)), &n)
	if n != 1 {
		t.Fatalf("%d audit entries with both identities", n)
	}

	// At a counter: the evidence is required, then the link is COUNTER.
	in := map[string]any{"residentId": rid, "relation": "SPOUSE", "scopes": []string{"ALARMS"}}
	if r := e.MustDo(t, clerk, inviteDoc, map[string]any{"in": in}); r.Str("createProxyInvitation.userErrors.0.field.1") != "evidence" {
		t.Fatalf("a counter consent without evidence: %s", r.Raw)
	}
	in["evidence"] = "老人本人到场，已核验身份证"
	c2 := e.MustDo(t, clerk, inviteDoc, map[string]any{"in": in}).Str("createProxyInvitation.code")
	spouse := newWechatUser(t, e)
	l2 := e.MustDo(t, spouse.access, acceptDoc, map[string]any{"c": c2})
	if l2.Str("acceptProxyInvitation.proxy.consentMethod") != "COUNTER" {
		t.Fatalf("counter link: %s", l2.Raw)
	}
	link2 := l2.Str("acceptProxyInvitation.proxy.id")

	// Revocation: a stranger may not; the elder may; a clerk must say why.
	if r := e.Do(t, other.access, revokeDoc, map[string]any{"id": link}); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("a stranger revoked: %s", r.Raw)
	}
	if r := e.MustDo(t, elder.access, revokeDoc, map[string]any{"id": link}); r.Str("revokeProxy.proxy.revokedBy") != "ELDER" {
		t.Fatalf("the elder revokes: %s", r.Raw)
	}
	if _, err := actFor(e, childID, nil, res.ID, policy.ScopeSpend); !errors.Is(err, problem.ErrForbidden) {
		t.Fatalf("a revoked link still allows SPEND: %v", err)
	}
	if r := e.MustDo(t, clerk, revokeDoc, map[string]any{"id": link2}); r.Str("revokeProxy.userErrors.0.field.1") != "reason" {
		t.Fatalf("a clerk revoked without a reason: %s", r.Raw)
	}
	if r := e.MustDo(t, clerk, revokeDoc, map[string]any{"id": link2, "r": "家属申请"}); r.Str("revokeProxy.proxy.revokedBy") != "STAFF" {
		t.Fatalf("the clerk revokes: %s", r.Raw)
	}
	if r := e.MustDo(t, clerk, `query($r:ID!){resident(id:$r){proxies{revokedBy}}}`, map[string]any{"r": rid}); len(r.Get("resident.proxies").([]any)) != 2 {
		t.Fatalf("the counter's list of links: %s", r.Raw)
	}
}

// TestMyNotifications: a second account bound to a record tells the
// first, which reads it in myNotifications; staff read the delivery
// status masked; a stranger reads none of it; opt-outs round-trip.
func TestMyNotifications(t *testing.T) {
	fake := testenv.NewFakeWechat(t)
	e := testenv.New(t, testenv.WithWechat(fake))
	res := e.InsertResident(t, testenv.ResidentSpec{Name: "周奶奶", Phone: "13800009999"})
	rid := relay.ID("Resident", res.ID)
	clerk := e.As(t, "clerk")
	first, second := newWechatUser(t, e), newWechatUser(t, e)
	for _, u := range []wechatUser{first, second} {
		code := e.MustDo(t, clerk, issueCodeDoc, map[string]any{"r": rid}).Str("issueBindingCode.code")
		e.MustDo(t, u.access, bindCodeDoc, map[string]any{"c": code})
	}
	r := e.MustDo(t, first.access, myNoticesDoc, nil)
	if r.Str("myNotifications.0.kind") != "WECHAT_BINDING_ADDED" || r.Str("myNotifications.0.channel") != "WECHAT" {
		t.Fatalf("first account: %s", r.Raw)
	}
	if r := e.MustDo(t, second.access, myNoticesDoc, nil); len(r.Get("myNotifications").([]any)) != 0 {
		t.Fatalf("the new account was told of itself: %s", r.Raw)
	}
	d := e.MustDo(t, clerk, deliveriesDoc, map[string]any{"r": rid})
	if d.Str("resident.notificationDeliveries.0.kind") != "WECHAT_BINDING_ADDED" {
		t.Fatalf("deliveries: %s", d.Raw)
	}
	if r := e.Do(t, e.As(t, "provider1"), deliveriesDoc, map[string]any{"r": rid}); r.Get("resident.notificationDeliveries") != nil {
		t.Fatalf("a provider read deliveries: %s", r.Raw)
	}
	e.MustDo(t, first.access, `mutation{setNotificationOptOut(channel:SMS,optOut:true){ok}}`, nil)
	if r := e.MustDo(t, first.access, `{myNotificationOptOuts}`, nil); r.Str("myNotificationOptOuts.0") != "SMS" {
		t.Fatalf("opt-outs: %s", r.Raw)
	}
	if r := e.MustDo(t, first.access, `mutation{reportSubscribeGrants(input:{accepted:["nope"],rejected:[]}){ok userErrors{code}}}`, nil); r.Str("reportSubscribeGrants.userErrors.0.code") != "INVALID" {
		t.Fatalf("an unknown template was accepted: %s", r.Raw)
	}
}
