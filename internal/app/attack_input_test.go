package app_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/app"
	"github.com/jinjiang/residents/internal/resident"
	"github.com/jinjiang/residents/internal/testenv"
)

// The attack suite's cases on typed-in values: ID numbers, money, and the
// websocket handshake. The harness is in attack_test.go.

func idNumberAttacks() []attack {
	const reg = `mutation($in:RegisterResidentInput!){registerResident(input:$in){resident{id} userErrors{code field}}}`
	const lookup = `query($n:String!){residentByIdNumber(idNumber:$n){id name}}`
	const bind = `mutation($in:BindResidentInput!){bindResident(input:$in){resident{id} userErrors{code}}}`
	badChecksum := func(n string) string {
		c := byte('0')
		if n[17] == '0' {
			c = '1'
		}
		return n[:17] + string(c)
	}
	fullWidth := func(n string) string {
		var b strings.Builder
		for _, r := range n {
			if r >= '0' && r <= '9' {
				r = r - '0' + '０'
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	zeroWidth := func(n string) string { return n[:6] + "\u200b" + n[6:] }
	const sql = "510104' OR '1'='1"
	variants := []struct {
		name string
		of   func(s *suite) string
	}{
		{"bad checksum", func(s *suite) string { return badChecksum(s.idNumber) }},
		{"full-width digits", func(s *suite) string { return fullWidth(s.idNumber) }},
		{"zero-width space", func(s *suite) string { return zeroWidth(s.idNumber) }},
		{"SQL", func(*suite) string { return sql }},
	}
	var out []attack
	for _, v := range variants {
		out = append(out,
			attack{name: "registerResident, ID number with " + v.name, run: func(t *testing.T, s *suite, _ string) *testenv.Response {
				return s.e.Do(t, s.clerk, reg, map[string]any{"in": map[string]any{"name": "冒名", "idNumber": v.of(s), "communityId": communityOf(t, s)}})
			}, status: 200, userError: "registerResident.userErrors.0.code", code: "INVALID_ID_NUMBER"},
			attack{name: "residentByIdNumber, " + v.name, run: func(t *testing.T, s *suite, _ string) *testenv.Response {
				return s.e.Do(t, s.clerk, lookup, map[string]any{"n": v.of(s)})
			}, status: 200, code: "BAD_USER_INPUT", audit: 1, check: func(t *testing.T, s *suite, r *testenv.Response) {
				if r.Get("residentByIdNumber") != nil {
					t.Fatalf("found: %s", r.Raw)
				}
			}},
			attack{name: "bindResident, " + v.name, setup: func(t *testing.T, s *suite) string {
				return s.e.WechatLogin(t, fmt.Sprintf("ok:binder-%d", rand.IntN(1e9)))
			}, run: func(t *testing.T, s *suite, tok string) *testenv.Response {
				return s.e.Do(t, tok, bind, map[string]any{"in": map[string]any{"name": "张大爷", "idNumber": v.of(s), "phone": "13800001111"}})
			}, status: 200, userError: "bindResident.userErrors.0.code", code: "INVALID_ID_NUMBER"},
		)
	}
	return append(out,
		attack{name: "registerResident, lower-case x of a registered number", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			return s.e.Do(t, s.clerk, reg, map[string]any{"in": map[string]any{"name": "冒名", "idNumber": strings.ToLower(s.xResident.IDNumber), "communityId": communityOf(t, s)}})
		}, status: 200, userError: "registerResident.userErrors.0.code", code: "DUPLICATE"},
		attack{name: "residentByIdNumber, lower-case x finds the same resident, audited", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			return s.e.Do(t, s.clerk, lookup, map[string]any{"n": strings.ToLower(s.xResident.IDNumber)})
		}, status: 200, code: "", audit: 1, check: func(t *testing.T, s *suite, r *testenv.Response) {
			if r.Str("residentByIdNumber.name") != "带X居民" {
				t.Fatalf("lookup: %s", r.Raw)
			}
		}},
		attack{name: "blind-index probing is rate-limited", setup: func(t *testing.T, s *suite) string {
			// A burst's worth of look-ups in one aliased request: aliases
			// count one by one.
			var b strings.Builder
			b.WriteString("{")
			for i := 0; i < resident.LookupBurstLimit; i++ {
				fmt.Fprintf(&b, "a%d: residentByIdNumber(idNumber:%q){id} ", i, testenv.OtherIDNumber(s.idNumber))
			}
			b.WriteString("}")
			r := s.e.Do(t, s.lookupProber, b.String(), nil)
			if len(r.Errors) > 0 || len(r.Data) != resident.LookupBurstLimit {
				t.Fatalf("look-ups within the limit refused: %.400s", r.Raw)
			}
			return ""
		}, run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			return s.e.Do(t, s.lookupProber, lookup, map[string]any{"n": s.idNumber})
		}, status: 200, code: "TOO_MANY_ATTEMPTS", audit: 1, check: func(t *testing.T, s *suite, r *testenv.Response) {
			if r.Get("residentByIdNumber") != nil || strings.Contains(string(r.Raw), "张大爷") {
				t.Fatalf("answered over the limit: %s", r.Raw)
			}
			var outcome string
			testenv.MustScan(t, s.e.DB, "SELECT detail->>'outcome' FROM audit_log WHERE action = 'residentByIdNumber' ORDER BY id DESC LIMIT 1", nil, &outcome)
			if outcome != "rate_limited" {
				t.Fatalf("refused look-up audited as %q", outcome)
			}
			// Another staff user is not affected.
			if r := s.e.MustDo(t, s.clerk, lookup, map[string]any{"n": s.idNumber}); r.Str("residentByIdNumber.name") != "张大爷" {
				t.Fatalf("clerk throttled by another's probing: %s", r.Raw)
			}
		}},
		attack{name: "a spent daily look-up budget refuses, even within the burst", setup: func(t *testing.T, s *suite) string {
			// Spending a day's budget takes hours at the burst rate: set the
			// daily counter of caseworker (春熙路街道) as if it had.
			var uid uuid.UUID
			if err := s.e.DB.Raw("SELECT id FROM users WHERE username = 'caseworker'").Row().Scan(&uid); err != nil {
				t.Fatal(err)
			}
			key := s.e.Config.RedisKeyPrefix + "throttle:daily:idlookup:" + uid.String()
			if err := s.e.Redis.Set(context.Background(), key, resident.LookupDailyLimit, resident.LookupDailyWindow).Err(); err != nil {
				t.Fatal(err)
			}
			return s.e.As(t, "caseworker")
		}, run: func(t *testing.T, s *suite, tok string) *testenv.Response {
			return s.e.Do(t, tok, lookup, map[string]any{"n": s.idNumber})
		}, status: 200, code: "TOO_MANY_ATTEMPTS", audit: 1, check: func(t *testing.T, _ *suite, r *testenv.Response) {
			if r.Get("residentByIdNumber") != nil {
				t.Fatalf("answered over the daily limit: %s", r.Raw)
			}
		}},
	)
}

