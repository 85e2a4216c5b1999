package app_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/creditcode"
	"github.com/jinjiang/residents/internal/testenv"
)

// TestAuditEntriesResolve does every audited action once through the API,
// then reads the log: every action and entity it names is one of the
// audit package's constants, every constant occurs, and every entry's
// entityId resolves through node(id:) to an object of the type its entity
// names, for ADMIN and for AUDITOR.
func TestAuditEntriesResolve(t *testing.T) {
	since := time.Now().Add(-time.Second)
	w, ids, toks := idorWorld(t)
	e := w.e
	admin, clerk, op := toks["admin"], toks["clerk"], toks["operator"]
	sfx := strconv.FormatInt(time.Now().UnixNano(), 36)
	today := civil.DateOf(time.Now())
	// do runs one mutation or query and fails on any error or user error.
	do := func(tok, doc string, vars map[string]any, userErrors string) *testenv.Response {
		t.Helper()
		r := e.MustDo(t, tok, doc, vars)
		if userErrors != "" && r.Get(userErrors+".0") != nil {
			t.Fatalf("%s: %s", userErrors, r.Raw)
		}
		return r
	}

	// Identity: a session refreshed and ended, for a user and a WeChat account; a user deactivated.
	lg := do("", `mutation{login(input:{username:"caseworker2",password:"demo-password"}){refreshToken userErrors{code}}}`, nil, "login.userErrors")
	rt := do("", `mutation($t:String!){refreshSession(refreshToken:$t){accessToken userErrors{code}}}`,
		map[string]any{"t": lg.Str("login.refreshToken")}, "refreshSession.userErrors")
	do(rt.Str("refreshSession.accessToken"), `mutation{logout}`, nil, "")
	do(toks["resident"], `mutation{logout}`, nil, "")
	// A counter unbinds the owner's mini-program account (last use of its token was above).
	do(clerk, `mutation($id:ID!){unbindWechatAccount(input:{accountId:$id,reason:"家属申请解绑"}){account{id} userErrors{code}}}`,
		map[string]any{"id": ids["WechatAccount"]}, "unbindWechatAccount.userErrors")
	// A password changed by its owner and one reset by the administrator (before the deactivation).
	target := e.Login(t, "idor."+w.serial, "long-enough-pw") // the world's own staff user, not a shared demo account
	do(target, `mutation{changePassword(input:{currentPassword:"long-enough-pw",newPassword:"changed-by-its-owner"}){accessToken userErrors{code}}}`, nil, "changePassword.userErrors")
	do(admin, `mutation($id:ID!){resetPassword(input:{userId:$id,newPassword:"reset-by-the-admin"}){userErrors{code}}}`,
		map[string]any{"id": ids["StaffUser"]}, "resetPassword.userErrors")
	do(admin, `mutation($id:ID!){setStaffUserActive(id:$id,active:false){user{active} userErrors{code}}}`,
		map[string]any{"id": ids["StaffUser"]}, "setStaffUserActive.userErrors")

	// Residents: an update, a look-up by ID number and a full-number read.
	do(clerk, `mutation($in:UpdateResidentInput!){updateResident(input:$in){resident{id} userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"id": w.resident, "address": "锦江区和平街2号"}}, "updateResident.userErrors")
	do(admin, `query($n:String!){residentByIdNumber(idNumber:$n){id idNumber}}`, map[string]any{"n": w.idNumber}, "")
	do(admin, `query($q:String!){residents(filter:{q:$q}){edges{node{id}}}}`, map[string]any{"q": w.idNumber}, "")

	// Vouchers: a provider and a program created and changed, a reversal, a settlement.
	pu := "auditprov" + sfx
	prov := do(admin, `mutation($in:RegisterProviderInput!){registerProvider(input:$in){provider{id} userErrors{code field}}}`,
		map[string]any{"in": map[string]any{"name": "审计服务商", "creditCode": creditcode.Generate(int(time.Now().UnixNano() % 100_000_000)),
			"categories": []string{"MEAL"}, "username": pu, "password": "provider-password-1"}}, "registerProvider.userErrors").
		Str("registerProvider.provider.id")
	do(admin, `mutation($p:ID!,$m:String!){confirmSettlement(providerId:$p,month:$m){userErrors{code message}}}`,
		map[string]any{"p": prov, "m": civil.MonthOf(today).AddMonths(-1).String()}, "confirmSettlement.userErrors")
	do(admin, `mutation($id:ID!){setProviderStatus(id:$id,status:SUSPENDED){userErrors{code}}}`, map[string]any{"id": prov}, "setProviderStatus.userErrors")
	prog := do(admin, `mutation($in:CreateVoucherProgramInput!){createVoucherProgram(input:$in){program{id} userErrors{code field message}}}`,
		map[string]any{"in": map[string]any{"code": "AUDIT-" + sfx, "name": "审计测试券", "categories": []string{"MEAL"},
			"rules": []any{map[string]any{"minAge": 100, "amountFen": 1000}}}}, "createVoucherProgram.userErrors").
		Str("createVoucherProgram.program.id")
	do(admin, `mutation($id:ID!){activateVoucherProgram(id:$id){userErrors{code}}}`, map[string]any{"id": prog}, "activateVoucherProgram.userErrors")
	do(toks["provider1"], `mutation($id:ID!){reverseRedemption(input:{redemptionId:$id,reason:"录入错误"}){userErrors{code}}}`,
		map[string]any{"id": w.redemption}, "reverseRedemption.userErrors")
	// (idorWorld issued a period and enrolled in bulk: runs audited at start and end.)
	do(admin, `mutation($p:ID!,$r:ID!){unenrollResident(programId:$p,residentId:$r,reason:"审计测试"){userErrors{code}}}`,
		map[string]any{"p": w.program, "r": w.resident}, "unenrollResident.userErrors")

	// Emergency: a heartbeat, a repeat alarm, and the call answered, dispatched and closed.
	do(toks["telephony"], `mutation($s:String!){recordDeviceHeartbeat(input:{serial:$s,batteryPercent:80}){userErrors{code}}}`,
		map[string]any{"s": w.serial}, "recordDeviceHeartbeat.userErrors")
	do(toks["telephony"], `mutation($x:String!,$s:String){receiveEmergencyCall(input:{externalCallId:$x,deviceSerial:$s,kind:ALARM_BUTTON}){userErrors{code}}}`,
		map[string]any{"x": "audit-" + sfx, "s": w.serial}, "receiveEmergencyCall.userErrors")
	do(op, `mutation($id:ID!){answerEmergencyCall(id:$id){userErrors{code}}}`, map[string]any{"id": w.call}, "answerEmergencyCall.userErrors")
	do(op, `mutation($id:ID!){dispatchEmergencyCall(input:{callId:$id,responder:COMMUNITY_WORKER}){userErrors{code}}}`,
		map[string]any{"id": w.call}, "dispatchEmergencyCall.userErrors")
	do(op, `mutation($id:ID!){closeEmergencyCall(input:{callId:$id,category:FALSE_ALARM,outcome:"误报"}){userErrors{code}}}`,
		map[string]any{"id": w.call}, "closeEmergencyCall.userErrors")

	// Applications: a catalog item, an acceptance, a calendar day.
	do(admin, `mutation($in:ServiceItemInput!){upsertServiceItem(input:$in){userErrors{code field}}}`,
		map[string]any{"in": map[string]any{"code": "AUDIT-" + sfx, "name": "审计测试事项", "timeLimitWorkingDays": 5,
			"materials": []any{map[string]any{"name": "居民身份证", "required": true}}, "districtWide": true}}, "upsertServiceItem.userErrors")
	do(clerk, `mutation($id:ID!){transitionApplication(input:{id:$id,action:ACCEPT}){userErrors{code message}}}`,
		map[string]any{"id": ids["Application"]}, "transitionApplication.userErrors")
	do(admin, `mutation{setCalendarDay(date:"2031-01-04",kind:WORKDAY)}`, nil, "")

	// Disability: a full certificate number read, a service scheduled, a rule added (switched off).
	do(admin, `query($id:ID!){node(id:$id){... on DisabilityCertificate{number}}}`, map[string]any{"id": w.cert}, "")
	do(admin, `mutation($id:ID!,$d:Date){updateDisabilityService(input:{id:$id,status:SCHEDULED,scheduledOn:$d}){userErrors{code message}}}`,
		map[string]any{"id": ids["DisabilityService"], "d": today.AddDays(3).String()}, "updateDisabilityService.userErrors")
	do(admin, `mutation{upsertDisabilitySubsidyRule(input:{code:"AUDIT_TEST",subsidy:LIVING,description:"审计测试规则",active:false}){userErrors{code message}}}`,
		nil, "upsertDisabilitySubsidyRule.userErrors")

	// The log since the test began, newest first.
	type entry struct{ action, entity, entityID string }
	var entries []entry
	for after, more := any(nil), true; more; {
		r := do(toks["auditor"], `query($a:String){auditLog(first:100,after:$a){edges{node{at action entity entityId}} pageInfo{hasNextPage endCursor}}}`,
			map[string]any{"a": after}, "")
		edges, _ := r.Get("auditLog.edges").([]any)
		for i := range edges {
			p := "auditLog.edges." + itoa(i) + ".node."
			at, err := time.Parse(time.RFC3339Nano, r.Str(p+"at"))
			if err != nil {
				t.Fatal(err)
			}
			if at.Before(since) {
				more = false
				break
			}
			entries = append(entries, entry{r.Str(p + "action"), r.Str(p + "entity"), r.Str(p + "entityId")})
		}
		more = more && r.Get("auditLog.pageInfo.hasNextPage") == true
		after = r.Str("auditLog.pageInfo.endCursor")
	}

	seenActions, seenEntities := map[string]bool{}, map[string]bool{}
	resolved := map[string]bool{}
	for _, x := range entries {
		seenActions[x.action], seenEntities[x.entity] = true, true
		if !slices.Contains(audit.Actions, audit.Action(x.action)) {
			t.Errorf("action %q is not an audit.Action constant", x.action)
		}
		if !slices.Contains(audit.Entities, audit.Entity(x.entity)) {
			t.Errorf("entity %q is not an audit.Entity constant", x.entity)
		}
		if x.entity == string(audit.EntityCalendarDay) {
			if x.entityID != "" {
				t.Errorf("%s entry with an entityId", x.entity)
			}
			continue
		}
		if x.entityID == "" || resolved[x.entityID] {
			continue // residentByIdNumber that found nobody; or checked already
		}
		resolved[x.entityID] = true
		for _, who := range []string{"admin", "auditor"} {
			r := e.Do(t, toks[who], `query($id:ID!){node(id:$id){id __typename}}`, map[string]any{"id": x.entityID})
			if r.Str("node.id") != x.entityID || r.Str("node.__typename") != x.entity || len(r.Errors) > 0 {
				t.Errorf("%s: %s entry's entityId does not resolve to a %s: %s", who, x.action, x.entity, r.Raw)
			}
		}
	}
	for _, a := range audit.Actions {
		if !seenActions[string(a)] {
			t.Errorf("no %s entry", a)
		}
	}
	for _, en := range audit.Entities {
		if !seenEntities[string(en)] {
			t.Errorf("no entry about a %s", en)
		}
	}
	if t.Failed() {
		t.Log(fmt.Sprint(len(entries), " entries"))
	}
}

// TestAuditNamesAreSchemaNames: every audit.Action is the name of a field
// of the schema (a query, a mutation, or an object field that is read),
// and every audit.Entity but CalendarDay is a type implementing Node.
func TestAuditNamesAreSchemaNames(t *testing.T) {
	s := projectSchema()
	fields := map[string]bool{}
	for _, def := range s.Types {
		if def.Kind == ast.Object {
			for _, f := range def.Fields {
				fields[f.Name] = true
			}
		}
	}
	for _, a := range audit.Actions {
		if !fields[string(a)] {
			t.Errorf("action %q is no field of the schema", a)
		}
	}
	for _, en := range audit.Entities {
		if en == audit.EntityCalendarDay {
			continue // no Node type; documented in names.go
		}
		def := s.Types[string(en)]
		if def == nil || !slices.Contains(def.Interfaces, "Node") {
			t.Errorf("entity %q is no Node type of the schema", en)
		}
	}
}
