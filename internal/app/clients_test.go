package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/creditcode"
	"github.com/jinjiang/residents/internal/testenv"
)

// clients is buildWorld's resident with a program of their own (30,000 fen
// a month, this month's and next month's vouchers issued), for the three
// clients' screens.
type clients struct {
	*world
	admin, clerk, prov string
	program, today     string
	cats               []any
}

func newClients(t *testing.T) *clients {
	w := buildWorld(t, testenv.WithWechat(testenv.NewFakeWechat(t)))
	c := &clients{world: w, admin: w.e.Admin(t), clerk: w.e.As(t, "clerk"), prov: w.e.As(t, "provider1")}
	c.cats = w.e.MustDo(t, c.prov, `{me{provider{categories}}}`, nil).Get("me.provider.categories").([]any)
	r := w.e.MustDo(t, c.admin, `mutation($in:CreateVoucherProgramInput!){createVoucherProgram(input:$in){program{id} userErrors{code}}}`,
		map[string]any{"in": map[string]any{"code": "CL" + strconv.FormatInt(time.Now().UnixNano()%1e12, 36), "name": "客户端测试券",
			"categories": c.cats, "rules": []any{map[string]any{"amountFen": 30000}}}})
	c.program = r.Str("createVoucherProgram.program.id")
	w.e.MustDo(t, c.admin, `mutation($id:ID!){activateVoucherProgram(id:$id){userErrors{code}}}`, map[string]any{"id": c.program})
	w.e.MustDo(t, c.admin, `mutation($p:ID!,$r:ID!){enrollResident(programId:$p,residentId:$r){userErrors{code}}}`, map[string]any{"p": c.program, "r": w.resident})
	now := civil.DateOf(time.Now())
	c.today = now.String()
	for _, m := range []civil.Month{civil.MonthOf(now), civil.MonthOf(now).AddMonths(1)} {
		r := w.e.MustDo(t, c.admin, `mutation($p:ID!,$m:String!){issueVouchers(input:{programId:$p,period:$m}){issuedCount userErrors{code}}}`,
			map[string]any{"p": c.program, "m": m.String()})
		if r.Get("issueVouchers.issuedCount") != float64(1) {
			t.Fatalf("issue %s: %s", m, r.Raw)
		}
	}
	return c
}

func (c *clients) token(t *testing.T, extra string, vars map[string]any) *testenv.Response {
	t.Helper()
	if vars == nil {
		vars = map[string]any{}
	}
	vars["p"], vars["r"] = c.program, c.resident
	return c.e.MustDo(t, c.clerk, `mutation($p:ID!,$r:ID`+extra+`){createRedemptionToken(programId:$p,residentId:$r`+
		strings.NewReplacer("$v:Int", "validMinutes:$v", "$m:Fen", "maxAmountFen:$m", ",", ",").Replace(extra)+
		`){token expiresAt maxAmountFen userErrors{code field message}}}`, vars)
}

func (c *clients) redeem(t *testing.T, tok string, amount int64, key, note string) *testenv.Response {
	t.Helper()
	return c.e.Do(t, c.prov, `mutation($in:RedeemVoucherInput!){redeemVoucher(input:$in){redemption{id note} remainingBalanceFen userErrors{code field message}}}`,
		map[string]any{"in": map[string]any{"token": tok, "category": c.cats[0], "amountFen": amount, "serviceDate": c.today,
			"idempotencyKey": key, "note": note}})
}

