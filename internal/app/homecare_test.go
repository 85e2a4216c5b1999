package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/creditcode"
	"github.com/jinjiang/residents/internal/testenv"
)

// home is where the care world's resident lives (entered at the counter).
var home = map[string]any{"latitude": 30.6570, "longitude": 104.0800}

// careWorld is a provider of its own (so settling its month touches no
// other test), a care worker, a price-list item it offers, and a resident
// with this month's voucher, a recorded home and a service card.
type careWorld struct {
	e                                  *testenv.Env
	admin, clerk, provider, worker     string
	providerID, workerID, item, res    string
	program, card, pin, sfx, residentT string
	resident                           testenv.Resident
}

const careOrderFields = `id status amountFen serviceDate resident{name age maskedIdNumber address maskedPhone}
  worker{id displayName} checkIn{at distanceMeters position{latitude}} checkOut{at distanceMeters}
  confirmedVia redemption{id amountFen status} flags{rule status detail} dispute{status resolution}`

func newCareWorld(t *testing.T, e *testenv.Env, bindResident bool, minimumMinutes int) *careWorld {
	t.Helper()
	w := &careWorld{e: e, admin: e.Admin(t), clerk: e.As(t, "clerk"), sfx: strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.Itoa(rand.IntN(1000))}
	do := func(tok, doc string, vars map[string]any, path string) *testenv.Response {
		t.Helper()
		r := e.MustDo(t, tok, doc, vars)
		if path != "" && r.Get(path+".userErrors.0") != nil {
			t.Fatalf("%s: %s", path, r.Raw)
		}
		return r
	}
	progs := do(w.admin, `{voucherPrograms{id code}}`, nil, "")
	for i := range progs.Get("voucherPrograms").([]any) {
		if progs.Str("voucherPrograms."+itoa(i)+".code") == "JJ-YLFWQ" {
			w.program = progs.Str("voucherPrograms." + itoa(i) + ".id")
		}
	}
	pu := "care" + w.sfx
	w.providerID = do(w.admin, `mutation($in:RegisterProviderInput!){registerProvider(input:$in){provider{id} userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"name": "居家服务" + w.sfx, "creditCode": creditcode.Generate(int(rand.Int64N(100_000_000))),
			"categories": []string{"BATHING", "CLEANING"}, "username": pu, "password": "provider-password-1"}}, "registerProvider").
		Str("registerProvider.provider.id")
	w.provider = e.Login(t, pu, "provider-password-1")
	w.item = do(w.admin, `mutation($in:CarePriceItemInput!){upsertCarePriceItem(input:$in){item{id unitPriceFen} userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"programId": w.program, "code": "ZY-" + strings.ToUpper(w.sfx), "name": "上门助浴", "category": "BATHING",
			"unit": "次", "unitPriceFen": 3000, "minimumMinutes": minimumMinutes}}, "upsertCarePriceItem").Str("upsertCarePriceItem.item.id")
	do(w.provider, `mutation($ids:[ID!]!){setCareItemsOffered(itemIds:$ids){items{id} userErrors{code message}}}`,
		map[string]any{"ids": []string{w.item}}, "setCareItemsOffered")
	wu := "hw" + w.sfx
	w.workerID = do(w.provider, `mutation($in:CreateCareWorkerInput!){createCareWorker(input:$in){worker{id} userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"username": wu, "password": "worker-password-1", "displayName": "王护理"}}, "createCareWorker").
		Str("createCareWorker.worker.id")
	w.worker = e.Login(t, wu, "worker-password-1")

	phone := fmt.Sprintf("139%08d", rand.IntN(100_000_000))
	w.resident = e.InsertResident(t, testenv.ResidentSpec{Name: "赵奶奶", Phone: phone})
	w.res = relay.ID("Resident", w.resident.ID)
	do(w.admin, `mutation($p:ID!,$r:ID!){enrollResident(programId:$p,residentId:$r){userErrors{code}}}`, map[string]any{"p": w.program, "r": w.res}, "enrollResident")
	do(w.admin, `mutation($p:ID!,$m:String!){issueVouchers(input:{programId:$p,period:$m}){issuedCount userErrors{code}}}`,
		map[string]any{"p": w.program, "m": civil.MonthOf(civil.DateOf(time.Now())).String()}, "issueVouchers")
	if w.balance(t) <= 0 {
		t.Fatal("the resident got no voucher")
	}
	do(w.clerk, `mutation($in:SetResidentHomeInput!){setResidentHome(input:$in){ok userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"residentId": w.res, "position": home}}, "setResidentHome")
	w.pin = "258147"
	card := do(w.clerk, `mutation($r:ID!,$p:String!){issueServiceCard(input:{residentId:$r,pin:$p}){card{cardNumber status} userErrors{code message}}}`,
		map[string]any{"r": w.res, "p": w.pin}, "issueServiceCard")
	w.card = card.Str("issueServiceCard.card.cardNumber")
	if len(w.card) != 12 || card.Str("issueServiceCard.card.status") != "ACTIVE" {
		t.Fatalf("card: %s", card.Raw)
	}
	if bindResident {
		u := newWechatUser(t, e)
		if r := bindAs(t, e, u, w.resident, "赵奶奶"); r.Str("bindResident.resident.id") == "" {
			t.Fatalf("bind: %s", r.Raw)
		}
		w.residentT = u.access
	}
	return w
}

