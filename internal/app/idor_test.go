package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/testenv"
)

// The viewers of the IDOR matrix, in the order of the expectation strings.
var idorRoles = []string{
	"owner",       // the resident the records belong to (WeChat, bound)
	"resident",    // another bound resident
	"clerk",       // CLERK, 春熙路街道 (district-wide reads)
	"caseworker2", // CASE_WORKER of another street (牛市口街道)
	"caseworker",  // CASE_WORKER of the resident's street (春熙路街道)
	"operator",    // OPERATOR
	"provider2",   // PROVIDER that did not serve the resident
	"provider1",   // PROVIDER that did (a redemption and an assigned disability service)
	"admin",       // ADMIN
	"auditor",     // AUDITOR
	"telephony",   // INTEGRATION
}

// fullIDRoles may see the resident's full ID number; for everyone else it
// must not appear anywhere in any answer.
var fullIDRoles = map[string]bool{"owner": true, "clerk": true, "caseworker": true, "admin": true}

// idorExpect is the outcome of node(id:) per type and role, one letter per
// role of idorRoles: V visible, N null without an error, F null with a
// FORBIDDEN error. The rules are README "Who may do what" and docs/*.md;
// the deciding code is named per row.
var idorExpect = map[string]string{
	//                       own res clk cw2 cw  op  pv2 pv1 adm aud tel
	"OrgUnit":               "VVVVVVVVVVV", // org.Service.Unit: reference data for any session
	"ServiceCenter":         "VVVVVVVVVVV", // org.Service.CentersByIDs: reference data
	"StaffUser":             "FFFFFFFFVVF", // auth.Service.StaffUser: ADMIN, AUDITOR or the user themself
	"Resident":              "VFVFVVFVVVF", // policy.ResidentView (ReadFullIdNumber, ReadResident)
	"ServiceItem":           "VVVVVVVVVVV", // application.Service.Item: the catalog is public to any session
	"Application":           "VNVNVFFFVVF", // policy ReadApplications: CLERK/ADMIN/AUDITOR all, CASE_WORKER subtree, resident own
	"Provider":              "NNVVVVNVVVN", // voucher.Service.Provider: staff, or its own users
	"VoucherProgram":        "VVVVVVVVVVV", // voucher.Service.Program: any session
	"Voucher":               "VNVNVVNNVVN", // policy ReadVouchers: staff covering the resident, the resident
	"Redemption":            "VNVNVVNVVVN", // voucher.Service.Redemption: policy ReadRedemptions: the resident scope, or the provider that made it
	"DisabilityCertificate": "VFVFVVFFVVF", // policy ReadDisability; providers never
	"DisabilityService":     "VFVFVVFVVVF", // disability canReadService: canRead or the assigned provider
	"EmergencyDevice":       "NNNNVVNNVVN", // policy ReadEmergencyCalls (errors read as null)
	"EmergencyCall":         "FFFNVVFFVVF", // policy ReadEmergencyCalls (role, then subtree)
	"WechatAccount":         "VFVFVFFFVVF", // resident.Service.WechatAccount: the account itself, ADMIN, AUDITOR, or who may list its resident's bindings (CLERK, CASE_WORKER subtree)
	"DisabilitySubsidyRule": "FFVVVFFFVVF", // disability.Service.Rule: the staff who may list the rules
	"IssuanceRun":           "FFFNNFFFVVF", // policy ReadVoucherRuns: district-wide runs for ADMIN and AUDITOR (case workers reach their subtree's runs only)
	"EnrollmentRun":         "FFFNVFFFVVF", // policy ReadVoucherRuns: a case worker's run for its subtree, ADMIN and AUDITOR
	"CarePriceItem":         "VVVVVVVVVVV", // homecare.Service.Item: the price list is public to any session
	"CareWorker":            "NNVNNNNVVVN", // homecare.Service.Worker: its provider, ADMIN, who reads orders district-wide, the worker
	"ServiceOrder":          "VNVNVFNVVVF", // policy ReadServiceOrders: the resident, staff covering them, the order's provider
}