// TestProviderRedemptionsAndSettlements (#24 item 2): a provider lists its
// own redemptions page by page with the note and key it sent, sees each
// one's reversal window, its settlements month by month with their id,
// confirmation time and redemption lines; a retried reversal answers the
// first result; what is left counts only what is spendable today.
func TestProviderRedemptionsAndSettlements(t *testing.T) {
	c := newClients(t)
	sfx := strconv.FormatInt(time.Now().UnixNano(), 36)
	var ids []string
	for i := range 3 {
		r := c.redeem(t, c.token(t, "", nil).Str("createRedemptionToken.token"), 1000, fmt.Sprintf("order-%s-%d", sfx, i), "订单"+strconv.Itoa(i))
		if r.Str("redeemVoucher.redemption.id") == "" {
			t.Fatalf("redeem: %s", r.Raw)
		}
		// 30,000 this month less what was redeemed; next month's 30,000
		// is not spendable today and not in it.
		if got := r.Get("redeemVoucher.remainingBalanceFen"); got != float64(30000-1000*(i+1)) {
			t.Errorf("remaining after redemption %d: %v, want %d", i, got, 30000-1000*(i+1))
		}
		ids = append(ids, r.Str("redeemVoucher.redemption.id"))
	}
	// Page through today's redemptions of the provider, one at a time.
	doc := `query($a:String,$d:Date){me{provider{redemptions(filter:{from:$d,to:$d,status:COMPLETED},first:1,after:$a){
		edges{cursor node{id note idempotencyKey reversibleUntil viewerCanReverse createdAt}} pageInfo{hasNextPage endCursor}}}}}`
	seen := map[string]map[string]any{}
	var order []string
	for after, pages := any(nil), 0; pages < 200; pages++ {
		r := c.e.MustDo(t, c.prov, doc, map[string]any{"a": after, "d": c.today})
		edges := r.Get("me.provider.redemptions.edges").([]any)
		for _, e := range edges {
			n := e.(map[string]any)["node"].(map[string]any)
			if seen[n["id"].(string)] != nil {
				t.Fatalf("redemption %s on two pages", n["id"])
			}
			seen[n["id"].(string)] = n
			order = append(order, n["id"].(string))
		}
		if r.Get("me.provider.redemptions.pageInfo.hasNextPage") != true {
			break
		}
		after = r.Str("me.provider.redemptions.pageInfo.endCursor")
	}
	for i, id := range ids {
		n := seen[id]
		if n == nil {
			t.Fatalf("redemption %d not listed", i)
		}
		if n["note"] != "订单"+strconv.Itoa(i) || n["idempotencyKey"] != fmt.Sprintf("order-%s-%d", sfx, i) || n["viewerCanReverse"] != true {
			t.Errorf("redemption %d: %v", i, n)
		}
		created, _ := time.Parse(time.RFC3339Nano, n["createdAt"].(string))
		until, _ := time.Parse(time.RFC3339Nano, n["reversibleUntil"].(string))
		if until.Sub(created) != 7*24*time.Hour {
			t.Errorf("reversibleUntil %v for createdAt %v", until, created)
		}
	}
	// Newest first: the three in reverse order of making.
	pos := map[string]int{}
	for i, id := range order {
		pos[id] = i
	}
	if !(pos[ids[2]] < pos[ids[1]] && pos[ids[1]] < pos[ids[0]]) {
		t.Errorf("not newest first: %v", order)
	}
	// Another viewer: the clerk may not list the provider's redemptions, nor
	// read its idempotency keys.
	pid := c.e.MustDo(t, c.prov, `{me{provider{id}}}`, nil).Str("me.provider.id")
	r := c.e.Do(t, c.clerk, `query($id:ID!){node(id:$id){... on Provider{redemptions(first:1){edges{node{id}}}}}}`, map[string]any{"id": pid})
	if r.ErrorCode() != "FORBIDDEN" {
		t.Errorf("clerk listing a provider's redemptions: %s", r.Raw)
	}
	r = c.e.MustDo(t, c.clerk, `query($id:ID!){node(id:$id){... on Redemption{idempotencyKey viewerCanReverse}}}`, map[string]any{"id": ids[0]})
	if r.Get("node.idempotencyKey") != nil || r.Get("node.viewerCanReverse") != false {
		t.Errorf("clerk reads a provider's key or may reverse: %s", r.Raw)
	}

	// Reversal: what is left is spendable today (next month's not in it);
	// a retry answers the first result and writes nothing more.
	rev := `mutation($id:ID!,$why:String!){reverseRedemption(input:{redemptionId:$id,reason:$why}){redemption{status reversedAt viewerCanReverse reversibleUntil} remainingBalanceFen userErrors{code field}}}`
	first := c.e.MustDo(t, c.prov, rev, map[string]any{"id": ids[2], "why": "重复下单"})
	if first.Get("reverseRedemption.remainingBalanceFen") != float64(28000) || first.Str("reverseRedemption.redemption.status") != "REVERSED" ||
		first.Get("reverseRedemption.redemption.viewerCanReverse") != false || first.Get("reverseRedemption.redemption.reversibleUntil") != nil {
		t.Fatalf("reverse: %s", first.Raw)
	}
	audits := func() int64 {
		var n int64
		c.e.DB.Raw("SELECT count(*) FROM audit_log WHERE action = 'reverseRedemption' AND request_id IS NOT NULL AND detail IS NULL AND entity_id = (SELECT id FROM redemptions WHERE status = 'REVERSED' AND reverse_reason = '重复下单' ORDER BY reversed_at DESC LIMIT 1)").Row().Scan(&n)
		return n
	}
	before := audits()
	again := c.e.MustDo(t, c.prov, rev, map[string]any{"id": ids[2], "why": "重复下单"})
	if string(again.Raw) != string(first.Raw) {
		t.Errorf("retried reversal answered %s, first %s", again.Raw, first.Raw)
	}
	if audits() != before || before != 1 {
		t.Errorf("reversal audited %d times, then %d", before, audits())
	}
	other := c.e.MustDo(t, c.prov, rev, map[string]any{"id": ids[2], "why": "另一个原因"})
	if other.Str("reverseRedemption.userErrors.0.code") != "INVALID_TRANSITION" {
		t.Errorf("another reason on a reversed redemption: %s", other.Raw)
	}
	w := c.e.MustDo(t, c.admin, `query($id:ID!){node(id:$id){... on Resident{voucherBalanceFen voucherWallets{program{id} spendableFen notYetValidFen expiringThisMonthFen nextExpiry}}}}`,
		map[string]any{"id": c.resident})
	month := civil.MonthOf(civil.DateOf(time.Now()))
	var wallet map[string]any
	for _, x := range w.Get("node.voucherWallets").([]any) {
		if x.(map[string]any)["program"].(map[string]any)["id"] == c.program {
			wallet = x.(map[string]any)
		}
	}
	if wallet == nil || wallet["spendableFen"] != float64(28000) || wallet["notYetValidFen"] != float64(30000) ||
		wallet["expiringThisMonthFen"] != float64(28000) || wallet["nextExpiry"] != month.Last().String() {
		t.Errorf("wallet: %v (%s)", wallet, w.Raw)
	}

	// A provider of its own confirms nothing yet; ADMIN confirms its month:
	// the settlement has an id, its confirmation time and its lines.
	n := time.Now().UnixNano()
	reg := c.e.MustDo(t, c.admin, `mutation($in:RegisterProviderInput!){registerProvider(input:$in){provider{id} userErrors{code}}}`,
		map[string]any{"in": map[string]any{"name": "结算测试服务商", "creditCode": creditcode.Generate(int(n % 100_000_000)), "categories": c.cats,
			"username": fmt.Sprintf("cl%d", n%1e9), "password": "provider-password-1"}})
	p2 := reg.Str("registerProvider.provider.id")
	p2tok := c.e.Login(t, fmt.Sprintf("cl%d", n%1e9), "provider-password-1")
	saved := c.prov
	c.prov = p2tok
	red := c.redeem(t, c.token(t, "", nil).Str("createRedemptionToken.token"), 2500, "settle-"+sfx, "")
	c.prov = saved
	rid := red.Str("redeemVoucher.redemption.id")
	if rid == "" {
		t.Fatalf("redeem with the second provider: %s", red.Raw)
	}
	m := month.String()
	c.e.MustDo(t, c.admin, `mutation($p:ID!,$m:String!){confirmSettlement(providerId:$p,month:$m){settlement{status} userErrors{code}}}`, map[string]any{"p": p2, "m": m})
	st := c.e.MustDo(t, p2tok, `query($f:String!,$t:String!){me{provider{settlements(from:$f,to:$t){id month status confirmedAt totalFen
		redemptions(first:5){edges{node{id amountFen}}}}}}}`, map[string]any{"f": month.AddMonths(-1).String(), "t": m})
	sts := st.Get("me.provider.settlements").([]any)
	if len(sts) != 2 {
		t.Fatalf("settlements: %s", st.Raw)
	}
	prev, cur := sts[0].(map[string]any), sts[1].(map[string]any)
	if prev["status"] != "OPEN" || prev["confirmedAt"] != nil || cur["status"] != "CONFIRMED" || cur["confirmedAt"] == nil ||
		cur["totalFen"] != float64(2500) || cur["id"] == prev["id"] || cur["id"] == "" {
		t.Errorf("settlements: %s", st.Raw)
	}
	lines := cur["redemptions"].(map[string]any)["edges"].([]any)
	if len(lines) != 1 || lines[0].(map[string]any)["node"].(map[string]any)["id"] != rid {
		t.Errorf("settlement lines: %v", lines)
	}
	r = c.e.MustDo(t, p2tok, `query($id:ID!){node(id:$id){... on Redemption{viewerCanReverse}}}`, map[string]any{"id": rid})
	if r.Get("node.viewerCanReverse") != false {
		t.Errorf("a redemption of a settled month may be reversed: %s", r.Raw)
	}
	r = c.e.Do(t, p2tok, `query($f:String!,$t:String!){me{provider{settlements(from:$f,to:$t){id}}}}`, map[string]any{"f": "2020-01", "t": m})
	if r.ErrorCode() != "BAD_USER_INPUT" {
		t.Errorf("more than 36 months: %s", r.Raw)
	}
}