func communityOf(t *testing.T, s *suite) string {
	t.Helper()
	return s.e.MustDo(t, s.admin, `{orgUnits(kind:COMMUNITY){id}}`, nil).Str("orgUnits.0.id")
}

func moneyAttacks() []attack {
	fresh := func(t *testing.T, s *suite) string { return s.token(t) }
	redeemAs := func(who string, amount any, category, key string) func(*testing.T, *suite, string) *testenv.Response {
		return func(t *testing.T, s *suite, tok string) *testenv.Response {
			return s.e.Do(t, s.tok(t, who), redeemDoc, s.redeem(tok, amount, category, key))
		}
	}
	const program = `mutation($in:CreateVoucherProgramInput!){createVoucherProgram(input:$in){program{id} userErrors{code field}}}`
	programWith := func(amount, budget any) func(*testing.T, *suite, string) *testenv.Response {
		return func(t *testing.T, s *suite, _ string) *testenv.Response {
			in := map[string]any{"code": fmt.Sprintf("ATK-%d", rand.IntN(1e6)), "name": "攻击", "categories": []string{"MEAL"},
				"rules": []any{map[string]any{"minAge": 80, "amountFen": amount}}}
			if budget != nil {
				in["budgetPerPeriodFen"] = budget
			}
			return s.e.Do(t, s.admin, program, map[string]any{"in": in})
		}
	}
	const twoTo63 = uint64(1) << 63
	ue := "redeemVoucher.userErrors.0.code"
	return []attack{
		{name: "redeem a negative amount", setup: fresh, run: redeemAs("provider1", -1500, "", "neg"), status: 200, userError: ue, code: "INVALID"},
		{name: "redeem zero", setup: fresh, run: redeemAs("provider1", 0, "", "zero"), status: 200, userError: ue, code: "INVALID"},
		{name: "redeem a fractional amount", setup: fresh, run: redeemAs("provider1", 15.5, "", "frac"), status: 200, code: "BAD_USER_INPUT"},
		{name: "redeem 2^63 fen", setup: fresh, run: redeemAs("provider1", twoTo63, "", "huge"), status: 200, code: "BAD_USER_INPUT"},
		{name: "redeem the maximum int64", setup: fresh, run: redeemAs("provider1", int64(1<<63-1), "", "max"), status: 200, userError: ue, code: "INSUFFICIENT_BALANCE"},
		{name: "redeem on 30 February", setup: fresh, run: func(t *testing.T, s *suite, tok string) *testenv.Response {
			in := s.redeem(tok, 100, "", "feb30")
			in["in"].(map[string]any)["serviceDate"] = "2026-02-30"
			return s.e.Do(t, s.prov1, redeemDoc, in)
		}, status: 200, code: "BAD_USER_INPUT"},
		{name: "redeem an amount as a string", setup: fresh, run: redeemAs("provider1", "1500", "", "str"), status: 200, code: "BAD_USER_INPUT"},
		{name: "same idempotency key with another amount", setup: func(t *testing.T, s *suite) string {
			tok := s.token(t)
			key := fmt.Sprintf("idem-%d", rand.IntN(1e9))
			if r := s.e.MustDo(t, s.prov1, redeemDoc, s.redeem(tok, 100, "", key)); r.Str("redeemVoucher.redemption.id") == "" {
				t.Fatalf("first redemption: %s", r.Raw)
			}
			return s.token(t) + " " + key
		}, run: func(t *testing.T, s *suite, arg string) *testenv.Response {
			tok, key, _ := strings.Cut(arg, " ")
			return s.e.Do(t, s.prov1, redeemDoc, s.redeem(tok, 200, "", key))
		}, status: 200, userError: ue, code: "IDEMPOTENCY_MISMATCH"},
		{name: "provider redeems a category it does not offer", setup: fresh, run: func(t *testing.T, s *suite, tok string) *testenv.Response {
			return s.e.Do(t, s.prov2, redeemDoc, s.redeem(tok, 100, s.foreignCategory, "cat"))
		}, status: 200, userError: ue, code: "CATEGORY_NOT_ALLOWED"},
		{name: "provider names a resident instead of a token", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			in := s.redeem("x", 100, "", "who")
			in["in"].(map[string]any)["residentId"] = s.resident
			return s.e.Do(t, s.prov1, redeemDoc, in)
		}, status: 200, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "provider reuses another provider's used token", setup: func(t *testing.T, s *suite) string {
			tok := s.token(t)
			if r := s.e.MustDo(t, s.prov1, redeemDoc, s.redeem(tok, 100, "", fmt.Sprintf("used-%d", rand.IntN(1e9)))); r.Str("redeemVoucher.redemption.id") == "" {
				t.Fatalf("first redemption: %s", r.Raw)
			}
			return tok
		}, run: redeemAs("provider2", 100, "", "reuse"), status: 200, userError: ue, code: "TOKEN_USED"},
		{name: "provider invents a token", run: redeemAs("provider1", 100, "", "invent"), status: 200, userError: ue, code: "TOKEN_EXPIRED"},
		{name: "clerk redeems", setup: fresh, run: redeemAs("clerk", 100, "", "clerk"), status: 200, code: "FORBIDDEN"},
		{name: "program rule of a negative amount", run: programWith(-100, nil), status: 200, userError: "createVoucherProgram.userErrors.0.code", code: "INVALID"},
		{name: "program rule of zero", run: programWith(0, nil), status: 200, userError: "createVoucherProgram.userErrors.0.code", code: "INVALID"},
		{name: "program rule of a fractional amount", run: programWith(99.5, nil), status: 200, code: "BAD_USER_INPUT"},
		{name: "program budget of 2^63 fen", run: programWith(100, twoTo63), status: 200, code: "BAD_USER_INPUT"},
		{name: "program budget negative", run: programWith(100, -1), status: 200, userError: "createVoucherProgram.userErrors.0.code", code: "INVALID"},
	}
}

