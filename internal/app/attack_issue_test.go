package app_test

import (
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/testenv"
)

// issuanceAttacks: issuing a period other than this month or the next
// without the ADMIN's explicit allowBackfill (which the old issueVouchers
// did, for any period at all) is refused and issues nothing; bulk
// enrollment never reaches outside the caller's jurisdiction.
func issuanceAttacks() []attack {
	issue := func(period func() string) func(*testing.T, *suite, string) *testenv.Response {
		return func(t *testing.T, s *suite, _ string) *testenv.Response {
			return s.e.Do(t, s.admin, `mutation($p:ID!,$m:String!){issueVouchers(input:{programId:$p,period:$m}){issuedCount run{id} userErrors{code field}}}`,
				map[string]any{"p": s.program, "m": period()})
		}
	}
	month := func(n int) func() string {
		return func() string { return civil.MonthOf(civil.DateOf(time.Now())).AddMonths(n).String() }
	}
	noRun := func(t *testing.T, _ *suite, r *testenv.Response) {
		if r.Get("issueVouchers.run") != nil || r.Str("issueVouchers.userErrors.0.field.1") != "period" {
			t.Fatalf("refused with a run, or not on the period: %s", r.Raw)
		}
	}
	ue := "issueVouchers.userErrors.0.code"
	return []attack{
		{name: "issue last year's period without allowBackfill", run: issue(month(-12)), status: 200, userError: ue, code: "INVALID", check: noRun},
		{name: "issue last month without allowBackfill", run: issue(month(-1)), status: 200, userError: ue, code: "INVALID", check: noRun},
		{name: "issue three months ahead without allowBackfill", run: issue(month(3)), status: 200, userError: ue, code: "INVALID", check: noRun},
		{name: "clerk issues with allowBackfill", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			return s.e.Do(t, s.clerk, `mutation($p:ID!,$m:String!){issueVouchers(input:{programId:$p,period:$m,allowBackfill:true}){issuedCount userErrors{code}}}`,
				map[string]any{"p": s.program, "m": month(-1)()})
		}, status: 200, code: "FORBIDDEN"},
		// The world's resident lives in 春熙路街道: a case worker of 牛市口街道
		// naming them in the filter (and their community) enrolls nobody;
		// the run and its audit entries (start and end) are all it writes.
		{name: "case worker enrolls in bulk outside their street", setup: func(t *testing.T, s *suite) string {
			return s.e.As(t, "caseworker2")
		}, run: func(t *testing.T, s *suite, cw2 string) *testenv.Response {
			unit := s.e.MustDo(t, s.admin, `query($id:ID!){resident(id:$id){community{id}}}`, map[string]any{"id": s.resident}).Str("resident.community.id")
			return s.e.Do(t, cw2, `mutation($p:ID!,$u:ID){enrollResidents(programId:$p,filter:{orgUnitId:$u}){
				run{status residentsTotal enrolledCount} userErrors{code}}}`, map[string]any{"p": s.program, "u": unit})
		}, status: 200, audit: 2, check: func(t *testing.T, _ *suite, r *testenv.Response) {
			if r.Str("enrollResidents.run.status") != "SUCCEEDED" || r.Get("enrollResidents.run.residentsTotal") != float64(0) ||
				r.Get("enrollResidents.run.enrolledCount") != float64(0) {
				t.Fatalf("reached outside the jurisdiction: %s", r.Raw)
			}
		}},
	}
}