const idorDoc = `query($id:ID!){node(id:$id){id __typename
  ... on Resident{name idNumber}
  ... on DisabilityCertificate{number}
  ... on DisabilityService{kind serviceOf: resident{name idNumber}}
  ... on Redemption{amountFen redeemedBy: resident{name idNumber}}
  ... on Voucher{balanceFen heldBy: resident{name idNumber}}
  ... on EmergencyCall{status caller: resident{name idNumber}}
  ... on EmergencyDevice{serial wornBy: resident{name idNumber}}
  ... on Application{number applicant{name idNumber}}
  ... on StaffUser{username}
  ... on Provider{name}
  ... on VoucherProgram{code}
  ... on ServiceItem{code}
  ... on OrgUnit{name}
  ... on ServiceCenter{name}
  ... on WechatAccount{boundTo: resident{name idNumber}}
  ... on DisabilitySubsidyRule{code}
  ... on IssuanceRun{period issuedCount}
  ... on EnrollmentRun{enrolledCount}
  ... on CarePriceItem{code}
  ... on CareWorker{username}
  ... on ServiceOrder{orderStatus: status visited: resident{name maskedIdNumber}}
}}`

// idorWorld extends buildWorld with one object of every remaining Node
// type and signs every viewer of the matrix in.
func idorWorld(t *testing.T) (*world, map[string]string, map[string]string) {
	fake := testenv.NewFakeWechat(t)
	w := buildWorld(t, testenv.OwnDatabase(t), testenv.WithWechat(fake), withSMS(newFakeSMS(t)))
	e := w.e
	admin, clerk := e.Admin(t), e.As(t, "clerk")
	ids := map[string]string{"Resident": w.resident, "DisabilityCertificate": w.cert, "Redemption": w.redemption,
		"EmergencyCall": w.call, "EmergencyDevice": w.device, "VoucherProgram": w.program}
	ids["OrgUnit"] = e.MustDo(t, admin, `{orgUnits(kind:STREET){id}}`, nil).Str("orgUnits.0.id")
	ids["ServiceCenter"] = e.MustDo(t, admin, `{serviceCenters{id}}`, nil).Str("serviceCenters.0.id")
	ids["ServiceItem"] = e.MustDo(t, admin, `{serviceItems{id}}`, nil).Str("serviceItems.0.id")
	ids["Provider"] = e.MustDo(t, e.As(t, "provider1"), `{me{provider{id}}}`, nil).Str("me.provider.id")
	ids["Voucher"] = e.MustDo(t, admin, `query($id:ID!){resident(id:$id){vouchers{id}}}`, map[string]any{"id": w.resident}).Str("resident.vouchers.0.id")
	ids["StaffUser"] = e.MustDo(t, admin, `mutation($o:ID!,$u:String!){createStaffUser(input:{username:$u,password:"long-enough-pw",displayName:"目标",roles:[CASE_WORKER],orgUnitId:$o}){user{id} userErrors{code}}}`,
		map[string]any{"o": ids["OrgUnit"], "u": "idor." + w.serial}).Str("createStaffUser.user.id") // unique: TestAuditEntriesResolve builds this world too
	ids["Application"] = e.MustDo(t, clerk, `mutation($r:ID!){submitApplication(input:{itemCode:"YLFWQ-SL",applicantId:$r,materials:[{name:"居民身份证"},{name:"户口簿"}]}){application{id} userErrors{code message}}}`,
		map[string]any{"r": w.resident}).Str("submitApplication.application.id")
	ids["DisabilityService"] = e.MustDo(t, clerk, `mutation($r:ID!,$p:ID){requestDisabilityService(input:{residentId:$r,kind:REHABILITATION,providerId:$p}){service{id} userErrors{code message}}}`,
		map[string]any{"r": w.resident, "p": ids["Provider"]}).Str("requestDisabilityService.service.id")
	ids["DisabilitySubsidyRule"] = e.MustDo(t, admin, `{disabilitySubsidyRules{id}}`, nil).Str("disabilitySubsidyRules.0.id")
	ids["IssuanceRun"] = e.MustDo(t, admin, `mutation($p:ID!,$m:String!){issueVouchers(input:{programId:$p,period:$m}){run{id} userErrors{code}}}`,
		map[string]any{"p": w.program, "m": civil.MonthOf(civil.DateOf(time.Now())).String()}).Str("issueVouchers.run.id")
	// A case worker of the resident's street enrolls them (again: nobody twice) with the residents-list filter.
	ids["EnrollmentRun"] = e.MustDo(t, e.As(t, "caseworker"), `mutation($p:ID!){enrollResidents(programId:$p,filter:{nameContains:"张大爷"}){run{id} userErrors{code}}}`,
		map[string]any{"p": w.program}).Str("enrollResidents.run.id")
	for k, v := range careObjects(t, e, w.resident, w.program, ids["Provider"], w.serial) {
		ids[k] = v
	}
	for typ := range idorExpect {
		if typ == "WechatAccount" {
			continue // the owner's, once signed in below
		}
		if ids[typ] == "" {
			t.Fatalf("no %s was created", typ)
		}
	}

	toks := map[string]string{"admin": admin}
	for _, who := range idorRoles {
		switch who {
		case "admin":
		case "owner":
			toks[who] = bindWechat(t, e, "owner-"+w.serial, "张大爷", w.idNumber, "13800001111")
			ids["WechatAccount"] = e.MustDo(t, toks[who], `{me{id}}`, nil).Str("me.id")
		case "resident":
			other := e.InsertResident(t, testenv.ResidentSpec{Name: "邻居", Phone: "13800009999"})
			toks[who] = bindWechat(t, e, "other-"+w.serial, "邻居", other.IDNumber, other.Phone)
		default:
			toks[who] = e.As(t, who)
		}
	}
	return w, ids, toks
}

