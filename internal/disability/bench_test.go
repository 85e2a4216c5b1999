package disability_test

import (
	"testing"

	"github.com/jinjiang/residents/internal/testenv"
)

// BenchmarkEligibility measures one disabilitySubsidyEligibility request
// end to end (HTTP, session check, three queries, rule evaluation).
func BenchmarkEligibility(b *testing.B) {
	e := testenv.New(b)
	e.Clock.Set(fixedNow)
	tok := e.As(b, "caseworker")
	holder := e.InsertResident(b, testenv.ResidentSpec{Statuses: []string{"LOW_INCOME"}, BirthDate: fixedNow.AddDate(-70, 0, 3)})
	e.MustDo(b, tok, recordCert, certInput(holder.ID, certNumber(holder.IDNumber, 5, 3), "INTELLECTUAL", 3, "2024-01-01", "2030-12-31"))
	vars := map[string]any{"id": residentGID(holder.ID)}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := e.Do(b, tok, eligibilityQuery, vars)
		if r.Get("disabilitySubsidyEligibility.nursingSubsidy") != true {
			b.Fatalf("unexpected: %s", r.Raw)
		}
	}
}
