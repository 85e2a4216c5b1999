package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// visitMix: home-care visits, confirmation to redemption. Prepared
// untimed: a program whose one rule matches everyone, a price-list item
// provider1 offers, one care worker per client (so no worker is in two
// homes at once), and per resident a service card and one order taken
// through assignment, check-in and check-out (one visit a resident, under
// the daily cap). Timed: confirmServiceOrderWithCard at -concurrency
// clients, each paying its visit through the redemption engine; every
// answer must be REDEEMED. Each confirmation is one transaction on the
// server: the order and card locked, the PIN verified (argon2id at the PIN
// parameters, a fraction of a millisecond: internal/homecare/pin.go), the
// redemption engine's statement, the order's update with its audit entry.
// (A mini-program confirmation has no PIN, but needs a WeChat session per
// resident, which the generator cannot make without a fake WeChat server;
// an SMS code needs the texted code, which only a fake gateway sees.)
func visitMix(ctx context.Context, c *client, st *stats, o options) (time.Duration, error) {
	plan, err := loadVisitPlan(o.visitState)
	if err != nil {
		return 0, err
	}
	var took string
	if plan == nil {
		start := time.Now()
		if plan, err = prepareVisits(ctx, c, o); err != nil {
			return 0, err
		}
		took = fmt.Sprintf("in %v", time.Since(start).Round(time.Millisecond))
		if o.visitState != "" {
			// Saved to be confirmed on copies of this database: this
			// one's visits stay unconfirmed.
			fmt.Printf("prepared %d visits %s, saved to %s\n", len(plan.Orders), took, o.visitState)
			return 0, plan.save(o.visitState)
		}
	} else {
		took = "read from " + o.visitState
	}
	tokens := plan.tokens // signed in by the preparation, or now
	for w := len(tokens); w < len(plan.Workers); w++ {
		t, err := c.login(ctx, plan.Workers[w], workerPassword)
		if err != nil {
			return 0, err
		}
		tokens = append(tokens, t)
	}
	// Printed when the timed phase starts (the workers' logins, heavy
	// argon2id, are done): a script may start counting CPU here.
	fmt.Printf("prepared %d visits (enrolled, issued, cards, orders checked out) %s\n", len(plan.Orders), took)
	const confirm = `mutation($in:ConfirmServiceOrderWithCardInput!){confirmServiceOrderWithCard(input:$in){order{status} userErrors{code}}}`
	var notRedeemed sync.Map
	elapsed := drive(ctx, o.concurrency, o.duration, func(ctx context.Context, w int, i int64) {
		k := int(i - 1)
		r := timed(ctx, st, c, "confirmServiceOrderWithCard", tokens[plan.By[k]], confirm,
			map[string]any{"in": map[string]any{"orderId": plan.Orders[k], "cardNumber": plan.Cards[k], "pin": visitPIN, "position": visitPosition}}, "confirmServiceOrderWithCard")
		if s, _ := dig(r.Data(), "confirmServiceOrderWithCard", "order", "status").(string); s != "REDEEMED" {
			notRedeemed.Store(k, s)
		}
	}, func(i int64) bool { return i > int64(len(plan.Orders)) })
	n := 0
	notRedeemed.Range(func(any, any) bool { n++; return true })
	if n > 0 {
		fmt.Printf("%d confirmations did not answer REDEEMED\n", n)
	}
	return elapsed, nil
}

// visitPosition is where every check-in, check-out and confirmation is
// sent from (no home is recorded, so no distance rule fires).
var visitPosition = map[string]any{"latitude": 30.657, "longitude": 104.08, "accuracyMeters": 10}

const (
	visitPIN       = "258147"
	workerPassword = "load-worker-pw-1"
)

// visitPlan is what the untimed preparation made: per visit its order,
// the resident's card and the index of the worker (in Workers, by
// username) who checked it out. -visit-state saves it, so that the timed
// phase can be run again on a copy of the prepared database (CREATE
// DATABASE … TEMPLATE) without the minutes of preparation.
type visitPlan struct {
	Workers []string
	Orders  []string
	Cards   []string
	By      []int
	// tokens are the workers' sessions when the preparation made them
	// (not saved: a run from the file signs them in again).
	tokens []string
}

func loadVisitPlan(path string) (*visitPlan, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p visitPlan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &p, nil
}

