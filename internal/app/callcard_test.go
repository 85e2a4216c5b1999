package app_test

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/idnumber"
	"github.com/jinjiang/residents/internal/testenv"
)

// world is one resident with something in every domain.
type world struct {
	e                                                   *testenv.Env
	idNumber, resident, cert, program, redemption, call string
	device, provider, serial                            string
}

func buildWorld(t *testing.T, opts ...testenv.Option) *world {
	e := testenv.New(t, opts...)
	admin := e.Admin(t)
	clerk := e.As(t, "clerk")
	district := e.MustDo(t, admin, `{orgUnits(kind:COMMUNITY){id}}`, nil).Str("orgUnits.0.id")

	// A resident living alone, registered at the counter with two contacts.
	// Worlds of one package share its database, and one birth date leaves
	// 500 numbers per gender: a number already taken is drawn again.
	var idNumber, rid string
	var reg *testenv.Response
	for try := 0; rid == "" && try < 20; try++ {
		idNumber = idnumber.Generate("510104", time.Date(1941, 3, 2, 0, 0, 0, 0, time.UTC), rand.IntN(1000), idnumber.Male)
		reg = e.MustDo(t, clerk, `mutation($in:RegisterResidentInput!){registerResident(input:$in){resident{id} userErrors{code field message}}}`,
			map[string]any{"in": map[string]any{"name": "张大爷", "idNumber": idNumber, "phone": "13800001111", "address": "锦江区和平街1号",
				"communityId": district, "statuses": []string{"LIVING_ALONE"}, "careLevel": "MODERATE",
				"emergencyContacts": []any{
					map[string]any{"name": "张二", "relation": "儿子", "phone": "13900002222", "priority": 2},
					map[string]any{"name": "张大", "relation": "女儿", "phone": "13700003333", "priority": 1},
				}}})
		rid = reg.Str("registerResident.resident.id")
		if rid == "" && reg.Str("registerResident.userErrors.0.code") != "DUPLICATE" {
			break
		}
	}
	if rid == "" {
		t.Fatalf("register: %s", reg.Raw)
	}
	sfx := strconv.FormatInt(time.Now().UnixNano(), 36)
	// A physical disability certificate, grade 2.
	today := civil.DateOf(time.Now())
	cert := e.MustDo(t, admin, `mutation($in:RecordDisabilityCertificateInput!){recordDisabilityCertificate(input:$in){certificate{grade} userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"residentId": rid, "number": idNumber + "42", "category": "PHYSICAL", "grade": 2,
			"issuedOn": today.AddDays(-30).String(), "validUntil": today.AddDays(3650).String()}})
	if cert.Get("recordDisabilityCertificate.certificate.grade") != float64(2) {
		t.Fatalf("certificate: %s", cert.Raw)
	}
	// A meal-aid visit paid with the district's voucher.
	progs := e.MustDo(t, admin, `{voucherPrograms{id code}}`, nil)
	var program string
	for i := range progs.Get("voucherPrograms").([]any) {
		if progs.Str("voucherPrograms."+itoa(i)+".code") == "JJ-YLFWQ" {
			program = progs.Str("voucherPrograms." + itoa(i) + ".id")
		}
	}
	e.MustDo(t, admin, `mutation($p:ID!,$r:ID!){enrollResident(programId:$p,residentId:$r){userErrors{code}}}`, map[string]any{"p": program, "r": rid})
	issued := e.MustDo(t, admin, `mutation($p:ID!,$m:String!){issueVouchers(input:{programId:$p,period:$m}){issuedCount userErrors{code}}}`,
		map[string]any{"p": program, "m": civil.MonthOf(today).String()})
	if issued.Get("issueVouchers.issuedCount") != float64(1) {
		t.Fatalf("issue: %s", issued.Raw)
	}
	tok := e.MustDo(t, clerk, `mutation($p:ID!,$r:ID){createRedemptionToken(programId:$p,residentId:$r){token userErrors{code}}}`,
		map[string]any{"p": program, "r": rid}).Str("createRedemptionToken.token")
	provider := e.As(t, "provider1")
	cat := e.MustDo(t, provider, `{me{provider{name categories}}}`, nil)
	red := e.MustDo(t, provider, `mutation($in:RedeemVoucherInput!){redeemVoucher(input:$in){redemption{id} userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"token": tok, "category": cat.Str("me.provider.categories.0"), "amountFen": 1500,
			"serviceDate": today.String(), "idempotencyKey": "callcard-" + sfx}})
	if red.Str("redeemVoucher.redemption.id") == "" {
		t.Fatalf("redeem: %s", red.Raw)
	}
	// The wearable that raises the alarm.
	op := e.As(t, "operator")
	dev := e.MustDo(t, op, `mutation($r:ID!,$s:String!){registerEmergencyDevice(input:{serial:$s,kind:WEARABLE,residentId:$r}){device{id} userErrors{code}}}`,
		map[string]any{"r": rid, "s": "WB-" + sfx})
	if dev.Str("registerEmergencyDevice.device.id") == "" {
		t.Fatalf("device: %s", dev.Raw)
	}
	call := e.MustDo(t, e.As(t, "telephony"), `mutation($x:String!,$s:String){receiveEmergencyCall(input:{externalCallId:$x,deviceSerial:$s,kind:FALL_DETECTED}){call{id} userErrors{code}}}`,
		map[string]any{"x": "cc-" + sfx, "s": "WB-" + sfx})
	callID := call.Str("receiveEmergencyCall.call.id")

	certID := e.MustDo(t, admin, `query($id:ID!){resident(id:$id){disabilityCertificate{id}}}`, map[string]any{"id": rid}).Str("resident.disabilityCertificate.id")
	return &world{e: e, idNumber: idNumber, resident: rid, cert: certID, program: program, redemption: red.Str("redeemVoucher.redemption.id"),
		call: callID, device: dev.Str("registerEmergencyDevice.device.id"), provider: cat.Str("me.provider.name"), serial: "WB-" + sfx}
}