// bindWechat signs a WeChat user in and binds them to a resident.
func bindWechat(t *testing.T, e *testenv.Env, openid, name, idNumber, phone string) string {
	t.Helper()
	tok := e.WechatLogin(t, "ok:"+openid)
	r := e.MustDo(t, tok, `mutation($in:BindResidentInput!){bindResident(input:$in){resident{id} userErrors{code}}}`,
		map[string]any{"in": map[string]any{"name": name, "idNumber": idNumber, "phone": phone}})
	if r.Str("bindResident.resident.id") == "" {
		t.Fatalf("bind %s: %s", name, r.Raw)
	}
	return tok
}

// TestNodeIDORMatrix asks node(id:) for one object of every Node type as
// every kind of viewer and checks the exact outcome: visible (and then
// without a full ID number for viewers who may not see it), null, or null
// with FORBIDDEN; a refused answer carries nothing of the record.
func TestNodeIDORMatrix(t *testing.T) {
	w, ids, toks := idorWorld(t)
	e := w.e
	if len(idorExpect) != 21 {
		t.Fatalf("%d Node types in the matrix; graph/schema has 21", len(idorExpect))
	}
	writesBefore := auditWrites(t, e)
	n := 0
	for typ, row := range idorExpect {
		for i, who := range idorRoles {
			want := row[i]
			t.Run(typ+"/"+who, func(t *testing.T) {
				r := e.Do(t, toks[who], idorDoc, map[string]any{"id": ids[typ]})
				raw := string(r.Raw)
				if !fullIDRoles[who] && strings.Contains(raw, w.idNumber) {
					t.Fatalf("full ID number leaked: %s", raw)
				}
				switch want {
				case 'V':
					if r.Str("node.id") != ids[typ] || r.Str("node.__typename") != typ || len(r.Errors) > 0 {
						t.Fatalf("want visible: %.600s", raw)
					}
				case 'N', 'F':
					code := ""
					if want == 'F' {
						code = "FORBIDDEN"
					}
					if r.Get("node") != nil || r.ErrorCode() != code || len(r.Errors) > 1 {
						t.Fatalf("want null with error code %q: %.600s", code, raw)
					}
					if strings.Contains(raw, "张大爷") || strings.Contains(raw, w.serial) || strings.Contains(raw, w.idNumber[:10]) {
						t.Fatalf("refused answer carries data: %s", raw)
					}
				}
			})
			n++
		}
	}
	if n != 21*11 {
		t.Fatalf("%d cases", n)
	}
	// Reads write nothing but the audit entries of full-number reads.
	if got := auditWrites(t, e); got != writesBefore {
		t.Fatalf("audit entries other than full-number reads: %d before, %d after", writesBefore, got)
	}
}

// auditWrites counts audit entries other than full-number reads.
func auditWrites(t *testing.T, e *testenv.Env) (n int64) {
	t.Helper()
	if err := e.DB.Raw("SELECT count(*) FROM audit_log WHERE action NOT IN ('idNumber', 'number')").Row().Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