func (p *visitPlan) save(path string) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// prepareVisits makes the visits the timed phase confirms (untimed).
func prepareVisits(ctx context.Context, c *client, o options) (*visitPlan, error) {
	admin, err := c.login(ctx, "admin", envOr("SEED_ADMIN_PASSWORD", "admin-dev-password"))
	if err != nil {
		return nil, err
	}
	clerk, err := c.login(ctx, "clerk", "demo-password")
	if err != nil {
		return nil, err
	}
	provider, err := c.login(ctx, "provider1", "demo-password")
	if err != nil {
		return nil, err
	}
	run := time.Now().Unix()
	program, err := newProgram(ctx, c, admin, fmt.Sprintf("LGV%d", run), "CLEANING", 1_000_000)
	if err != nil {
		return nil, err
	}
	ids, err := residentIDs(ctx, c, admin, o.residents)
	if err != nil {
		return nil, err
	}
	if err := enrollAll(ctx, c, admin, program, ids, 16); err != nil {
		return nil, err
	}
	if _, _, _, err := issue(ctx, c, admin, program, month()); err != nil {
		return nil, err
	}
	must := func(r *gqlResponse, err error, field string, path ...any) (string, error) {
		if err != nil {
			return "", err
		}
		if code := r.errCode(field); code != "" {
			return "", fmt.Errorf("%s: %s", field, code)
		}
		s, _ := dig(r.Data(), path...).(string)
		return s, nil
	}
	r, err := c.do(ctx, admin, `mutation($in:CarePriceItemInput!){upsertCarePriceItem(input:$in){item{id} userErrors{code}}}`,
		map[string]any{"in": map[string]any{"programId": program, "code": fmt.Sprintf("LGV-%d", run), "name": "上门助洁", "category": "CLEANING",
			"unit": "次", "unitPriceFen": 100, "minimumMinutes": 0}})
	item, err := must(r, err, "upsertCarePriceItem", "upsertCarePriceItem", "item", "id")
	if err != nil {
		return nil, err
	}
	r, err = c.do(ctx, provider, `{me{provider{id}}}`, nil)
	pid, err := must(r, err, "", "me", "provider", "id")
	if err != nil {
		return nil, err
	}
	r, err = c.do(ctx, provider, `query($p:ID!){careItemsOffered(providerId:$p){id}}`, map[string]any{"p": pid})
	if err != nil {
		return nil, err
	}
	offered := []string{item}
	list, _ := dig(r.Data(), "careItemsOffered").([]any)
	for i := range list {
		if id, _ := dig(list, i, "id").(string); id != "" {
			offered = append(offered, id)
		}
	}
	r, err = c.do(ctx, provider, `mutation($ids:[ID!]!){setCareItemsOffered(itemIds:$ids){userErrors{code}}}`, map[string]any{"ids": offered})
	if _, err := must(r, err, "setCareItemsOffered"); err != nil {
		return nil, err
	}
	workers, workerTokens, usernames := make([]string, o.concurrency), make([]string, o.concurrency), make([]string, o.concurrency)
	for w := range workers {
		u := fmt.Sprintf("lgw%d-%d", run, w)
		usernames[w] = u
		r, err = c.do(ctx, provider, `mutation($u:String!,$p:String!){createCareWorker(input:{username:$u,password:$p,displayName:"负载护理员"}){worker{id} userErrors{code}}}`,
			map[string]any{"u": u, "p": workerPassword})
		if workers[w], err = must(r, err, "createCareWorker", "createCareWorker", "worker", "id"); err != nil {
			return nil, err
		}
		if workerTokens[w], err = c.login(ctx, u, workerPassword); err != nil {
			return nil, err
		}
	}
	// Per resident: a card, then an order through check-out by the worker
	// of the preparing client.
	cards, orders, by := make([]string, len(ids)), make([]string, len(ids)), make([]int, len(ids))
	var mu sync.Mutex
	var prepErr error
	fail := func(err error) {
		mu.Lock()
		if prepErr == nil {
			prepErr = err
		}
		mu.Unlock()
	}
	drive(ctx, o.concurrency, time.Hour, func(ctx context.Context, w int, i int64) {
		k := int(i - 1)
		// A server older than the PIN parameters hashed PINs in its
		// bounded argon2 pool, whose busy answer is 503: the preparation
		// waits and tries again.
		for try := 0; ; try++ {
			r, err := c.do(ctx, clerk, `mutation($r:ID!,$pin:String!){issueServiceCard(input:{residentId:$r,pin:$pin}){card{cardNumber} userErrors{code}}}`, map[string]any{"r": ids[k], "pin": visitPIN})
			if cards[k], err = must(r, err, "issueServiceCard", "issueServiceCard", "card", "cardNumber"); err == nil {
				break
			} else if try == 20 || !strings.Contains(err.Error(), "503") {
				fail(err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		// Own variables: the closure runs on every client at once, and
		// the function's r and err are shared (assigning them here once
		// gave two clients one order, and a check-in NOT_FOUND).
		created, err := c.do(ctx, clerk, `mutation($in:CreateServiceOrderInput!){createServiceOrder(input:$in){order{id} userErrors{code}}}`,
			map[string]any{"in": map[string]any{"residentId": ids[k], "providerId": pid, "itemId": item, "scheduledDate": today()}})
		order, err := must(created, err, "createServiceOrder", "createServiceOrder", "order", "id")
		if err != nil {
			fail(err)
			return
		}
		steps := []struct{ tok, doc, field string }{
			{provider, `mutation($o:ID!,$w:ID!){assignServiceOrder(orderId:$o,workerId:$w){userErrors{code}}}`, "assignServiceOrder"},
			{workerTokens[w], `mutation($o:ID!,$p:GeoPointInput!){checkInServiceOrder(input:{orderId:$o,position:$p}){userErrors{code}}}`, "checkInServiceOrder"},
			{workerTokens[w], `mutation($o:ID!,$p:GeoPointInput!){checkOutServiceOrder(input:{orderId:$o,position:$p}){userErrors{code}}}`, "checkOutServiceOrder"},
		}
		for _, s := range steps {
			vars := map[string]any{"o": order, "w": workers[w], "p": visitPosition}
			if !strings.Contains(s.doc, "$w") {
				delete(vars, "w")
			}
			if strings.Contains(s.doc, "$w") {
				delete(vars, "p")
			}
			r, err := c.do(ctx, s.tok, s.doc, vars)
			if _, err := must(r, err, s.field); err != nil {
				fail(err)
				return
			}
		}
		orders[k], by[k] = order, w
	}, func(i int64) bool { return i > int64(len(ids)) })
	if prepErr != nil {
		return nil, prepErr
	}
	return &visitPlan{Workers: usernames, Orders: orders, Cards: cards, By: by, tokens: workerTokens}, nil
}