// TestRedemptionTokens (#24 item 6): the provider previews a token before
// charging; a token may last hours and carry a maximum, enforced at
// redemption; the resident's phone hears that its token was used.
func TestRedemptionTokens(t *testing.T) {
	c := newClients(t)
	tr := c.token(t, ",$v:Int,$m:Fen", map[string]any{"v": 240, "m": 500})
	tok := tr.Str("createRedemptionToken.token")
	exp, _ := time.Parse(time.RFC3339, tr.Str("createRedemptionToken.expiresAt"))
	if tok == "" || exp.Sub(time.Now()) < 239*time.Minute || exp.Sub(time.Now()) > 241*time.Minute || tr.Get("createRedemptionToken.maxAmountFen") != float64(500) {
		t.Fatalf("a four-hour token with a maximum: %s", tr.Raw)
	}
	bad := c.token(t, ",$v:Int", map[string]any{"v": 100000})
	if bad.Str("createRedemptionToken.userErrors.0.code") != "INVALID" || bad.Str("createRedemptionToken.userErrors.0.field.0") != "validMinutes" {
		t.Errorf("a token for 100,000 minutes: %s", bad.Raw)
	}

	masked := c.e.MustDo(t, c.admin, `query($id:ID!){node(id:$id){... on Resident{idNumberMasked}}}`, map[string]any{"id": c.resident}).Str("node.idNumberMasked")
	pv := c.e.MustDo(t, c.prov, `query($t:String!){redemptionTokenPreview(token:$t){residentName residentIdNumberMasked program{id}
		spendableFen allowedCategories expiresAt maxAmountFen}}`, map[string]any{"t": tok})
	if pv.Str("redemptionTokenPreview.residentName") != "张大爷" || pv.Str("redemptionTokenPreview.residentIdNumberMasked") != masked ||
		pv.Str("redemptionTokenPreview.program.id") != c.program || pv.Get("redemptionTokenPreview.spendableFen") != float64(30000) ||
		pv.Get("redemptionTokenPreview.maxAmountFen") != float64(500) || len(pv.Get("redemptionTokenPreview.allowedCategories").([]any)) != len(c.cats) {
		t.Errorf("preview: %s", pv.Raw)
	}
	if strings.Contains(string(pv.Raw), c.idNumber) {
		t.Errorf("the preview shows the full ID number")
	}
	if r := c.e.Do(t, c.clerk, `query($t:String!){redemptionTokenPreview(token:$t){residentName}}`, map[string]any{"t": tok}); r.ErrorCode() != "FORBIDDEN" {
		t.Errorf("a clerk previews a token: %s", r.Raw)
	}
	over := c.redeem(t, tok, 600, "max-"+tok[:8], "")
	if over.Str("redeemVoucher.userErrors.0.code") != "INVALID" || over.Str("redeemVoucher.userErrors.0.field.1") != "amountFen" {
		t.Errorf("600 fen on a 500 fen token: %s", over.Raw)
	}
	if ok := c.redeem(t, tok, 500, "max2-"+tok[:8], ""); ok.Str("redeemVoucher.redemption.id") == "" {
		t.Errorf("500 fen on a 500 fen token: %s", ok.Raw)
	}
	if r := c.e.Do(t, c.prov, `query($t:String!){redemptionTokenPreview(token:$t){residentName}}`, map[string]any{"t": tok}); r.ErrorCode() != "TOKEN_USED" && r.ErrorCode() != "BAD_USER_INPUT" {
		t.Errorf("preview of a used token: %s", r.Raw)
	}

	// The resident's own phone: it makes a token and follows it.
	phone := bindWechat(t, c.e, "clients-"+strconv.FormatInt(time.Now().UnixNano(), 36), "张大爷", c.idNumber, "13800001111")
	own := c.e.MustDo(t, phone, `mutation($p:ID!){createRedemptionToken(programId:$p){token userErrors{code}}}`, map[string]any{"p": c.program}).Str("createRedemptionToken.token")
	ws := openWS(t, c.e, phone)
	wsSubscribe(t, ws, "used", `subscription($t:String!){redemptionTokenUsed(token:$t){id amountFen provider{name}}}`, map[string]any{"t": own})
	time.Sleep(300 * time.Millisecond)
	red := c.redeem(t, own, 700, "ws-"+own[:8], "")
	got := wsAnswer(t, ws)
	if got.Str("redemptionTokenUsed.id") != red.Str("redeemVoucher.redemption.id") || got.Get("redemptionTokenUsed.amountFen") != float64(700) {
		t.Errorf("the phone heard %s (redemption %s)", got.Raw, red.Raw)
	}
	// Someone else's token is not followed.
	other := c.token(t, "", nil).Str("createRedemptionToken.token")
	ws2 := openWS(t, c.e, c.e.As(t, "provider1"))
	wsSubscribe(t, ws2, "x", `subscription($t:String!){redemptionTokenUsed(token:$t){id}}`, map[string]any{"t": other})
	if r := wsAnswer(t, ws2); len(r.Errors) == 0 {
		t.Errorf("a provider follows a resident's token: %s", r.Raw)
	}
}