// TestEmergencyCallCard follows one alarm across domains: the operator's
// call card shows, through the call's resident, the statuses, the care
// level, the disability certificate, emergency contacts in priority order
// with masked phones, the devices and the latest home-care visits — and
// never the full ID number.
func TestEmergencyCallCard(t *testing.T) {
	w := buildWorld(t)
	e, op, callID, idNumber, today := w.e, w.e.As(t, "operator"), w.call, w.idNumber, civil.DateOf(time.Now())
	card := e.MustDo(t, op, `query($id:ID!){node(id:$id){... on EmergencyCall{status kind resident{
		name age address idNumberMasked idNumber statuses careLevel phoneMasked
		disabilityCertificate{category grade}
		emergencyContacts{name relation phoneMasked priority}
		emergencyDevices{serial kind}
		redemptions(first:5){serviceDate amountFen category provider{name}}
	}}}}`, map[string]any{"id": callID})
	get := func(p string) any { return card.Get("node.resident." + p) }
	checks := map[string]any{
		"name": "张大爷", "statuses.0": "LIVING_ALONE", "careLevel": "MODERATE", "address": "锦江区和平街1号",
		"disabilityCertificate.grade": float64(2), "disabilityCertificate.category": "PHYSICAL",
		"emergencyContacts.0.name": "张大", "emergencyContacts.0.phoneMasked": "137****3333", "emergencyContacts.1.name": "张二",
		"redemptions.0.amountFen":     float64(1500),
		"redemptions.0.provider.name": w.provider, "redemptions.0.serviceDate": today.String(),
		"idNumberMasked": idNumber[:6] + "************",
	}
	for p, want := range checks {
		if got := get(p); got != want {
			t.Errorf("%s = %v, want %v", p, got, want)
		}
	}
	if get("idNumber") != nil || strings.Contains(string(card.Raw), idNumber) {
		t.Fatalf("the operator saw the full ID number: %s", card.Raw)
	}
	if age, _ := get("age").(float64); age < 80 {
		t.Errorf("age = %v", get("age"))
	}
}