// enumAttacks send enum values the schema lacks. The enums bind to the
// domain types through gqlgen's enum_values, whose generated unmarshalling
// maps an unknown name to the empty value without an error, and gqlparser
// checks enums in variables ignoring case: graph.exactEnums refuses those.
func enumAttacks() []attack {
	const residents = `query($f:ResidentFilter){residents(filter:$f){totalCount}}`
	return []attack{
		{name: "enum literal the schema lacks", run: gql(`{residents(filter:{statuses:[LIVING_ALONE, BOGUS]}){totalCount}}`, nil)("admin"),
			status: 200, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "enum literal in lower case", run: gql(`{orgUnits(kind:street){id}}`, nil)("admin"),
			status: 200, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "enum literal as a string", run: gql(`{orgUnits(kind:"STREET"){id}}`, nil)("admin"),
			status: 200, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "enum variable the schema lacks", run: gql(`query($k:OrgUnitKind){orgUnits(kind:$k){id}}`, map[string]any{"k": "PLANET"})("admin"),
			status: 200, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "enum variable empty", run: gql(`query($k:OrgUnitKind){orgUnits(kind:$k){id}}`, map[string]any{"k": ""})("admin"),
			status: 200, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "enum in a variable's list the schema lacks", run: gql(residents, map[string]any{"f": map[string]any{"statuses": []string{"LIVING_ALONE", "BOGUS"}}})("admin"),
			status: 200, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "enum in lower case", run: gql(residents, map[string]any{"f": map[string]any{"careLevels": []string{"severe"}}})("admin"),
			status: 200, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "redeem in a category the schema lacks", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			return s.e.Do(t, s.prov1, redeemDoc, s.redeem("x", 100, "SPACESHIP", "enum"))
		}, status: 200, code: "GRAPHQL_VALIDATION_FAILED"},
	}
}

