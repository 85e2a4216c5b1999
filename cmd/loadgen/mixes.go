package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jinjiang/residents/internal/civil"
)

const residentQuery = `query($id:ID!){resident(id:$id){id name idNumberMasked gender age phoneMasked statuses careLevel community{name}}}`

const residentsQuery = `query($a:String){residents(first:100,after:$a){totalCount pageInfo{hasNextPage endCursor}
  edges{node{id name idNumberMasked age careLevel statuses community{name} emergencyContacts{name phoneMasked priority}
  vouchers{balanceFen status} voucherBalanceFen disabilityCertificate{grade category}}}}}`

// residentIDs pages through residents as the viewer until n ids are known.
func residentIDs(ctx context.Context, c *client, token string, n int) ([]string, error) {
	var ids []string
	err := residentNodes(ctx, c, token, "id", func(node any) bool {
		if id, ok := dig(node, "id").(string); ok {
			ids = append(ids, id)
		}
		return len(ids) < n
	})
	if err == nil && len(ids) == 0 {
		err = fmt.Errorf("no residents: run with -prepare N")
	}
	return ids, err
}

// residentNodes pages through residents newest first, selecting fields,
// and hands each node to each until it answers false or the list ends.
func residentNodes(ctx context.Context, c *client, token, fields string, each func(node any) bool) error {
	var after any
	for {
		r, err := c.do(ctx, token, `query($a:String){residents(first:100,after:$a){pageInfo{hasNextPage endCursor} edges{node{`+fields+`}}}}`,
			map[string]any{"a": after})
		if err != nil {
			return err
		}
		if code := r.errCode(""); code != "" {
			return fmt.Errorf("residents: %s", code)
		}
		edges, _ := dig(r.Data(), "residents", "edges").([]any)
		for i := range edges {
			if !each(dig(edges, i, "node")) {
				return nil
			}
		}
		if dig(r.Data(), "residents", "pageInfo", "hasNextPage") != true {
			return nil
		}
		after = dig(r.Data(), "residents", "pageInfo", "endCursor")
	}
}

// readMix: resident(id) 70%, residents(first:100) with nested fields 10%, me 20%.
func readMix(ctx context.Context, c *client, st *stats, o options) (time.Duration, error) {
	tok, err := c.login(ctx, "clerk", "demo-password")
	if err != nil {
		return 0, err
	}
	ids, err := residentIDs(ctx, c, tok, 2000)
	if err != nil {
		return 0, err
	}
	return drive(ctx, o.concurrency, o.duration, func(ctx context.Context, w int, i int64) {
		x := rand.IntN(10)
		switch o.mix {
		case "read-one":
			x = 0
		case "read-list":
			x = 7
		}
		switch {
		case x < 7:
			timed(ctx, st, c, "resident(id)", tok, residentQuery, map[string]any{"id": ids[rand.IntN(len(ids))]}, "")
		case x < 8:
			timed(ctx, st, c, "residents(first:100)", tok, residentsQuery, nil, "")
		default:
			timed(ctx, st, c, "me", tok, `{me{id displayName roles orgUnit{name}}}`, nil, "")
		}
	}), nil
}

func today() string { return civil.DateOf(time.Now()).String() }
func month() string { return civil.MonthOf(civil.DateOf(time.Now())).String() }