// balance is the resident's spendable balance of the program (after the
// issuance run, which may still be finishing, has issued).
func (w *careWorld) balance(t *testing.T) int64 {
	t.Helper()
	for i := 0; ; i++ {
		r := w.e.MustDo(t, w.admin, `query($id:ID!,$p:ID){resident(id:$id){voucherBalanceFen(programId:$p)}}`, map[string]any{"id": w.res, "p": w.program})
		b, _ := r.Get("resident.voucherBalanceFen").(float64)
		if b > 0 || i == 50 {
			return int64(b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// order creates an order at the counter, assigns it, and takes the worker
// through check-in and check-out at the home.
func (w *careWorld) order(t *testing.T, quantity int) string {
	t.Helper()
	e := w.e
	r := e.MustDo(t, w.clerk, `mutation($in:CreateServiceOrderInput!){createServiceOrder(input:$in){order{id status amountFen} userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"residentId": w.res, "providerId": w.providerID, "itemId": w.item, "quantity": quantity,
			"scheduledDate": civil.DateOf(time.Now()).String()}})
	id := r.Str("createServiceOrder.order.id")
	if id == "" || r.Str("createServiceOrder.order.status") != "REQUESTED" || r.Get("createServiceOrder.order.amountFen") != float64(3000*quantity) {
		t.Fatalf("create: %s", r.Raw)
	}
	w.step(t, w.provider, `mutation($o:ID!,$w:ID!){assignServiceOrder(orderId:$o,workerId:$w){order{status} userErrors{code message}}}`,
		map[string]any{"o": id, "w": w.workerID}, "assignServiceOrder", "ASSIGNED")
	w.step(t, w.worker, `mutation($in:VisitPositionInput!){checkInServiceOrder(input:$in){order{status} userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"orderId": id, "position": map[string]any{"latitude": 30.6571, "longitude": 104.0801, "accuracyMeters": 15}}},
		"checkInServiceOrder", "CHECKED_IN")
	w.step(t, w.worker, `mutation($in:VisitPositionInput!){checkOutServiceOrder(input:$in){order{status} userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"orderId": id, "position": home}}, "checkOutServiceOrder", "CHECKED_OUT")
	return id
}

func (w *careWorld) step(t *testing.T, tok, doc string, vars map[string]any, field, status string) *testenv.Response {
	t.Helper()
	r := w.e.MustDo(t, tok, doc, vars)
	if got := r.Str(field + ".order.status"); got != status {
		t.Fatalf("%s: want %s: %s", field, status, r.Raw)
	}
	return r
}

const cardDoc = `mutation($in:ConfirmServiceOrderWithCardInput!){confirmServiceOrderWithCard(input:$in){order{` + careOrderFields + `} userErrors{code message}}}`

func (w *careWorld) confirmWithCard(t *testing.T, tok, order, pin string) *testenv.Response {
	t.Helper()
	return w.e.MustDo(t, tok, cardDoc, map[string]any{"in": map[string]any{"orderId": order, "cardNumber": w.card, "pin": pin, "position": home}})
}

// TestHomeCareVisitPath: a card issued at a counter, an order, the
// worker's check-in and check-out, the elder's PIN, the voucher drawn by
// exactly the price-list amount, and the settlement's line pointing at
// the visit. The worker sees the resident's name, age, masked numbers and
// address; a worker of another provider sees nothing of it.
func TestHomeCareVisitPath(t *testing.T) {
	e := testenv.New(t)
	w := newCareWorld(t, e, false, 0)
	before := w.balance(t)
	order := w.order(t, 2)

	// What the worker sees.
	mine := e.MustDo(t, w.worker, `{serviceOrders{`+careOrderFields+`}}`, nil)
	if mine.Str("serviceOrders.0.id") != order || mine.Str("serviceOrders.0.resident.name") != "赵奶奶" ||
		mine.Get("serviceOrders.0.resident.age").(float64) < 80 || mine.Str("serviceOrders.0.resident.maskedIdNumber") == w.resident.IDNumber ||
		mine.Str("serviceOrders.0.resident.maskedIdNumber") == "" || mine.Str("serviceOrders.0.resident.maskedPhone") == w.resident.Phone {
		t.Fatalf("worker's view: %s", mine.Raw)
	}
	if d := mine.Get("serviceOrders.0.checkIn.distanceMeters").(float64); d < 5 || d > 30 {
		t.Fatalf("check-in distance %v m: %s", d, mine.Raw)
	}

	// Another provider's worker: no orders, no node, no check-in.
	other := newCareWorld(t, e, false, 0)
	if r := e.MustDo(t, other.worker, `{serviceOrders{id}}`, nil); len(r.Get("serviceOrders").([]any)) != 0 {
		t.Fatalf("another provider's worker lists: %s", r.Raw)
	}
	if r := e.Do(t, other.worker, `query($id:ID!){node(id:$id){id}}`, map[string]any{"id": order}); r.Get("node") != nil {
		t.Fatalf("another provider's worker reads the node: %s", r.Raw)
	}
	if r := w.confirmWithCard(t, other.worker, order, w.pin); r.Str("confirmServiceOrderWithCard.userErrors.0.code") != "NOT_FOUND" {
		t.Fatalf("another provider's worker confirms: %s", r.Raw)
	}
	if r := e.MustDo(t, other.provider, `query($id:ID!){node(id:$id){id}}`, map[string]any{"id": order}); r.Get("node") != nil {
		t.Fatalf("another provider reads the order: %s", r.Raw)
	}

	// A card issued before PINs had their own argon2id parameters holds a
	// password-strength hash: it still verifies, and is rehashed at the
	// PIN parameters on success.
	old, err := auth.HashPassword(w.pin)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.DB.Exec("UPDATE service_cards SET pin_hash = ? WHERE card_number = ?", old, w.card).Error; err != nil {
		t.Fatal(err)
	}

	// The elder's card and PIN at check-out pay for the visit.
	r := w.confirmWithCard(t, w.worker, order, w.pin)
	if r.Str("confirmServiceOrderWithCard.order.status") != "REDEEMED" || r.Str("confirmServiceOrderWithCard.order.confirmedVia") != "CARD" ||
		r.Get("confirmServiceOrderWithCard.order.redemption") != nil { // the worker does not read redemptions
		t.Fatalf("confirm: %s", r.Raw)
	}
	if after := w.balance(t); after != before-6000 {
		t.Fatalf("balance %d -> %d, want 6000 fen drawn", before, after)
	}
	var upgraded string
	testenv.MustScan(t, e.DB, "SELECT pin_hash FROM service_cards WHERE card_number = ?", testenv.Args(w.card), &upgraded)
	if upgraded == old || !strings.HasPrefix(upgraded, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("the old PIN hash was not upgraded: %s", upgraded)
	}
	// A retry answers the same visit and draws nothing more.
	if r := w.confirmWithCard(t, w.worker, order, w.pin); r.Str("confirmServiceOrderWithCard.order.status") != "REDEEMED" {
		t.Fatalf("retry: %s", r.Raw)
	}
	if after := w.balance(t); after != before-6000 {
		t.Fatalf("a retry drew again: %d", after)
	}

	// The provider's settlement: the line and the visit it points at.
	month := civil.MonthOf(civil.DateOf(time.Now())).String()
	st := e.MustDo(t, w.provider, `query($p:ID!,$m:String!){settlement(providerId:$p,month:$m){totalFen redemptionCount
		lines{category totalFen} visits{id status amountFen redemption{id amountFen status} flags{rule}}}}`, map[string]any{"p": w.providerID, "m": month})
	if st.Get("settlement.totalFen") != float64(6000) || st.Str("settlement.lines.0.category") != "BATHING" ||
		st.Str("settlement.visits.0.id") != order || st.Get("settlement.visits.0.redemption.amountFen") != float64(6000) {
		t.Fatalf("settlement: %s", st.Raw)
	}
	redemption := st.Str("settlement.visits.0.redemption.id")
	var note string
	testenv.MustScan(t, e.DB, "SELECT note FROM redemptions WHERE id = (SELECT redemption_id FROM service_orders WHERE id = ?)",
		testenv.Args(mustUUID(t, order)), &note)
	if note == "" || redemption == "" {
		t.Fatalf("the redemption does not name its visit")
	}
	// The month confirms: nothing is held.
	if c := e.MustDo(t, w.admin, `mutation($p:ID!,$m:String!){confirmSettlement(providerId:$p,month:$m){settlement{status} userErrors{code message}}}`,
		map[string]any{"p": w.providerID, "m": month}); c.Str("confirmSettlement.settlement.status") != "CONFIRMED" {
		t.Fatalf("confirm settlement: %s", c.Raw)
	}
}

func mustUUID(t *testing.T, gid string) any {
	t.Helper()
	_, id, err := relay.Parse(gid)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestHomeCarePINGuessing: wrong PINs count, the fifth locks the card, a
// locked card refuses even the right PIN until a counter unlocks it;
// parallel guesses get no more than five tries between them.
func TestHomeCarePINGuessing(t *testing.T) {
	e := testenv.New(t)
	w := newCareWorld(t, e, false, 0)
	order := w.order(t, 1)
	for i := 1; i <= 5; i++ {
		r := w.confirmWithCard(t, w.worker, order, "000111")
		if r.Str("confirmServiceOrderWithCard.userErrors.0.code") != "INVALID_CREDENTIALS" {
			t.Fatalf("wrong PIN %d: %s", i, r.Raw)
		}
	}
	r := w.confirmWithCard(t, w.worker, order, w.pin)
	if r.Str("confirmServiceOrderWithCard.userErrors.0.code") != "TOO_MANY_ATTEMPTS" {
		t.Fatalf("a locked card took the right PIN: %s", r.Raw)
	}
	card := e.MustDo(t, w.clerk, `query($r:ID!){serviceCard(residentId:$r){status failedAttempts}}`, map[string]any{"r": w.res})
	if card.Str("serviceCard.status") != "LOCKED" || card.Get("serviceCard.failedAttempts") != float64(5) {
		t.Fatalf("card: %s", card.Raw)
	}
	if u := e.MustDo(t, w.clerk, `mutation($r:ID!){unlockServiceCard(residentId:$r){card{status failedAttempts} userErrors{code}}}`,
		map[string]any{"r": w.res}); u.Str("unlockServiceCard.card.status") != "ACTIVE" {
		t.Fatalf("unlock: %s", u.Raw)
	}

	// Ten wrong PINs at once: five tries at most, then locked.
	var wg sync.WaitGroup
	codes := make([]string, 10)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// e.Do: a busy hashing pool answers SERVICE_UNAVAILABLE.
			r := e.Do(t, w.worker, cardDoc, map[string]any{"in": map[string]any{"orderId": order, "cardNumber": w.card,
				"pin": fmt.Sprintf("9%05d", i), "position": home}})
			if codes[i] = r.Str("confirmServiceOrderWithCard.userErrors.0.code"); codes[i] == "" {
				codes[i] = r.ErrorCode()
			}
		}()
	}
	wg.Wait()
	var wrong int
	for _, c := range codes {
		if c == "INVALID_CREDENTIALS" {
			wrong++
		} else if c != "TOO_MANY_ATTEMPTS" && c != "SERVICE_UNAVAILABLE" {
			t.Fatalf("parallel guess answered %q", c)
		}
	}
	card = e.MustDo(t, w.clerk, `query($r:ID!){serviceCard(residentId:$r){status failedAttempts}}`, map[string]any{"r": w.res})
	if wrong > 5 || card.Str("serviceCard.status") != "LOCKED" {
		t.Fatalf("%d wrong PINs verified in parallel; card %s", wrong, card.Raw)
	}
	e.MustDo(t, w.clerk, `mutation($r:ID!){unlockServiceCard(residentId:$r){card{status}}}`, map[string]any{"r": w.res})
	if r := w.confirmWithCard(t, w.worker, order, w.pin); r.Str("confirmServiceOrderWithCard.order.status") != "REDEEMED" {
		t.Fatalf("after unlock: %s", r.Raw)
	}
	// A card reported lost stops working at once; a new one works.
	e.MustDo(t, w.clerk, `mutation($r:ID!){reportServiceCardLost(residentId:$r){card{status}}}`, map[string]any{"r": w.res})
	order2 := w.order(t, 1)
	if r := w.confirmWithCard(t, w.worker, order2, w.pin); r.Str("confirmServiceOrderWithCard.userErrors.0.code") != "INVALID_CREDENTIALS" {
		t.Fatalf("a lost card confirmed: %s", r.Raw)
	}
	card2 := e.MustDo(t, w.clerk, `mutation($r:ID!){issueServiceCard(input:{residentId:$r,pin:"369258"}){card{cardNumber status} userErrors{code message}}}`,
		map[string]any{"r": w.res})
	if n := card2.Str("issueServiceCard.card.cardNumber"); n == "" || n == w.card {
		t.Fatalf("replacement: %s", card2.Raw)
	}
	w.card = card2.Str("issueServiceCard.card.cardNumber")
	if r := w.confirmWithCard(t, w.worker, order2, "369258"); r.Str("confirmServiceOrderWithCard.order.status") != "REDEEMED" {
		t.Fatalf("the replacement card: %s", r.Raw)
	}
}

// TestHomeCareConfirmRace: the resident confirms one visit twice at once,
// on two instances, and the worker sends another's card and PIN twice at
// once: one redemption each, and every answer says REDEEMED.
func TestHomeCareConfirmRace(t *testing.T) {
	fake := testenv.NewFakeWechat(t)
	e := testenv.New(t, testenv.WithWechat(fake))
	e2 := testenv.New(t, testenv.WithWechat(fake), testenv.SharedPrefix(e.Config.RedisKeyPrefix))
	w := newCareWorld(t, e, true, 0)
	before := w.balance(t)
	order := w.order(t, 1)
	const doc = `mutation($o:ID!){confirmServiceOrder(orderId:$o){order{status confirmedVia} userErrors{code message}}}`
	var wg sync.WaitGroup
	out := make([]*testenv.Response, 2)
	for i, env := range []*testenv.Env{e, e2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = env.MustDo(t, w.residentT, doc, map[string]any{"o": order})
		}()
	}
	wg.Wait()
	for _, r := range out {
		if r.Str("confirmServiceOrder.order.status") != "REDEEMED" || r.Str("confirmServiceOrder.order.confirmedVia") != "RESIDENT" {
			t.Fatalf("confirm: %s", r.Raw)
		}
	}
	var n int
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM redemptions WHERE resident_id = ?", testenv.Args(w.resident.ID), &n)
	if n != 1 || w.balance(t) != before-3000 {
		t.Fatalf("%d redemptions, balance %d (was %d)", n, w.balance(t), before)
	}
	// The worker's app sends the card and PIN twice at once, to the two
	// instances: one redemption more, both answers REDEEMED.
	order2 := w.order(t, 1)
	for i, env := range []*testenv.Env{e, e2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = env.MustDo(t, w.worker, cardDoc, map[string]any{"in": map[string]any{"orderId": order2, "cardNumber": w.card, "pin": w.pin, "position": home}})
		}()
	}
	wg.Wait()
	for _, r := range out {
		if r.Str("confirmServiceOrderWithCard.order.status") != "REDEEMED" {
			t.Fatalf("card confirm: %s", r.Raw)
		}
	}
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM redemptions WHERE resident_id = ?", testenv.Args(w.resident.ID), &n)
	if n != 2 || w.balance(t) != before-6000 {
		t.Fatalf("%d redemptions, balance %d (was %d)", n, w.balance(t), before)
	}
	// Someone else's mini-program account cannot confirm it.
	stranger := newWechatUser(t, e)
	if r := e.MustDo(t, stranger.access, doc, map[string]any{"o": order}); r.Get("confirmServiceOrder.order") != nil {
		t.Fatalf("a stranger confirmed: %s", r.Raw)
	}
}

// TestHomeCareHeldAndDisputed: a visit shorter than the item's minimum is
// held; the month cannot be confirmed; a case worker of another street
// cannot review it, one of the resident's street clears it and it is paid;
// the resident disputes it; upheld, what it drew goes back.
func TestHomeCareHeldAndDisputed(t *testing.T) {
	fake := testenv.NewFakeWechat(t)
	e := testenv.New(t, testenv.WithWechat(fake))
	w := newCareWorld(t, e, true, 30)
	before := w.balance(t)
	order := w.order(t, 1)
	const confirm = `mutation($o:ID!){confirmServiceOrder(orderId:$o){order{` + careOrderFields + `} userErrors{code message}}}`
	r := e.MustDo(t, w.residentT, confirm, map[string]any{"o": order})
	if r.Str("confirmServiceOrder.order.status") != "CONFIRMED" || r.Str("confirmServiceOrder.order.flags.0.rule") != "TOO_SHORT" ||
		r.Get("confirmServiceOrder.order.redemption") != nil {
		t.Fatalf("held visit: %s", r.Raw)
	}
	month := civil.MonthOf(civil.DateOf(time.Now())).String()
	const settle = `mutation($p:ID!,$m:String!){confirmSettlement(providerId:$p,month:$m){settlement{status} userErrors{code message}}}`
	if c := e.MustDo(t, w.admin, settle, map[string]any{"p": w.providerID, "m": month}); c.Str("confirmSettlement.userErrors.0.code") != "INVALID_TRANSITION" {
		t.Fatalf("a month with a held visit confirmed: %s", c.Raw)
	}
	cw, cw2 := e.As(t, "caseworker"), e.As(t, "caseworker2")
	if q := e.MustDo(t, cw, `{visitReviewQueue{id flags{rule status}}}`, nil); !listHas(q, "visitReviewQueue", order) {
		t.Fatalf("queue: %s", q.Raw)
	}
	if q := e.MustDo(t, cw2, `{visitReviewQueue{id}}`, nil); listHas(q, "visitReviewQueue", order) {
		t.Fatalf("another street's queue: %s", q.Raw)
	}
	const review = `mutation($in:ReviewServiceOrderInput!){reviewServiceOrder(input:$in){order{status flags{status resolution}} userErrors{code message}}}`
	in := map[string]any{"in": map[string]any{"orderId": order, "clear": true, "reason": "家属证实已服务"}}
	if r := e.MustDo(t, cw2, review, in); r.Str("reviewServiceOrder.userErrors.0.code") != "NOT_FOUND" {
		t.Fatalf("another street reviewed: %s", r.Raw)
	}
	if r := e.MustDo(t, cw, review, in); r.Str("reviewServiceOrder.order.status") != "REDEEMED" || r.Str("reviewServiceOrder.order.flags.0.status") != "CLEARED" {
		t.Fatalf("review: %s", r.Raw)
	}
	if b := w.balance(t); b != before-3000 {
		t.Fatalf("balance %d, want %d", b, before-3000)
	}
	// The resident disputes; the month is held again until staff decide.
	const dispute = `mutation($o:ID!,$r:String!){disputeServiceOrder(orderId:$o,reason:$r){order{status dispute{status}} userErrors{code message}}}`
	if r := e.MustDo(t, w.residentT, dispute, map[string]any{"o": order, "r": "护理员未到"}); r.Str("disputeServiceOrder.order.status") != "DISPUTED" {
		t.Fatalf("dispute: %s", r.Raw)
	}
	if c := e.MustDo(t, w.admin, settle, map[string]any{"p": w.providerID, "m": month}); c.Str("confirmSettlement.userErrors.0.code") != "INVALID_TRANSITION" {
		t.Fatalf("a month with a disputed visit confirmed: %s", c.Raw)
	}
	const resolve = `mutation($in:ResolveServiceOrderDisputeInput!){resolveServiceOrderDispute(input:$in){order{status dispute{status resolution}} userErrors{code message}}}`
	if r := e.MustDo(t, cw, resolve, map[string]any{"in": map[string]any{"orderId": order, "uphold": true, "reason": "监控显示未上门"}}); r.Str("resolveServiceOrderDispute.order.status") != "CANCELLED" ||
		r.Str("resolveServiceOrderDispute.order.dispute.status") != "UPHELD" {
		t.Fatalf("resolve: %s", r.Raw)
	}
	if b := w.balance(t); b != before {
		t.Fatalf("balance %d after the reversal, want %d", b, before)
	}
	// Both sides see the outcome.
	for _, tok := range []string{w.residentT, w.provider} {
		if r := e.MustDo(t, tok, `query($id:ID!){node(id:$id){... on ServiceOrder{dispute{status resolution}}}}`, map[string]any{"id": order}); r.Str("node.dispute.resolution") != "监控显示未上门" {
			t.Fatalf("outcome: %s", r.Raw)
		}
	}
	if c := e.MustDo(t, w.admin, settle, map[string]any{"p": w.providerID, "m": month}); c.Str("confirmSettlement.settlement.status") != "CONFIRMED" {
		t.Fatalf("settle: %s", c.Raw)
	}
}

func listHas(r *testenv.Response, path, id string) bool {
	l, _ := r.Get(path).([]any)
	for i := range l {
		if r.Str(path+"."+itoa(i)+".id") == id {
			return true
		}
	}
	return false
}

// TestCareWorkerDeactivation: a provider deactivates its worker, whose
// session ends at once; another provider cannot touch the worker.
func TestCareWorkerDeactivation(t *testing.T) {
	e := testenv.New(t)
	w := newCareWorld(t, e, false, 0)
	other := newCareWorld(t, e, false, 0)
	const upd = `mutation($in:UpdateCareWorkerInput!){updateCareWorker(input:$in){worker{active displayName} userErrors{code}}}`
	if r := e.MustDo(t, other.provider, upd, map[string]any{"in": map[string]any{"id": w.workerID, "active": false}}); r.Str("updateCareWorker.userErrors.0.code") != "NOT_FOUND" {
		t.Fatalf("another provider deactivated the worker: %s", r.Raw)
	}
	if r := e.MustDo(t, w.worker, `{serviceOrders{id}}`, nil); r.Get("serviceOrders") == nil {
		t.Fatalf("worker: %s", r.Raw)
	}
	if r := e.MustDo(t, w.provider, upd, map[string]any{"in": map[string]any{"id": w.workerID, "active": false}}); r.Get("updateCareWorker.worker.active") != false {
		t.Fatalf("deactivate: %s", r.Raw)
	}
	if r := e.Do(t, w.worker, `{serviceOrders{id}}`, nil); r.ErrorCode() != "UNAUTHENTICATED" {
		t.Fatalf("the deactivated worker's session lives: %s", r.Raw)
	}
	if l := e.MustDo(t, w.provider, `{careWorkers{id active}}`, nil); l.Get("careWorkers.0.active") != false {
		t.Fatalf("list: %s", l.Raw)
	}
}

// careObjects makes one of each home-care Node for the IDOR matrix and the
// audit test: a price-list item provider1 offers, one of its workers, and
// an order of the world's resident.
func careObjects(t *testing.T, e *testenv.Env, resident, program, provider, serial string) map[string]string {
	t.Helper()
	admin, clerk, pv := e.Admin(t), e.As(t, "clerk"), e.As(t, "provider1")
	ids := map[string]string{}
	ids["CarePriceItem"] = e.MustDo(t, admin, `mutation($in:CarePriceItemInput!){upsertCarePriceItem(input:$in){item{id} userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"programId": program, "code": "IDOR-" + strings.ToUpper(serial), "name": "送餐上门", "category": "MEAL",
			"unit": "份", "unitPriceFen": 1500, "minimumMinutes": 0}}).Str("upsertCarePriceItem.item.id")
	offered := e.MustDo(t, pv, `query($p:ID!){careItemsOffered(providerId:$p){id}}`, map[string]any{"p": provider})
	items := []string{ids["CarePriceItem"]}
	for i := range offered.Get("careItemsOffered").([]any) {
		items = append(items, offered.Str("careItemsOffered."+itoa(i)+".id"))
	}
	if r := e.MustDo(t, pv, `mutation($ids:[ID!]!){setCareItemsOffered(itemIds:$ids){items{id} userErrors{code message}}}`,
		map[string]any{"ids": items}); r.Get("setCareItemsOffered.userErrors.0") != nil {
		t.Fatalf("offer: %s", r.Raw)
	}
	ids["CareWorker"] = e.MustDo(t, pv, `mutation($u:String!){createCareWorker(input:{username:$u,password:"worker-password-1",displayName:"李护理"}){worker{id} userErrors{code message}}}`,
		map[string]any{"u": "hw." + serial}).Str("createCareWorker.worker.id")
	ids["ServiceOrder"] = e.MustDo(t, clerk, `mutation($in:CreateServiceOrderInput!){createServiceOrder(input:$in){order{id} userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"residentId": resident, "providerId": provider, "itemId": ids["CarePriceItem"],
			"scheduledDate": civil.DateOf(time.Now()).String()}}).Str("createServiceOrder.order.id")
	for k, v := range ids {
		if v == "" {
			t.Fatalf("no %s", k)
		}
	}
	return ids
}

// careAuditTour takes every audited home-care action once (for
// TestAuditEntriesResolve): e must talk to a fake WeChat and send SMS.
func careAuditTour(t *testing.T, e *testenv.Env) {
	t.Helper()
	w := newCareWorld(t, e, true, 30) // item, offer, worker, home, card
	ok := func(r *testenv.Response, path string) {
		t.Helper()
		if r.Get(path+".userErrors.0") != nil {
			t.Fatalf("%s: %s", path, r.Raw)
		}
	}
	ok(e.MustDo(t, w.admin, `mutation($p:ID!){setCareCap(input:{programId:$p,category:CLEANING,period:MONTH,maxVisits:8}){caps{maxVisits} userErrors{code message}}}`,
		map[string]any{"p": w.program}), "setCareCap")
	held := w.order(t, 1) // too short: held
	ok(e.MustDo(t, w.residentT, `mutation($o:ID!){confirmServiceOrder(orderId:$o){order{status} userErrors{code message}}}`, map[string]any{"o": held}), "confirmServiceOrder")
	ok(e.MustDo(t, e.As(t, "caseworker"), `mutation($o:ID!){reviewServiceOrder(input:{orderId:$o,clear:true,reason:"核实无误"}){order{status} userErrors{code message}}}`,
		map[string]any{"o": held}), "reviewServiceOrder")
	ok(e.MustDo(t, w.residentT, `mutation($o:ID!){disputeServiceOrder(orderId:$o,reason:"时间不足"){order{status} userErrors{code message}}}`, map[string]any{"o": held}), "disputeServiceOrder")
	ok(e.MustDo(t, w.admin, `mutation($o:ID!){resolveServiceOrderDispute(input:{orderId:$o,uphold:false,reason:"服务记录完整"}){order{status} userErrors{code message}}}`,
		map[string]any{"o": held}), "resolveServiceOrderDispute")
	carded := w.order(t, 1)
	for i := 0; i < MaxPINs; i++ {
		w.confirmWithCard(t, w.worker, carded, "000111")
	}
	ok(e.MustDo(t, w.clerk, `mutation($r:ID!){unlockServiceCard(residentId:$r){card{status} userErrors{code message}}}`, map[string]any{"r": w.res}), "unlockServiceCard")
	ok(w.confirmWithCard(t, w.worker, carded, w.pin), "confirmServiceOrderWithCard")
	coded := w.order(t, 1) // e must send SMS (withSMS)
	ok(e.MustDo(t, w.worker, requestCodeDoc, map[string]any{"o": coded}), "requestServiceOrderCode")
	if r := w.confirmWithCode(t, w.worker, coded, "000000"); r.Str("confirmServiceOrderWithCode.order.id") == "" &&
		r.Str("confirmServiceOrderWithCode.userErrors.0.code") != "INVALID_CREDENTIALS" {
		t.Fatalf("confirmServiceOrderWithCode: %s", r.Raw)
	}
	ok(e.MustDo(t, w.clerk, `mutation($r:ID!){reportServiceCardLost(residentId:$r){card{status} userErrors{code message}}}`, map[string]any{"r": w.res}), "reportServiceCardLost")
	r := e.MustDo(t, w.clerk, `mutation($in:CreateServiceOrderInput!){createServiceOrder(input:$in){order{id} userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"residentId": w.res, "providerId": w.providerID, "itemId": w.item, "scheduledDate": civil.DateOf(time.Now()).String()}})
	ok(e.MustDo(t, w.provider, `mutation($o:ID!){cancelServiceOrder(orderId:$o,reason:"居民外出"){order{status} userErrors{code message}}}`,
		map[string]any{"o": r.Str("createServiceOrder.order.id")}), "cancelServiceOrder")
	ok(e.MustDo(t, w.provider, `mutation($id:ID!){updateCareWorker(input:{id:$id,displayName:"王护理员"}){worker{id} userErrors{code message}}}`,
		map[string]any{"id": w.workerID}), "updateCareWorker")
}

// MaxPINs is homecare.MaxPINAttempts, as the tests count it.
const MaxPINs = 5

// TestHomeCareProxyConfirms: a family proxy whose link holds SPEND
// confirms the elder's visit in the mini-program and the voucher pays it;
// one holding only VIEW cannot, and nothing is drawn.
func TestHomeCareProxyConfirms(t *testing.T) {
	fake := testenv.NewFakeWechat(t)
	e := testenv.New(t, testenv.WithWechat(fake))
	w := newCareWorld(t, e, true, 0)
	proxyWith := func(scopes ...string) string {
		t.Helper()
		inv := e.MustDo(t, w.residentT, inviteDoc, map[string]any{"in": map[string]any{"relation": "CHILD", "scopes": scopes}})
		u := newWechatUser(t, e)
		if r := e.MustDo(t, u.access, acceptDoc, map[string]any{"c": inv.Str("createProxyInvitation.code")}); r.Str("acceptProxyInvitation.proxy.id") == "" {
			t.Fatalf("invite %v: %s\n%s", scopes, inv.Raw, r.Raw)
		}
		return u.access
	}
	viewOnly, spender := proxyWith("VIEW"), proxyWith("VIEW", "SPEND")
	before := w.balance(t)
	order := w.order(t, 1)
	const doc = `mutation($o:ID!){confirmServiceOrder(orderId:$o){order{status confirmedVia} userErrors{code message}}}`
	if r := e.MustDo(t, viewOnly, doc, map[string]any{"o": order}); r.Get("confirmServiceOrder.order") != nil {
		t.Fatalf("a VIEW proxy confirmed: %s", r.Raw)
	}
	if b := w.balance(t); b != before {
		t.Fatalf("balance %d after a refused confirmation, was %d", b, before)
	}
	if r := e.MustDo(t, spender, doc, map[string]any{"o": order}); r.Str("confirmServiceOrder.order.status") != "REDEEMED" {
		t.Fatalf("the SPEND proxy's confirmation: %s", r.Raw)
	}
	if b := w.balance(t); b != before-3000 {
		t.Fatalf("balance %d, want %d", b, before-3000)
	}
	// The audit entry names both identities: its actor is the proxy's own
	// account, its detail the resident acted for and the link.
	var entries []struct {
		ActorKind, ActorID, OnBehalfOf, LinkAccount, LinkResident string
	}
	if err := e.DB.Raw(`SELECT a.actor_kind, a.actor_id::text AS actor_id, coalesce(a.detail->>'onBehalfOf', '') AS on_behalf_of,
		coalesce(p.account_id::text, '') AS link_account, coalesce(p.resident_id::text, '') AS link_resident
		FROM audit_log a LEFT JOIN resident_proxies p ON p.id = (a.detail->>'proxyLinkId')::uuid
		WHERE a.action = 'confirmServiceOrder' AND a.entity_id = ?`, mustUUID(t, order)).Scan(&entries).Error; err != nil {
		t.Fatal(err)
	}
	res := w.resident.ID.String()
	if len(entries) != 1 || entries[0].ActorKind != "WECHAT" || entries[0].OnBehalfOf != res || entries[0].LinkResident != res ||
		entries[0].LinkAccount != entries[0].ActorID {
		t.Fatalf("audit of the proxy's confirmation: %+v", entries)
	}
	var own string
	testenv.MustScan(t, e.DB, "SELECT coalesce(string_agg(id::text, ','), '') FROM wechat_accounts WHERE resident_id = ?", testenv.Args(w.resident.ID), &own)
	if strings.Contains(own, entries[0].ActorID) {
		t.Fatalf("the proxy's confirmation is audited as the resident's own account")
	}
	// The proxy disputes the visit: audited the same way.
	if r := e.MustDo(t, spender, `mutation($o:ID!){disputeServiceOrder(orderId:$o,reason:"母亲说未上门"){order{status} userErrors{code message}}}`,
		map[string]any{"o": order}); r.Str("disputeServiceOrder.order.status") != "DISPUTED" {
		t.Fatalf("the proxy's dispute: %s", r.Raw)
	}
	var onBehalf string
	testenv.MustScan(t, e.DB, `SELECT coalesce(detail->>'onBehalfOf', '') FROM audit_log WHERE action = 'disputeServiceOrder' AND entity_id = ? AND actor_id::text = ?`,
		testenv.Args(mustUUID(t, order), entries[0].ActorID), &onBehalf)
	if onBehalf != res {
		t.Fatalf("the proxy's dispute is audited for %q, want %s", onBehalf, res)
	}
}

// TestDeathCancelsOpenVisits: a death recorded while a visit waits for
// the elder's confirmation cancels the order in the same transaction
// (resident.Consequence), and it can no longer be confirmed or paid.
func TestDeathCancelsOpenVisits(t *testing.T) {
	e := testenv.New(t)
	w := newCareWorld(t, e, false, 0)
	order := w.order(t, 1)
	r := e.MustDo(t, w.admin, `mutation($in:RecordDeathInput!){recordDeath(input:$in){lifeEvent{closed{kind count}} userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"residentId": w.res, "date": civil.DateOf(time.Now()).String(), "source": "医院死亡证明"}})
	cancelled := false
	closed, _ := r.Get("recordDeath.lifeEvent.closed").([]any)
	for i := range closed {
		if r.Str("recordDeath.lifeEvent.closed."+itoa(i)+".kind") == "serviceOrdersCancelled" &&
			r.Get("recordDeath.lifeEvent.closed."+itoa(i)+".count") == float64(1) {
			cancelled = true
		}
	}
	if !cancelled {
		t.Fatalf("recordDeath: %s", r.Raw)
	}
	o := e.MustDo(t, w.admin, `query($id:ID!){node(id:$id){... on ServiceOrder{status}}}`, map[string]any{"id": order})
	if o.Str("node.status") != "CANCELLED" {
		t.Fatalf("order after the death: %s", o.Raw)
	}
	if c := w.confirmWithCard(t, w.worker, order, w.pin); c.Get("confirmServiceOrderWithCard.order") != nil {
		t.Fatalf("a cancelled visit was confirmed: %s", c.Raw)
	}
}

// fakeSMS is an SMS gateway of the contract notify.SMSSender speaks (POST
// /send, JSON {phone, template, params}, the key as a bearer token), as
// the notify tests' fake is: it keeps what it was sent.
type fakeSMS struct {
	*httptest.Server
	mu   sync.Mutex
	sent []smsSent
}

type smsSent struct {
	Phone    string            `json:"phone"`
	Template string            `json:"template"`
	Params   map[string]string `json:"params"`
}

func newFakeSMS(t *testing.T) *fakeSMS {
	t.Helper()
	f := &fakeSMS{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/send" || r.Header.Get("Authorization") != "Bearer sms-key" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		var m smsSent
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.sent = append(f.sent, m)
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(f.Close)
	return f
}

// withSMS points the app at f, with no background dispatcher (the test
// sends the outbox itself).
func withSMS(f *fakeSMS) testenv.Option {
	return testenv.WithConfig(func(c *config.Config) { c.SMSAPIBase, c.SMSAPIKey, c.NotifyPoll = f.URL, "sms-key", 0 })
}

// codes sends the outbox and answers the visit codes the fake received
// since the last call, by phone.
func (f *fakeSMS) codes(t *testing.T, e *testenv.Env) map[string]string {
	t.Helper()
	for {
		n, err := e.App.Notify.DispatchOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for _, m := range f.sent {
		if m.Template != "VISIT_CODE" {
			continue
		}
		if c := codeIn.FindString(m.Params["note"]); c != "" {
			out[m.Phone] = c
		}
	}
	f.sent = nil
	return out
}

var codeIn = regexp.MustCompile(`[0-9]{6}`)

const (
	requestCodeDoc = `mutation($o:ID!){requestServiceOrderCode(orderId:$o){maskedPhone expiresAt userErrors{code message}}}`
	codeDoc        = `mutation($in:ConfirmServiceOrderWithCodeInput!){confirmServiceOrderWithCode(input:$in){order{` + careOrderFields + `} userErrors{code message}}}`
)

func (w *careWorld) confirmWithCode(t *testing.T, tok, order, code string) *testenv.Response {
	t.Helper()
	return w.e.MustDo(t, tok, codeDoc, map[string]any{"in": map[string]any{"orderId": order, "code": code, "position": home}})
}

// TestHomeCareSMSCode: the worker asks for a code at check-out; six
// digits go by SMS to the resident's own phone (the outbox, sent to the
// fake gateway), stored only as a hash and removed from the outbox once
// sent; requests are throttled; a wrong code counts, a right one pays the
// visit once (retries draw nothing); codes expire, and five wrong ones end
// a code. A worker of another provider can neither ask nor confirm.
func TestHomeCareSMSCode(t *testing.T) {
	sms := newFakeSMS(t)
	e := testenv.New(t, withSMS(sms))
	w := newCareWorld(t, e, false, 0)
	other := newCareWorld(t, e, false, 0)
	before := w.balance(t)
	order := w.order(t, 1)

	if r := e.MustDo(t, other.worker, requestCodeDoc, map[string]any{"o": order}); r.Str("requestServiceOrderCode.userErrors.0.code") != "NOT_FOUND" {
		t.Fatalf("another provider's worker asked for a code: %s", r.Raw)
	}
	if got := sms.codes(t, e); len(got) != 0 {
		t.Fatalf("a refused request texted %v", got)
	}
	r := e.MustDo(t, w.worker, requestCodeDoc, map[string]any{"o": order})
	masked := r.Str("requestServiceOrderCode.maskedPhone")
	if masked == "" || masked == w.resident.Phone || !strings.HasSuffix(w.resident.Phone, masked[len(masked)-4:]) ||
		r.Str("requestServiceOrderCode.expiresAt") == "" {
		t.Fatalf("request: %s", r.Raw)
	}
	// Throttled: a second code within the minute is refused.
	if r := e.MustDo(t, w.worker, requestCodeDoc, map[string]any{"o": order}); r.Str("requestServiceOrderCode.userErrors.0.code") != "TOO_MANY_ATTEMPTS" {
		t.Fatalf("a second code at once: %s", r.Raw)
	}
	oid := mustUUID(t, order)
	var hash string
	testenv.MustScan(t, e.DB, "SELECT code_hash FROM visit_codes WHERE order_id = ?", testenv.Args(oid), &hash)
	codes := sms.codes(t, e)
	code := codes[w.resident.Phone]
	if len(codes) != 1 || code == "" {
		t.Fatalf("texted %v, want one code to the resident's phone", codes)
	}
	if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, code) {
		t.Fatalf("the code is not stored hashed: %s", hash)
	}
	var left int
	var sent int
	testenv.MustScan(t, e.DB, `SELECT count(*) FILTER (WHERE payload->>'code' IS NOT NULL), count(*) FILTER (WHERE status = 'SENT')
		FROM notifications WHERE kind = 'VISIT_CODE' AND payload->>'orderId' = ?`, testenv.Args(fmt.Sprint(oid)), &left, &sent)
	if left != 0 || sent != 1 {
		t.Fatalf("%d of the visit's notifications still hold their code, %d sent (want 0, 1)", left, sent)
	}

	wrong := fmt.Sprintf("%06d", (mustAtoi(t, code)+1)%1_000_000)
	if r := w.confirmWithCode(t, w.worker, order, wrong); r.Str("confirmServiceOrderWithCode.userErrors.0.code") != "INVALID_CREDENTIALS" {
		t.Fatalf("a wrong code: %s", r.Raw)
	}
	if r := w.confirmWithCode(t, other.worker, order, code); r.Str("confirmServiceOrderWithCode.userErrors.0.code") != "NOT_FOUND" {
		t.Fatalf("another provider's worker confirmed: %s", r.Raw)
	}
	r = w.confirmWithCode(t, w.worker, order, code)
	if r.Str("confirmServiceOrderWithCode.order.status") != "REDEEMED" || r.Str("confirmServiceOrderWithCode.order.confirmedVia") != "SMS_CODE" {
		t.Fatalf("confirm: %s", r.Raw)
	}
	if b := w.balance(t); b != before-3000 {
		t.Fatalf("balance %d, want %d", b, before-3000)
	}
	// A retry answers the paid visit; nothing more is drawn, and the code
	// cannot be asked for again.
	if r := w.confirmWithCode(t, w.worker, order, code); r.Str("confirmServiceOrderWithCode.order.status") != "REDEEMED" {
		t.Fatalf("retry: %s", r.Raw)
	}
	if b := w.balance(t); b != before-3000 {
		t.Fatalf("a retry drew again: %d", b)
	}
	if r := e.MustDo(t, w.worker, requestCodeDoc, map[string]any{"o": order}); r.Get("requestServiceOrderCode.userErrors.0") == nil {
		t.Fatalf("a code for a paid visit: %s", r.Raw)
	}

	// Expiry, then five wrong codes end the next one.
	order2 := w.order(t, 1)
	e.MustDo(t, w.worker, requestCodeDoc, map[string]any{"o": order2})
	code = sms.codes(t, e)[w.resident.Phone]
	e.Clock.Advance(CodeTTL + time.Second)
	if r := w.confirmWithCode(t, w.worker, order2, code); r.Str("confirmServiceOrderWithCode.userErrors.0.code") != "TOKEN_EXPIRED" {
		t.Fatalf("an expired code: %s", r.Raw)
	}
	if r := e.MustDo(t, w.worker, requestCodeDoc, map[string]any{"o": order2}); r.Get("requestServiceOrderCode.userErrors.0") != nil {
		t.Fatalf("a new code after expiry: %s", r.Raw)
	}
	code = sms.codes(t, e)[w.resident.Phone]
	wrong = fmt.Sprintf("%06d", (mustAtoi(t, code)+7)%1_000_000)
	for i := 1; i <= 5; i++ {
		if r := w.confirmWithCode(t, w.worker, order2, wrong); r.Str("confirmServiceOrderWithCode.userErrors.0.code") != "INVALID_CREDENTIALS" {
			t.Fatalf("wrong code %d: %s", i, r.Raw)
		}
	}
	if r := w.confirmWithCode(t, w.worker, order2, code); r.Str("confirmServiceOrderWithCode.userErrors.0.code") != "TOO_MANY_ATTEMPTS" {
		t.Fatalf("the right code after five wrong ones: %s", r.Raw)
	}
	if b := w.balance(t); b != before-3000 {
		t.Fatalf("balance %d after refusals, want %d", b, before-3000)
	}
}

// CodeTTL is homecare.CodeTTL, as the tests wait it out.
const CodeTTL = 5 * time.Minute

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}

// TestHomeCareCapsCreatorsAndDisputeWindow: an order made by the resident
// in the mini-program, one by the provider and one at the counter all
// price the visit from the list; a program's cap per category and period
// refuses the order over it (a cancelled one does not count); a paid visit
// can be disputed within 30 days of its confirmation, not after.
func TestHomeCareCapsCreatorsAndDisputeWindow(t *testing.T) {
	fake := testenv.NewFakeWechat(t)
	e := testenv.New(t, testenv.WithWechat(fake))
	w := newCareWorld(t, e, true, 0)
	const setCap = `mutation($p:ID!,$n:Int){setCareCap(input:{programId:$p,category:BATHING,period:WEEK,maxVisits:$n}){caps{period maxVisits} userErrors{code message}}}`
	if r := e.MustDo(t, w.admin, setCap, map[string]any{"p": w.program, "n": 2}); r.Get("setCareCap.userErrors.0") != nil {
		t.Fatalf("setCareCap: %s", r.Raw)
	}
	// The program is shared by the package's tests: the cap goes again.
	t.Cleanup(func() { e.MustDo(t, w.admin, setCap, map[string]any{"p": w.program, "n": nil}) })
	const create = `mutation($in:CreateServiceOrderInput!){createServiceOrder(input:$in){order{id status amountFen} userErrors{code message}}}`
	today := civil.DateOf(time.Now()).String()
	mine := e.MustDo(t, w.residentT, create, map[string]any{"in": map[string]any{"providerId": w.providerID, "itemId": w.item, "quantity": 2, "scheduledDate": today}})
	if mine.Str("createServiceOrder.order.status") != "REQUESTED" || mine.Get("createServiceOrder.order.amountFen") != float64(6000) {
		t.Fatalf("the resident's order: %s", mine.Raw)
	}
	theirs := e.MustDo(t, w.provider, create, map[string]any{"in": map[string]any{"residentId": w.res, "itemId": w.item, "scheduledDate": today}})
	if theirs.Get("createServiceOrder.order.amountFen") != float64(3000) {
		t.Fatalf("the provider's order: %s", theirs.Raw)
	}
	over := map[string]any{"in": map[string]any{"residentId": w.res, "providerId": w.providerID, "itemId": w.item, "scheduledDate": today}}
	if r := e.MustDo(t, w.clerk, create, over); r.Str("createServiceOrder.userErrors.0.code") != "NOT_ELIGIBLE" {
		t.Fatalf("a third bath in the week: %s", r.Raw)
	}
	if r := e.MustDo(t, w.residentT, `mutation($o:ID!){cancelServiceOrder(orderId:$o,reason:"改期"){order{status} userErrors{code message}}}`,
		map[string]any{"o": mine.Str("createServiceOrder.order.id")}); r.Str("cancelServiceOrder.order.status") != "CANCELLED" {
		t.Fatalf("cancel: %s", r.Raw)
	}
	if r := e.MustDo(t, w.clerk, create, over); r.Str("createServiceOrder.order.status") != "REQUESTED" {
		t.Fatalf("after a cancellation the cap has room: %s", r.Raw)
	}

	// The dispute window: 30 days from the confirmation.
	e.MustDo(t, w.admin, setCap, map[string]any{"p": w.program, "n": nil})
	order := w.order(t, 1)
	if r := e.MustDo(t, w.residentT, `mutation($o:ID!){confirmServiceOrder(orderId:$o){order{status} userErrors{code}}}`, map[string]any{"o": order}); r.Str("confirmServiceOrder.order.status") != "REDEEMED" {
		t.Fatalf("confirm: %s", r.Raw)
	}
	if err := e.DB.Exec("UPDATE service_orders SET confirmed_at = confirmed_at - interval '31 days' WHERE id = ?", mustUUID(t, order)).Error; err != nil {
		t.Fatal(err)
	}
	const dispute = `mutation($o:ID!){disputeServiceOrder(orderId:$o,reason:"未上门"){order{status} userErrors{code message}}}`
	if r := e.MustDo(t, w.residentT, dispute, map[string]any{"o": order}); r.Str("disputeServiceOrder.userErrors.0.code") != "INVALID_TRANSITION" {
		t.Fatalf("a dispute after 31 days: %s", r.Raw)
	}
	if err := e.DB.Exec("UPDATE service_orders SET confirmed_at = confirmed_at + interval '2 days' WHERE id = ?", mustUUID(t, order)).Error; err != nil {
		t.Fatal(err)
	}
	if r := e.MustDo(t, w.residentT, dispute, map[string]any{"o": order}); r.Str("disputeServiceOrder.order.status") != "DISPUTED" {
		t.Fatalf("a dispute on day 29: %s", r.Raw)
	}
}