// nulAttacks: a NUL character in any string, anywhere in the request, is
// the caller's BAD_USER_INPUT before anything runs (Postgres text cannot
// hold it; let through, it answered INTERNAL with an ERROR log line).
func nulAttacks() []attack {
	const login = `mutation($u:String!){login(input:{username:$u,password:"whatever-pw"}){accessToken userErrors{code}}}`
	const residents = `query($f:ResidentFilter){residents(filter:$f){totalCount}}`
	return []attack{
		{name: "NUL in a login name, anonymous", run: gql(login, map[string]any{"u": "admin\x00"})(""),
			status: 200, code: "BAD_USER_INPUT"},
		{name: "NUL in a string literal of the document", run: gql(`mutation{login(input:{username:"ad\u0000min",password:"whatever-pw"}){accessToken}}`, nil)(""),
			status: 200, code: "BAD_USER_INPUT"},
		{name: "NUL in a search filter nested in an input object", run: gql(residents, map[string]any{"f": map[string]any{"nameContains": "张\x00"}})("admin"),
			status: 200, code: "BAD_USER_INPUT"},
		{name: "NUL in a literal inside a fragment", run: gql(`query{...f} fragment f on Query{residents(filter:{nameContains:"\u0000"}){totalCount}}`, nil)("admin"),
			status: 200, code: "BAD_USER_INPUT"},
		{name: "NUL in an idempotency key", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			return s.e.Do(t, s.prov1, redeemDoc, s.redeem("x", 100, "MEAL", "nul\x00key"))
		}, status: 200, code: "BAD_USER_INPUT"},
	}
}