// TestResidentSearchAndPermissions (#24 items 5, 8, 10): one search box
// (name, phone, ID number; the look-ups audited), DUPLICATE with the
// existing record, viewerCan from the policy, wechatLogin's viewer with
// its resident, the certificate number masked for phones.
func TestResidentSearchAndPermissions(t *testing.T) {
	w := buildWorld(t, testenv.WithWechat(testenv.NewFakeWechat(t)))
	clerk, admin, op := w.e.As(t, "clerk"), w.e.Admin(t), w.e.As(t, "operator")
	has := func(r *testenv.Response, path string) bool {
		for _, e := range r.Get(path).([]any) {
			if e.(map[string]any)["node"].(map[string]any)["id"] == w.resident {
				return true
			}
		}
		return false
	}
	list := `query($f:ResidentFilter){residents(filter:$f,first:100){edges{node{id}}}}`
	lookups := func() (n int64) {
		w.e.DB.Raw("SELECT count(*) FROM audit_log WHERE action = 'residents'").Row().Scan(&n)
		return n
	}
	before := lookups()
	for _, f := range []map[string]any{{"phone": "138 0000 1111"}, {"q": "+86 13800001111"}, {"q": w.idNumber}, {"q": "张大爷"}, {"q": "zdy"}} {
		r := w.e.MustDo(t, clerk, list, map[string]any{"f": f})
		if !has(r, "residents.edges") {
			t.Errorf("%v does not find the resident: %s", f, r.Raw)
		}
	}
	r := w.e.MustDo(t, clerk, list, map[string]any{"f": map[string]any{"q": w.idNumber}})
	if n := len(r.Get("residents.edges").([]any)); n != 1 {
		t.Errorf("an ID number finds %d residents", n)
	}
	if got := lookups() - before; got != 4 { // phone, q phone, q ID number twice; names are not look-ups
		t.Errorf("%d look-ups audited, want 4", got)
	}
	if r := w.e.Do(t, w.e.As(t, "provider1"), list, map[string]any{"f": map[string]any{"phone": "13800001111"}}); r.ErrorCode() != "FORBIDDEN" {
		t.Errorf("a provider looks residents up by phone: %s", r.Raw)
	}
	if r := w.e.Do(t, clerk, list, map[string]any{"f": map[string]any{"phone": "12"}}); r.ErrorCode() != "BAD_USER_INPUT" {
		t.Errorf("a phone that is none: %s", r.Raw)
	}
	community := w.e.MustDo(t, admin, `{orgUnits(kind:COMMUNITY){id}}`, nil).Str("orgUnits.0.id")
	if r := w.e.Do(t, admin, `mutation($p:ID!,$f:ResidentFilter!){enrollResidents(programId:$p,filter:$f){userErrors{code}}}`,
		map[string]any{"p": w.program, "f": map[string]any{"phone": "13800001111", "orgUnitId": community}}); r.ErrorCode() != "BAD_USER_INPUT" {
		t.Errorf("a bulk enrollment by phone: %s", r.Raw)
	}

	dup := w.e.MustDo(t, clerk, `mutation($in:RegisterResidentInput!){registerResident(input:$in){resident{id} existingResidentId userErrors{code field}}}`,
		map[string]any{"in": map[string]any{"name": "张大爷", "idNumber": w.idNumber, "communityId": community}})
	if dup.Str("registerResident.userErrors.0.code") != "DUPLICATE" || dup.Str("registerResident.existingResidentId") != w.resident {
		t.Errorf("DUPLICATE without the existing resident: %s", dup.Raw)
	}

	can := `query($id:ID!){node(id:$id){... on Resident{viewerCan{update enroll createToken readIdNumber readEmergencyCalls readApplications}}}}`
	want := map[string]map[string]bool{
		"admin":    {"update": true, "enroll": true, "createToken": false, "readIdNumber": true, "readEmergencyCalls": true, "readApplications": true},
		"operator": {"update": false, "enroll": false, "createToken": false, "readIdNumber": false, "readEmergencyCalls": true, "readApplications": false},
		"clerk":    {"update": true, "enroll": false, "createToken": true, "readIdNumber": true, "readEmergencyCalls": false, "readApplications": true},
	}
	for who, tok := range map[string]string{"admin": admin, "operator": op, "clerk": clerk} {
		r := w.e.MustDo(t, tok, can, map[string]any{"id": w.resident})
		for k, v := range want[who] {
			if r.Get("node.viewerCan."+k) != v {
				t.Errorf("%s viewerCan.%s = %v, want %v", who, k, r.Get("node.viewerCan."+k), v)
			}
		}
	}

	// The resident's phone: wechatLogin's payload reads viewer.resident,
	// the certificate number comes masked.
	openid := "cl-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	bindWechat(t, w.e, openid, "张大爷", w.idNumber, "13800001111")
	login := w.e.Do(t, "", `mutation($c:String!){wechatLogin(input:{code:$c}){viewer{id resident{id name}} userErrors{code}}}`, map[string]any{"c": "ok:" + openid + ":again"})
	if len(login.Errors) > 0 || login.Str("wechatLogin.viewer.resident.id") != w.resident {
		t.Errorf("wechatLogin's viewer.resident: %s", login.Raw)
	}
	phone := w.e.WechatLogin(t, "ok:"+openid+":third")
	cert := w.e.MustDo(t, phone, `{me{resident{disabilityCertificate{numberMasked} viewerCan{update readIdNumber createToken}}}}`, nil)
	nm := cert.Str("me.resident.disabilityCertificate.numberMasked")
	if nm == "" || strings.Contains(nm, w.idNumber[6:14]) || !strings.Contains(nm, "*") {
		t.Errorf("numberMasked %q", nm)
	}
	if cert.Get("me.resident.viewerCan.update") != false || cert.Get("me.resident.viewerCan.readIdNumber") != true || cert.Get("me.resident.viewerCan.createToken") != true {
		t.Errorf("the resident's own viewerCan: %s", cert.Raw)
	}
}

