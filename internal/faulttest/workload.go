package faulttest

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/creditcode"
	"github.com/jinjiang/residents/internal/testenv"
)

// ProviderPassword is the password of the provider Vouchers registers.
const ProviderPassword = "provider-password-1"

// VoucherWorld is one active program paying MEAL, a provider contracted
// for it, and residents enrolled with this month's vouchers issued: what a
// redemption burst needs.
type VoucherWorld struct {
	Program      string // global id
	ProviderUser string
	Residents    []string // global ids
	MonthlyFen   int64
	clerk        string
}

var worldSeq atomic.Int64

// Vouchers builds a VoucherWorld of n residents through e's API.
func Vouchers(t testing.TB, e *testenv.Env, n int) *VoucherWorld {
	t.Helper()
	admin := e.Admin(t)
	seq := time.Now().UnixNano()%1_000_000 + worldSeq.Add(1)*1_000_000
	w := &VoucherWorld{MonthlyFen: 30000, clerk: e.As(t, "clerk")}
	r := e.MustDo(t, admin, `mutation($in:CreateVoucherProgramInput!){createVoucherProgram(input:$in){program{id} userErrors{code}}}`,
		map[string]any{"in": map[string]any{"code": fmt.Sprintf("F%d", seq), "name": "故障演练券", "categories": []string{"MEAL"},
			"rules": []map[string]any{{"amountFen": w.MonthlyFen}}}})
	if w.Program = r.Str("createVoucherProgram.program.id"); w.Program == "" {
		t.Fatalf("create program: %s", r.Raw)
	}
	e.MustDo(t, admin, `mutation($id:ID!){activateVoucherProgram(id:$id){program{status}}}`, map[string]any{"id": w.Program})
	w.ProviderUser = fmt.Sprintf("fprov%d", seq)
	r = e.MustDo(t, admin, `mutation($in:RegisterProviderInput!){registerProvider(input:$in){provider{id} userErrors{code}}}`,
		map[string]any{"in": map[string]any{"name": "演练服务商", "creditCode": creditcode.Generate(int(seq % 100_000_000)),
			"categories": []string{"MEAL"}, "username": w.ProviderUser, "password": ProviderPassword}})
	if r.Str("registerProvider.provider.id") == "" {
		t.Fatalf("register provider: %s", r.Raw)
	}
	for i := 0; i < n; i++ {
		res := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}})
		gid := relay.ID("Resident", res.ID)
		r := e.MustDo(t, admin, `mutation($p:ID!,$r:ID!){enrollResident(programId:$p,residentId:$r){program{id} userErrors{code}}}`,
			map[string]any{"p": w.Program, "r": gid})
		if r.Str("enrollResident.program.id") == "" {
			t.Fatalf("enroll: %s", r.Raw)
		}
		w.Residents = append(w.Residents, gid)
	}
	r = e.MustDo(t, admin, `mutation($in:IssueVouchersInput!){issueVouchers(input:$in){issuedCount userErrors{code}}}`,
		map[string]any{"in": map[string]any{"programId": w.Program, "period": civil.MonthOf(civil.DateOf(time.Now())).String()}})
	if got, _ := r.Get("issueVouchers.issuedCount").(float64); int(got) != n {
		t.Fatalf("issue: %s", r.Raw)
	}
	return w
}

// Token creates a redemption token for resident (a clerk on their behalf).
func (w *VoucherWorld) Token(t testing.TB, e *testenv.Env, resident string) string {
	t.Helper()
	r := e.MustDo(t, w.clerk, `mutation($p:ID!,$r:ID){createRedemptionToken(programId:$p,residentId:$r){token userErrors{code}}}`,
		map[string]any{"p": w.Program, "r": resident})
	tok := r.Str("createRedemptionToken.token")
	if tok == "" {
		t.Fatalf("token: %s", r.Raw)
	}
	return tok
}

// RedeemDoc redeems; its variable is $in.
const RedeemDoc = `mutation($in:RedeemVoucherInput!){redeemVoucher(input:$in){redemption{id} remainingBalanceFen userErrors{code}}}`

// RedeemVars are the variables of one redemption of amount fen for a MEAL
// served today, under key.
func RedeemVars(token, key string, amount int64) map[string]any {
	return map[string]any{"in": map[string]any{"token": token, "category": "MEAL", "amountFen": amount,
		"serviceDate": civil.DateOf(time.Now()).String(), "idempotencyKey": key}}
}

// CallDoc is the telephony system reporting an alarm; its variable is $id.
const CallDoc = `mutation($id:String!){receiveEmergencyCall(input:{externalCallId:$id,callerNumber:"13800000000",kind:ALARM_BUTTON}){call{id} userErrors{code}}}`

// Login signs in to a server at base (one in another process) and returns
// the access token.
func Login(t testing.TB, c *http.Client, base, user, password string) string {
	t.Helper()
	r, err := testenv.Post(c, base, "", `mutation($u:String!,$p:String!){login(input:{username:$u,password:$p}){accessToken userErrors{code}}}`,
		map[string]any{"u": user, "p": password})
	if err != nil {
		t.Fatal(err)
	}
	tok := r.Str("login.accessToken")
	if tok == "" {
		t.Fatalf("login %s: %s", user, r.Raw)
	}
	return tok
}

// Loop runs fn again and again in a new goroutine (counted in wg) until
// stop is closed: one simulated client of a fault drill.
func Loop(wg *sync.WaitGroup, stop <-chan struct{}, fn func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			fn()
		}
	}()
}