func websocketAttacks() []attack {
	ws := func(origin string, first map[string]any) func(*testing.T, *suite, string) *testenv.Response {
		return func(t *testing.T, s *suite, _ string) *testenv.Response {
			c, resp, err := dialWS(t, s.e, origin)
			if err != nil {
				if resp == nil {
					t.Fatalf("dial: %v", err)
				}
				return &testenv.Response{Status: resp.StatusCode}
			}
			defer c.CloseNow()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := wsjson.Write(ctx, c, first); err != nil {
				return &testenv.Response{Status: int(websocket.CloseStatus(err))}
			}
			for {
				var msg map[string]any
				if err := wsjson.Read(ctx, c, &msg); err != nil {
					return &testenv.Response{Status: int(websocket.CloseStatus(err))}
				}
				if msg["type"] == "connection_ack" || msg["type"] == "next" {
					t.Fatalf("the server accepted: %v", msg)
				}
			}
		}
	}
	sub := map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": `subscription{emergencyCallUpdated{id}}`}}
	cases := []attack{
		{name: "websocket subscribe without connection_init", run: ws("", sub), status: 1002},
		{name: "websocket with a bad token", run: ws("", map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer not-a-token"}}), status: 4403},
		{name: "websocket without a token", run: ws("", map[string]any{"type": "connection_init", "payload": map[string]any{}}), status: 4403},
		{name: "websocket from a foreign origin", run: ws("https://evil.example.com", nil), status: 403},
	}
	return append(append(cases, websocketCapAttacks()...), websocketOperationAttacks()...)
}

// websocketCapAttacks open more sockets than one session or one user may
// hold (each used to hold a Redis connection of its own).
func websocketCapAttacks() []attack {
	// The refused socket's close code is the status; the setup's sockets
	// stay open until the case ends.
	refused := func(t *testing.T, s *suite, tok string) *testenv.Response {
		code, reason := wsRefused(t, s.e, tok)
		return &testenv.Response{Status: int(code), Raw: []byte(reason)}
	}
	saysCap := func(t *testing.T, _ *suite, r *testenv.Response) {
		if !strings.Contains(string(r.Raw), "Too many websockets") {
			t.Fatalf("close reason %q does not say why", r.Raw)
		}
	}
	var held []*websocket.Conn
	return []attack{
		{name: "websockets over the per-session cap", setup: func(t *testing.T, s *suite) string {
			tok := s.e.As(t, "operator")
			held = nil
			for i := 0; i < s.e.Config.WSMaxPerSession; i++ {
				held = append(held, openWS(t, s.e, tok))
			}
			return tok
		}, run: refused, status: 4429, check: func(t *testing.T, s *suite, r *testenv.Response) {
			saysCap(t, s, r)
			// A socket that closes gives its place back.
			held[0].Close(websocket.StatusNormalClosure, "")
			deadline := time.Now().Add(3 * time.Second)
			for {
				c, _, err := dialWS(t, s.e, "")
				if err != nil {
					t.Fatal(err)
				}
				typ, _ := initWS(t, c, map[string]any{"authorization": "Bearer " + s.arg})
				c.CloseNow()
				if typ == "connection_ack" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no place freed: the refused socket still counts")
				}
				time.Sleep(50 * time.Millisecond)
			}
		}},
		{name: "websockets over the per-user cap across sessions", setup: func(t *testing.T, s *suite) string {
			var tok string
			for open := 0; open < s.e.Config.WSMaxPerUser; open++ {
				if open%s.e.Config.WSMaxPerSession == 0 {
					tok = s.e.As(t, "caseworker")
				}
				openWS(t, s.e, tok)
			}
			return s.e.As(t, "caseworker")
		}, run: refused, status: 4429, check: saysCap},
	}
}

// websocketOperationAttacks send queries, mutations, oversized messages
// and too many subscriptions on a websocket. A websocket carries
// subscriptions only: an operation refused there answers on the open
// socket (status 200), a message over the HTTP body cap closes it.
func websocketOperationAttacks() []attack {
	fresh := func(t *testing.T, s *suite) string { return s.e.As(t, "operator") }
	op := func(doc string) func(*testing.T, *suite, string) *testenv.Response {
		return func(t *testing.T, s *suite, tok string) *testenv.Response {
			c := openWS(t, s.e, tok)
			wsSubscribe(t, c, "1", doc, nil)
			return wsAnswer(t, c)
		}
	}
	notRun := func(t *testing.T, s *suite, r *testenv.Response) {
		if len(r.Data) > 0 {
			t.Fatalf("executed: %s", r.Raw)
		}
		sessionAlive(t, s.e, s.arg)
	}
	return []attack{
		{name: "query over a websocket", setup: fresh, run: op(meQuery), status: 200, code: "BAD_USER_INPUT", msg: "只承载订阅", check: notRun},
		{name: "logout over a websocket", setup: fresh, run: op(`mutation{logout}`), status: 200, code: "BAD_USER_INPUT", msg: "只承载订阅", check: notRun},
		{name: "mutation picked by operationName from a subscription document over a websocket", setup: fresh, run: func(t *testing.T, s *suite, tok string) *testenv.Response {
			c := openWS(t, s.e, tok)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			doc := `subscription S{emergencyCallUpdated{id}} mutation M{logout}`
			if err := wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": doc, "operationName": "M"}}); err != nil {
				t.Fatal(err)
			}
			return wsAnswer(t, c)
		}, status: 200, code: "BAD_USER_INPUT", msg: "只承载订阅", check: notRun},
		{name: "websocket message just over the HTTP body cap", setup: fresh, run: func(t *testing.T, s *suite, tok string) *testenv.Response {
			c := openWS(t, s.e, tok)
			wsSubscribe(t, c, "1", `subscription{emergencyCallUpdated{id}}`, map[string]any{"pad": strings.Repeat("x", app.MaxBodyBytes)})
			return wsAnswer(t, c)
		}, status: int(websocket.StatusMessageTooBig)},
		{name: "too many subscriptions on one websocket", setup: fresh, run: func(t *testing.T, s *suite, tok string) *testenv.Response {
			c := openWS(t, s.e, tok)
			for i := 0; i <= maxSubscriptionsPerSocket; i++ {
				wsSubscribe(t, c, fmt.Sprint(i), `subscription{emergencyCallUpdated{id}}`, nil)
			}
			return wsAnswer(t, c)
		}, status: 200, code: "BAD_USER_INPUT", msg: "subscriptions may run on one websocket"},
	}
}

// maxSubscriptionsPerSocket is the server's cap (graph.maxSubscriptionsPerSocket).
const maxSubscriptionsPerSocket = 20