// enrollAll enrolls residents concurrently and issues this month's vouchers.
func enrollAll(ctx context.Context, c *client, admin, program string, ids []string, conc int) error {
	var wg sync.WaitGroup
	ch := make(chan string)
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ch {
				r, err := c.do(ctx, admin, `mutation($p:ID!,$r:ID!){enrollResident(programId:$p,residentId:$r){userErrors{code}}}`, map[string]any{"p": program, "r": id})
				if err == nil {
					if code := r.errCode("enrollResident"); code != "" && code != "DUPLICATE" {
						err = fmt.Errorf("enroll: %s", code)
					}
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, id := range ids {
		ch <- id
	}
	close(ch)
	wg.Wait()
	return firstErr
}

// issue issues a period and follows its run to the end (issueVouchers
// answers within its wait, 2 s, with the run perhaps still RUNNING). It
// returns the run's end as node(id:) shows it, how long the mutation took
// to answer, and how long from the mutation to the run's end. A period
// other than this month or the next is a backfill, which the admin allows.
func issue(ctx context.Context, c *client, admin, program, period string) (fin map[string]any, answered, total time.Duration, err error) {
	start := time.Now()
	r, err := c.do(ctx, admin, `mutation($p:ID!,$m:String!){issueVouchers(input:{programId:$p,period:$m,allowBackfill:true}){run{id} userErrors{code message}}}`,
		map[string]any{"p": program, "m": period})
	answered = time.Since(start)
	if err != nil {
		return nil, answered, answered, err
	}
	if code := r.errCode("issueVouchers"); code != "" {
		return nil, answered, answered, fmt.Errorf("issueVouchers: %s", code)
	}
	id, _ := dig(r.Data(), "issueVouchers", "run", "id").(string)
	fin, err = follow(ctx, c, admin, id, "IssuanceRun", "issuedCount skippedCount issuedFen")
	return fin, answered, time.Since(start), err
}

// redeemMix: a clerk creates a single-use token for a resident, the
// provider redeems it. Spread over many residents, or all on one.
func redeemMix(ctx context.Context, c *client, st *stats, o options) (time.Duration, error) {
	admin, err := c.login(ctx, "admin", envOr("SEED_ADMIN_PASSWORD", "admin-dev-password"))
	if err != nil {
		return 0, err
	}
	clerk, err := c.login(ctx, "clerk", "demo-password")
	if err != nil {
		return 0, err
	}
	provider, err := c.login(ctx, "provider1", "demo-password")
	if err != nil {
		return 0, err
	}
	pr, _ := c.do(ctx, provider, `{me{provider{categories}}}`, nil)
	category, _ := dig(pr.Data(), "me", "provider", "categories", 0).(string)
	// A program of its own whose one rule matches everyone, so every
	// resident in the run has a balance to draw from.
	program, err := newProgram(ctx, c, admin, fmt.Sprintf("LGR%d", time.Now().Unix()), category, 1_000_000)
	if err != nil {
		return 0, err
	}
	n := o.residents
	amount := 100
	if o.mix == "redeem-hot" {
		n, amount = 1, 1
	}
	ids, err := residentIDs(ctx, c, admin, n)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := enrollAll(ctx, c, admin, program, ids, 16); err != nil {
		return 0, err
	}
	res, _, d, err := issue(ctx, c, admin, program, month())
	if err != nil {
		return 0, err
	}
	fmt.Printf("enrolled %d and issued %v in %v (issue %v)\n", len(ids), res, time.Since(start).Round(time.Millisecond), d.Round(time.Millisecond))
	run := time.Now().UnixNano()
	const tokenDoc = `mutation($p:ID!,$r:ID){createRedemptionToken(programId:$p,residentId:$r){token userErrors{code}}}`
	redeem := func(ctx context.Context, token string, i int64) {
		timed(ctx, st, c, "redeemVoucher", provider, `mutation($in:RedeemVoucherInput!){redeemVoucher(input:$in){redemption{id} remainingBalanceFen userErrors{code}}}`,
			map[string]any{"in": map[string]any{"token": token, "category": category, "amountFen": amount, "serviceDate": today(),
				"idempotencyKey": fmt.Sprintf("lg-%d-%d", run, i)}}, "redeemVoucher")
	}
	if o.tokens == 0 { // each redemption preceded by its token, timed too
		return drive(ctx, o.concurrency, o.duration, func(ctx context.Context, w int, i int64) {
			t := timed(ctx, st, c, "createRedemptionToken", clerk, tokenDoc, map[string]any{"p": program, "r": ids[int(i)%len(ids)]}, "createRedemptionToken")
			if token, _ := dig(t.Data(), "createRedemptionToken", "token").(string); token != "" {
				redeem(ctx, token, i)
			}
		}), nil
	}
	// Tokens made beforehand (as residents would, each on their own phone):
	// the timed phase is redemptions only, until the time or the tokens
	// run out.
	start = time.Now()
	tokens := make([]string, o.tokens)
	prep := newStats()
	drive(ctx, 16, time.Hour, func(ctx context.Context, w int, i int64) {
		t := timed(ctx, prep, c, "createRedemptionToken", clerk, tokenDoc, map[string]any{"p": program, "r": ids[int(i)%len(ids)]}, "createRedemptionToken")
		tokens[i-1], _ = dig(t.Data(), "createRedemptionToken", "token").(string)
	}, func(i int64) bool { return i > int64(len(tokens)) })
	fmt.Printf("created %d tokens in %v\n", len(tokens), time.Since(start).Round(time.Millisecond))
	return drive(ctx, o.concurrency, o.duration, func(ctx context.Context, w int, i int64) {
		if tok := tokens[i-1]; tok != "" {
			redeem(ctx, tok, i)
		}
	}, func(i int64) bool { return i > int64(len(tokens)) }), nil
}

// intakeMix: the telephony system reports calls with fresh call ids.
func intakeMix(ctx context.Context, c *client, st *stats, o options) (time.Duration, error) {
	tok, err := c.login(ctx, "telephony", "demo-password")
	if err != nil {
		return 0, err
	}
	run := time.Now().UnixNano()
	return drive(ctx, o.concurrency, o.duration, func(ctx context.Context, w int, i int64) {
		timed(ctx, st, c, "receiveEmergencyCall", tok, `mutation($in:ReceiveEmergencyCallInput!){receiveEmergencyCall(input:$in){call{id status} userErrors{code}}}`,
			map[string]any{"in": map[string]any{"externalCallId": fmt.Sprintf("lg-%d-%d", run, i), "callerNumber": fmt.Sprintf("139%08d", rand.IntN(1e8)), "kind": "ALARM_BUTTON"}},
			"receiveEmergencyCall")
	}), nil
}

// issueMix: a fresh program, N residents enrolled, one issuance timed, then
// a second run that must issue nothing.
func issueMix(ctx context.Context, c *client, st *stats, o options) (time.Duration, error) {
	admin, err := c.login(ctx, "admin", envOr("SEED_ADMIN_PASSWORD", "admin-dev-password"))
	if err != nil {
		return 0, err
	}
	program, err := newProgram(ctx, c, admin, fmt.Sprintf("LG%d", time.Now().Unix()), "MEAL", 100)
	if err != nil {
		return 0, err
	}
	ids, err := residentIDs(ctx, c, admin, o.residents)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := enrollAll(ctx, c, admin, program, ids, o.concurrency); err != nil {
		return 0, err
	}
	fmt.Printf("enrolled %d residents in %v\n", len(ids), time.Since(start).Round(time.Millisecond))
	begin := time.Now()
	for _, op := range []string{"issueVouchers (first run)", "issueVouchers (second run)"} {
		res, _, d, err := issue(ctx, c, admin, program, month())
		if err != nil {
			return 0, err
		}
		st.record(op, d, "")
		fmt.Printf("%s: %v in %v\n", op, res, d.Round(time.Millisecond))
	}
	return time.Since(begin), nil
}

// newProgram creates and activates a program with one rule that matches
// every enrolled resident.
func newProgram(ctx context.Context, c *client, admin, code, category string, amount int) (string, error) {
	r, err := c.do(ctx, admin, `mutation($in:CreateVoucherProgramInput!){createVoucherProgram(input:$in){program{id} userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"code": code, "name": "负载测试券 " + code, "categories": []string{category}, "rules": []any{map[string]any{"amountFen": amount}}}})
	if err != nil {
		return "", err
	}
	program, _ := dig(r.Data(), "createVoucherProgram", "program", "id").(string)
	if program == "" {
		return "", fmt.Errorf("createVoucherProgram: %s", r.errCode("createVoucherProgram"))
	}
	if _, err := c.do(ctx, admin, `mutation($id:ID!){activateVoucherProgram(id:$id){userErrors{code}}}`, map[string]any{"id": program}); err != nil {
		return "", err
	}
	return program, nil
}

// issueDistrictMix: every resident of the district enrolled in a program
// by one enrollResidents run, then the period issued by one issuance run
// and issued again (which must issue nothing), each timed end to end: from
// the mutation to the run's end, followed through node(id:).
func issueDistrictMix(ctx context.Context, c *client, st *stats, o options) (time.Duration, error) {
	admin, err := c.login(ctx, "admin", envOr("SEED_ADMIN_PASSWORD", "admin-dev-password"))
	if err != nil {
		return 0, err
	}
	r, err := c.do(ctx, admin, `{voucherPrograms{id code}}`, nil)
	if err != nil {
		return 0, err
	}
	program := ""
	progs, _ := dig(r.Data(), "voucherPrograms").([]any)
	for i := range progs {
		if dig(r.Data(), "voucherPrograms", i, "code") == o.program {
			program, _ = dig(r.Data(), "voucherPrograms", i, "id").(string)
		}
	}
	if program == "" {
		return 0, fmt.Errorf("no program %s", o.program)
	}
	period := o.period
	if period == "" {
		period = month()
	}
	begin := time.Now()
	start := time.Now()
	r, err = c.do(ctx, admin, `mutation($p:ID!){enrollResidents(programId:$p,filter:{}){run{id} userErrors{code message}}}`, map[string]any{"p": program})
	if err != nil {
		return 0, err
	}
	if code := r.errCode("enrollResidents"); code != "" {
		return 0, fmt.Errorf("enrollResidents: %s", code)
	}
	id, _ := dig(r.Data(), "enrollResidents", "run", "id").(string)
	fin, err := follow(ctx, c, admin, id, "EnrollmentRun", "enrolledCount")
	if err != nil {
		return 0, err
	}
	st.record("enrollResidents (whole district, to the run's end)", time.Since(start), "")
	fmt.Printf("enrollResidents: %v in %v\n", fin, time.Since(start).Round(time.Millisecond))
	for _, op := range []string{"issueVouchers (first run, to the run's end)", "issueVouchers (second run, to the run's end)"} {
		fin, answered, d, err := issue(ctx, c, admin, program, period)
		if err != nil {
			return 0, err
		}
		st.record(op, d, "")
		fmt.Printf("%s: %v in %v (the mutation answered in %v)\n", op, fin, d.Round(time.Millisecond), answered.Round(time.Millisecond))
	}
	return time.Since(begin), nil
}

// follow polls a run through node(id:) every half second, printing its
// progress, until it has ended; a FAILED run is an error.
func follow(ctx context.Context, c *client, tok, id, typ, fields string) (map[string]any, error) {
	doc := `query($id:ID!){node(id:$id){... on ` + typ + `{status residentsTotal residentsDone error ` + fields + `}}}`
	last := time.Time{}
	for {
		r, err := c.do(ctx, tok, doc, map[string]any{"id": id})
		if err != nil {
			return nil, err
		}
		n, _ := dig(r.Data(), "node").(map[string]any)
		if n == nil {
			return nil, fmt.Errorf("%s %s not found", typ, id)
		}
		switch n["status"] {
		case "SUCCEEDED":
			return n, nil
		case "FAILED":
			return nil, fmt.Errorf("%s failed: %v", typ, n["error"])
		}
		if time.Since(last) > 5*time.Second {
			last = time.Now()
			fmt.Printf("  %s: %v/%v\n", typ, n["residentsDone"], n["residentsTotal"])
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