// TestRefusalsAndLanguage (#24 items 9, 10; #22 item 7): a wrong role on a
// mutation is a FORBIDDEN user error in the payload as well as the GraphQL
// error; messages are Chinese unless the request asks for English; DRAFT
// programs are hidden from residents; the standard introspection query and
// GET /schema.graphql work in development.
func TestRefusalsAndLanguage(t *testing.T) {
	w := buildWorld(t, testenv.WithWechat(testenv.NewFakeWechat(t)))
	prov := w.e.As(t, "provider1")
	doc := `mutation{createVoucherProgram(input:{code:"NOPE",name:"不行",categories:[MEAL],rules:[{amountFen:1}]}){program{id} userErrors{code field message}}}`
	r := w.e.Do(t, prov, doc, nil)
	if r.Str("createVoucherProgram.userErrors.0.code") != "FORBIDDEN" || r.ErrorCode() != "FORBIDDEN" || !hasHan(r.Str("createVoucherProgram.userErrors.0.message")) {
		t.Errorf("a provider creating a program: %s", r.Raw)
	}
	en := send(t, w.e, prov, "en-US,en;q=0.9", doc)
	if en.Str("createVoucherProgram.userErrors.0.message") != "your role does not allow this" || en.Errors[0].Message != "your role does not allow this" {
		t.Errorf("in English: %s", en.Raw)
	}
	bad := `mutation{redeemVoucher(input:{token:"nope",category:MEAL,amountFen:-1,serviceDate:"2020-01-01",idempotencyKey:"k"}){userErrors{code field message}}}`
	zh := send(t, w.e, prov, "", bad)
	if zh.Str("redeemVoucher.userErrors.0.message") != "金额须大于零" || zh.Str("redeemVoucher.userErrors.0.field.0") != "input" {
		t.Errorf("by default: %s", zh.Raw)
	}
	if r := send(t, w.e, prov, "en", bad); r.Str("redeemVoucher.userErrors.0.message") != "amount must be positive" {
		t.Errorf("in English: %s", r.Raw)
	}
	if r := send(t, w.e, "", "", `{me{id}}`); len(r.Errors) == 0 || r.Errors[0].Message != "请先登录" {
		t.Errorf("unauthenticated, in Chinese: %s", r.Raw)
	}

	// A DRAFT program: the administrator sees it, a resident does not.
	admin := w.e.Admin(t)
	code := "DRAFT" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	d := w.e.MustDo(t, admin, `mutation($c:String!){createVoucherProgram(input:{code:$c,name:"草稿券",categories:[MEAL],rules:[{amountFen:100}]}){program{id status}}}`,
		map[string]any{"c": code})
	draft := d.Str("createVoucherProgram.program.id")
	phone := bindWechat(t, w.e, "draft-"+code, "张大爷", w.idNumber, "13800001111")
	for who, tok := range map[string]string{"admin": admin, "resident": phone} {
		body := string(w.e.MustDo(t, tok, `{voucherPrograms{id}}`, nil).Raw)
		if strings.Contains(body, draft) != (who == "admin") {
			t.Errorf("%s's voucherPrograms: %s", who, body)
		}
	}
	if r := w.e.MustDo(t, phone, `query($id:ID!){node(id:$id){id}}`, map[string]any{"id": draft}); r.Get("node") != nil {
		t.Errorf("a resident reads a DRAFT program: %s", r.Raw)
	}

	intro := w.e.Do(t, "", introspectionQuery, nil)
	if len(intro.Errors) > 0 || intro.Get("__schema.queryType.name") != "Query" {
		t.Errorf("the standard introspection query: %.300s", intro.Raw)
	}
	resp, err := http.Get(w.e.Server.URL + "/schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	sdl, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(sdl), "redemptionTokenPreview") || !strings.Contains(string(sdl), "type Query") {
		t.Errorf("GET /schema.graphql: %d %.200s", resp.StatusCode, sdl)
	}
}

// send posts a document with an Accept-Language header.
func send(t *testing.T, e *testenv.Env, tok, lang, doc string) *testenv.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": doc})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, e.Server.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	return e.Send(t, req)
}

// introspectionQuery is graphql-js's getIntrospectionQuery() (depth 15 in
// TypeRef's ofType chain), as codegen tools and GraphiQL send it.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`
