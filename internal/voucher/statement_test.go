package voucher

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/problem"
)

var allRefusals = []refusalName{refusedNoProvider, refusedSuspended, refusedProviderCategory, refusedProgramCategory,
	refusedSettled, refusedInsufficient, refusedTokenUsed}

// TestRedeemStatementNames: redeem.sql raises only the refusals Go defines,
// through parameters (never a quoted name of its own), and redeemArgs binds
// exactly the parameters the statement uses.
func TestRedeemStatementNames(t *testing.T) {
	if strings.Contains(redeemSQL, "{{") || !strings.Contains(redeemSQL, audit.Insert) {
		t.Fatal("audit.Insert was not spliced into redeem.sql")
	}
	if m := regexp.MustCompile(`redemption_refused\(\s*'`).FindString(redeemSQL); m != "" {
		t.Fatalf("redeem.sql raises a refusal spelled in SQL: %q; pass it as a refused_* parameter", m)
	}
	raised := map[string]bool{}
	for _, m := range regexp.MustCompile(`redemption_refused\(@(\w+)`).FindAllStringSubmatch(redeemSQL, -1) {
		raised[m[1]] = true
	}
	args := redeemArgs(&redemptionRow{}, "k", nil, nil, audit.Stamp{}, civil.Month{}, civil.Date{})
	var bound []refusalName
	for name, v := range args {
		if strings.HasPrefix(name, "refused_") {
			if !raised[name] {
				t.Errorf("redeemArgs binds %s, which redeem.sql never raises", name)
			}
			bound = append(bound, refusalName(v.(string)))
			delete(raised, name)
		}
	}
	for name := range raised {
		t.Errorf("redeem.sql raises @%s, which redeemArgs does not bind", name)
	}
	for _, r := range allRefusals {
		if !slices.Contains(bound, r) {
			t.Errorf("refusal %s is not passed to the statement", r)
		}
	}
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`@([A-Za-z_]\w*)`).FindAllStringSubmatch(redeemSQL, -1) {
		used[m[1]] = true
	}
	for name := range args {
		if !used[name] {
			t.Errorf("redeemArgs binds %s, which redeem.sql does not use", name)
		}
		delete(used, name)
	}
	for name := range used {
		t.Errorf("redeem.sql uses @%s, which redeemArgs does not bind", name)
	}
	if strings.Contains(redeemStmt.sql, "@") || len(redeemStmt.names) != len(args) {
		t.Errorf("the statement rewritten to positions still names parameters, or binds %d of %d", len(redeemStmt.names), len(args))
	}
	for i, name := range redeemStmt.names {
		if !strings.Contains(redeemStmt.sql, fmt.Sprintf("$%d", i+1)) {
			t.Errorf("position %d (%s) is not in the rewritten statement", i+1, name)
		}
	}
}

// TestRefusalMapsEveryName: every refusal the statement can raise (every
// one redeemArgs passes it, not only those listed here) is a known user or
// forbidden error, never the unknown-reason fallback.
func TestRefusalMapsEveryName(t *testing.T) {
	names := slices.Clone(allRefusals)
	for name, v := range redeemArgs(&redemptionRow{}, "k", nil, nil, audit.Stamp{}, civil.Month{}, civil.Date{}) {
		if strings.HasPrefix(name, "refused_") {
			names = append(names, refusalName(v.(string)))
		}
	}
	for _, r := range names {
		err := refusal(&pgconn.PgError{Code: refusedState, Message: string(r), Detail: "0"}, civil.Month{}, 1)
		var ue *problem.UserError
		if !errors.As(err, &ue) && !errors.Is(err, problem.ErrForbidden) {
			t.Errorf("refusal %s maps to %v", r, err)
		}
	}
	if err := refusal(&pgconn.PgError{Code: refusedState, Message: "NO_SUCH"}, civil.Month{}, 1); err == nil ||
		!strings.Contains(err.Error(), "unknown reason") {
		t.Errorf("an unknown refusal: %v", err)
	}
}
