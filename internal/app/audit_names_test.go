package app_test

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/creditcode"
	"github.com/jinjiang/residents/internal/idnumber"
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
	// The alarm center's call-back, contact attempts, care profile and response (issue #21).
	do(op, `mutation($id:ID!){requestOutboundCall(input:{callId:$id,target:RESIDENT}){userErrors{code}}}`,
		map[string]any{"id": w.call}, "requestOutboundCall.userErrors")
	do(op, `mutation($id:ID!){revealContactNumber(input:{callId:$id,target:RESIDENT,reason:"系统回拨失败"}){number userErrors{code}}}`,
		map[string]any{"id": w.call}, "revealContactNumber.userErrors")
	do(op, `mutation($id:ID!){recordContactAttempt(input:{callId:$id,whom:"张二 (儿子)",outcome:NO_ANSWER}){userErrors{code}}}`,
		map[string]any{"id": w.call}, "recordContactAttempt.userErrors")
	do(toks["caseworker"], `mutation($r:ID!){setCareProfile(input:{residentId:$r,version:0,allergies:"青霉素"}){userErrors{code}}}`,
		map[string]any{"r": w.resident}, "setCareProfile.userErrors")
	do(op, `query($r:ID!){resident(id:$r){careProfile{version}}}`, map[string]any{"r": w.resident}, "")
	disp := do(op, `mutation($id:ID!){dispatchEmergencyCall(input:{callId:$id,responder:COMMUNITY_WORKER}){call{dispatches{id}} userErrors{code}}}`,
		map[string]any{"id": w.call}, "dispatchEmergencyCall.userErrors")
	do(op, `mutation($d:ID!){recordResponderArrival(input:{dispatchId:$d}){userErrors{code}}}`,
		map[string]any{"d": disp.Str("dispatchEmergencyCall.call.dispatches.0.id")}, "recordResponderArrival.userErrors")
	do(toks["telephony"], `mutation($x:String!){receiveEmergencyCall(input:{externalCallId:$x,kind:VOICE_CALL}){userErrors{code}}}`,
		map[string]any{"x": "audit-answered-" + sfx}, "receiveEmergencyCall.userErrors")
	do(toks["telephony"], `mutation($x:String!,$a:Time!){reportEmergencyCallAnswered(input:{externalCallId:$x,answeredAt:$a}){userErrors{code}}}`,
		map[string]any{"x": "audit-answered-" + sfx, "a": time.Now().Format(time.RFC3339)}, "reportEmergencyCallAnswered.userErrors")
	// Welfare calls: an interval, two missed checks (an escalation), its resolution.
	do(toks["caseworker"], `mutation($r:ID!){setWelfareCheckInterval(residentId:$r,intervalDays:14){userErrors{code}}}`,
		map[string]any{"r": w.resident}, "setWelfareCheckInterval.userErrors")
	for range 2 {
		do(op, `mutation($r:ID!){recordWelfareCheck(residentId:$r,outcome:NO_ANSWER){userErrors{code}}}`,
			map[string]any{"r": w.resident}, "recordWelfareCheck.userErrors")
	}
	esc := do(toks["caseworker"], `{welfareEscalations(first:1){edges{node{id}}}}`, nil, "").Str("welfareEscalations.edges.0.node.id")
	do(toks["caseworker"], `mutation($id:ID!){resolveWelfareEscalation(id:$id,resolution:"已上门"){userErrors{code}}}`,
		map[string]any{"id": esc}, "resolveWelfareEscalation.userErrors")
	do(op, `mutation($id:ID!){closeEmergencyCall(input:{callId:$id,category:FALSE_ALARM,outcome:"误报"}){userErrors{code}}}`,
		map[string]any{"id": w.call}, "closeEmergencyCall.userErrors")

	// Applications: a catalog item, an acceptance, a calendar day.
	do(admin, `mutation($in:ServiceItemInput!){upsertServiceItem(input:$in){userErrors{code field}}}`,
		map[string]any{"in": map[string]any{"code": "AUDIT-" + sfx, "name": "审计测试事项", "timeLimitWorkingDays": 5,
			"materials": []any{map[string]any{"name": "居民身份证", "required": true}}, "districtWide": true}}, "upsertServiceItem.userErrors")
	do(clerk, `mutation($id:ID!){transitionApplication(input:{id:$id,action:ACCEPT}){userErrors{code message}}}`,
		map[string]any{"id": ids["Application"]}, "transitionApplication.userErrors")
	do(admin, `mutation{setCalendarDay(date:"2031-01-04",kind:WORKDAY)}`, nil, "")
	do(admin, `mutation{importCalendarYear(year:2032,days:[{date:"2032-01-01",kind:HOLIDAY}]){userErrors{code field}}}`, nil,
		"importCalendarYear.userErrors")
	// A written notice of the accepted application, downloaded (needs the notice font).
	fontMissing := false
	if _, err := os.Stat(config.DefaultNoticeFont); err != nil {
		fontMissing = true
		t.Logf("notice font %s absent (Debian fonts-droid-fallback): the notices download is not exercised", config.DefaultNoticeFont)
	} else {
		req, _ := http.NewRequest(http.MethodGet, e.Server.URL+"/applications/"+ids["Application"]+"/notices/acceptance.pdf", nil)
		req.Header.Set("Authorization", "Bearer "+clerk)
		resp, err := e.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("acceptance notice: %d", resp.StatusCode)
		}
	}

	// A resident import committed (the upload, the resident it registered, the run's end).
	if status, body := upload(t, e, admin, "audit.csv", csvOf([][]string{importHeader,
		{"审计导入", newIDNumber(idnumber.Female), "", "", "", "", "和平街社区", "", "", ""}}), false); status != http.StatusAccepted {
		t.Fatalf("import: %d %v", status, body)
	} else {
		awaitImport(t, e, admin, body["import"].(map[string]any)["id"].(string))
	}

	// Disability: a full certificate number read, a service scheduled, a rule added (switched off).
	do(admin, `query($id:ID!){node(id:$id){... on DisabilityCertificate{number}}}`, map[string]any{"id": w.cert}, "")
	do(admin, `mutation($id:ID!,$d:Date){updateDisabilityService(input:{id:$id,status:SCHEDULED,scheduledOn:$d}){userErrors{code message}}}`,
		map[string]any{"id": ids["DisabilityService"], "d": today.AddDays(3).String()}, "updateDisabilityService.userErrors")
	do(admin, `mutation{upsertDisabilitySubsidyRule(input:{code:"AUDIT_TEST",subsidy:LIVING,description:"审计测试规则",active:false}){userErrors{code message}}}`,
		nil, "upsertDisabilitySubsidyRule.userErrors")

	// Home-care visits: every action once.
	careAuditTour(t, e)
	// Families: a binding code issued and used, a proxy invited, accepted and revoked, subscriptions and an opt-out.
	code := do(clerk, `mutation($r:ID!){issueBindingCode(residentId:$r){code userErrors{code}}}`,
		map[string]any{"r": w.resident}, "issueBindingCode.userErrors").Str("issueBindingCode.code")
	elder := newWechatUser(t, e).access
	do(elder, `mutation($c:String!){bindResidentWithCode(code:$c){resident{id} userErrors{code}}}`,
		map[string]any{"c": code}, "bindResidentWithCode.userErrors")
	inv := do(elder, `mutation{createProxyInvitation(input:{relation:CHILD,scopes:[VIEW]}){code userErrors{code}}}`,
		nil, "createProxyInvitation.userErrors").Str("createProxyInvitation.code")
	link := do(newWechatUser(t, e).access, `mutation($c:String!){acceptProxyInvitation(code:$c){proxy{id} userErrors{code}}}`,
		map[string]any{"c": inv}, "acceptProxyInvitation.userErrors").Str("acceptProxyInvitation.proxy.id")
	do(elder, `mutation($id:ID!){revokeProxy(id:$id){userErrors{code}}}`, map[string]any{"id": link}, "revokeProxy.userErrors")
	do(elder, `mutation{reportSubscribeGrants(input:{accepted:[],rejected:[]}){userErrors{code}}}`, nil, "reportSubscribeGrants.userErrors")
	do(elder, `mutation{setNotificationOptOut(channel:WECHAT,optOut:true){userErrors{code}}}`, nil, "setNotificationOptOut.userErrors")
	// Life events: a death recorded and undone, a move out.
	dead, moved := e.InsertResident(t, testenv.ResidentSpec{}), e.InsertResident(t, testenv.ResidentSpec{})
	deadID, movedID := relay.ID("Resident", dead.ID), relay.ID("Resident", moved.ID)
	do(admin, `mutation($in:RecordDeathInput!){recordDeath(input:$in){userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"residentId": deadID, "date": today.String(), "source": "审计测试"}}, "recordDeath.userErrors")
	do(admin, `mutation($in:UndoDeathInput!){undoDeath(input:$in){userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"residentId": deadID, "reason": "审计测试误报"}}, "undoDeath.userErrors")
	do(admin, `mutation($in:RecordMoveOutInput!){recordMoveOut(input:$in){userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"residentId": movedID, "date": today.String(), "destination": "成都市武侯区"}}, "recordMoveOut.userErrors")
	// Households and checked changes: created, a member added and removed, the head changed; change
	// requests made (clerk) and approved, rejected (admin) or withdrawn.
	h1, h2 := e.InsertResident(t, testenv.ResidentSpec{}), e.InsertResident(t, testenv.ResidentSpec{})
	hid := do(clerk, `mutation($h:ID!){createHousehold(input:{address:"审计测试地址",headId:$h}){household{id} userErrors{code}}}`,
		map[string]any{"h": relay.ID("Resident", h1.ID)}, "createHousehold.userErrors").Str("createHousehold.household.id")
	do(clerk, `mutation($h:ID!,$r:ID!){addHouseholdMember(input:{householdId:$h,residentId:$r,relation:SPOUSE}){userErrors{code}}}`,
		map[string]any{"h": hid, "r": relay.ID("Resident", h2.ID)}, "addHouseholdMember.userErrors")
	do(clerk, `mutation($h:ID!,$r:ID!){changeHouseholdHead(input:{householdId:$h,headId:$r,formerHeadRelation:SPOUSE}){userErrors{code}}}`,
		map[string]any{"h": hid, "r": relay.ID("Resident", h2.ID)}, "changeHouseholdHead.userErrors")
	do(clerk, `mutation($h:ID!,$r:ID!){removeHouseholdMember(input:{householdId:$h,residentId:$r}){userErrors{code}}}`,
		map[string]any{"h": hid, "r": relay.ID("Resident", h1.ID)}, "removeHouseholdMember.userErrors")
	change := func() string {
		return do(clerk, `mutation($h:ID!,$d:Date!){requestFactChange(input:{kind:HOUSEHOLD_STATUS,householdId:$h,status:LOW_INCOME,statusAction:GRANT,effectiveOn:$d,evidence:{documentType:"低保证",documentNumber:"A-1"}}){request{id} userErrors{code}}}`,
			map[string]any{"h": hid, "d": today.String()}, "requestFactChange.userErrors").Str("requestFactChange.request.id")
	}
	do(clerk, `mutation($id:ID!){withdrawFactChange(id:$id){userErrors{code}}}`, map[string]any{"id": change()}, "withdrawFactChange.userErrors")
	do(admin, `mutation($id:ID!){rejectFactChange(input:{id:$id,reason:"材料不全"}){userErrors{code}}}`, map[string]any{"id": change()}, "rejectFactChange.userErrors")
	do(admin, `mutation($id:ID!){approveFactChange(id:$id){userErrors{code}}}`, map[string]any{"id": change()}, "approveFactChange.userErrors")

	// The org tree: a community and a grid added, renamed, a resident moved
	// in, the grid moved away, the emptied community retired.
	street := e.MustDo(t, admin, `{orgUnits(kind:STREET){id code}}`, nil)
	var street020, commOther string
	for i := range street.Get("orgUnits").([]any) {
		if street.Str("orgUnits."+itoa(i)+".code") == "510104020" {
			street020 = street.Str("orgUnits." + itoa(i) + ".id")
		}
	}
	commOther = e.MustDo(t, admin, `{orgUnits(kind:COMMUNITY){id code}}`, nil).Str("orgUnits.0.id")
	commNew := do(admin, `mutation($p:ID!,$c:String!){createOrgUnit(input:{parentId:$p,code:$c,name:"审计社区"}){orgUnit{id} userErrors{code}}}`,
		map[string]any{"p": street020, "c": "A" + sfx}, "createOrgUnit.userErrors").Str("createOrgUnit.orgUnit.id")
	gridNew := do(admin, `mutation($p:ID!,$c:String!){createOrgUnit(input:{parentId:$p,code:$c,name:"审计网格"}){orgUnit{id} userErrors{code}}}`,
		map[string]any{"p": commNew, "c": "G" + sfx}, "createOrgUnit.userErrors").Str("createOrgUnit.orgUnit.id")
	do(admin, `mutation($id:ID!){renameOrgUnit(id:$id,name:"审计社区二"){userErrors{code}}}`, map[string]any{"id": commNew}, "renameOrgUnit.userErrors")
	mover := e.InsertResident(t, testenv.ResidentSpec{})
	do(admin, `mutation($r:[ID!]!,$g:ID!){moveResidents(input:{residentIds:$r,gridId:$g}){userErrors{code}}}`,
		map[string]any{"r": []string{relay.ID("Resident", mover.ID)}, "g": gridNew}, "moveResidents.userErrors")
	do(admin, `mutation($id:ID!,$p:ID!){moveOrgUnit(input:{id:$id,newParentId:$p}){userErrors{code}}}`,
		map[string]any{"id": gridNew, "p": commOther}, "moveOrgUnit.userErrors")
	do(admin, `mutation($id:ID!){retireOrgUnit(id:$id){userErrors{code}}}`, map[string]any{"id": commNew}, "retireOrgUnit.userErrors")
	// Duplicates: two pairs found; one dismissed, one merged. An export.
	born := time.Date(1942, 2, 2, 0, 0, 0, 0, time.UTC)
	var pair []string
	for i, name := range []string{"审计重复甲", "审计重复甲", "审计重复乙", "审计重复乙"} {
		r := e.InsertResident(t, testenv.ResidentSpec{Name: name + sfx, BirthDate: born, IDNumber: idnumber.Generate("510104", born, 700+i*2, idnumber.Male)})
		pair = append(pair, relay.ID("Resident", r.ID))
	}
	rep := do(admin, `mutation{findDuplicates{report{id} userErrors{code}}}`, nil, "findDuplicates.userErrors").Str("findDuplicates.report.id")
	for i := 0; i < 200 && do(admin, `query($id:ID!){duplicateReport(id:$id){status}}`, map[string]any{"id": rep}, "").Str("duplicateReport.status") == "RUNNING"; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	byResident := map[string]string{}
	for after, more := any(nil), true; more; {
		cands := do(admin, `query($a:String){duplicateCandidates(first:100,after:$a){edges{node{id residentA{id} residentB{id}}} pageInfo{hasNextPage endCursor}}}`,
			map[string]any{"a": after}, "")
		for i := range cands.Get("duplicateCandidates.edges").([]any) {
			p := "duplicateCandidates.edges." + itoa(i) + ".node."
			byResident[cands.Str(p+"residentA.id")] = cands.Str(p + "id")
			byResident[cands.Str(p+"residentB.id")] = cands.Str(p + "id")
		}
		more, after = cands.Get("duplicateCandidates.pageInfo.hasNextPage") == true, cands.Str("duplicateCandidates.pageInfo.endCursor")
	}
	do(admin, `mutation($c:ID!){dismissDuplicate(input:{candidateId:$c,reason:"审计测试"}){userErrors{code}}}`,
		map[string]any{"c": byResident[pair[0]]}, "dismissDuplicate.userErrors")
	do(admin, `mutation($c:ID!,$s:ID!){mergeResidents(input:{candidateId:$c,survivorId:$s}){userErrors{code message}}}`,
		map[string]any{"c": byResident[pair[2]], "s": pair[2]}, "mergeResidents.userErrors")
	do(clerk, `mutation{exportResidents(filter:{nameContains:"审计重复"}){export{id} userErrors{code}}}`, nil, "exportResidents.userErrors")

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
		if a == audit.ActionNotices && fontMissing {
			continue
		}
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
