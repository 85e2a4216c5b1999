package voucher_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/resident"
	"github.com/jinjiang/residents/internal/testenv"
	"github.com/jinjiang/residents/internal/voucher"
)

var (
	allStatuses   = []resident.Status{resident.LowIncome, resident.ExtremePoverty, resident.LivingAlone, resident.EmptyNest, resident.BereavedParent}
	allCareLevels = []resident.CareLevel{resident.Intact, resident.Mild, resident.Moderate, resident.Severe, resident.Total}
	minAges       = []int{60, 70, 80, 90}
)

// TestMatchesAgreesWithIssueSQL: for random residents (around every edge
// the rules have: the birthday that reaches the minimum age on the day
// judged, a death recorded before or after it, each status and care level,
// a certificate that starts, ends or was superseded around it, enrolled or
// not) and random programs, the vouchers issueChunkSQL issues are exactly
// those Rule.Matches and Program.Amount give.
func TestMatchesAgreesWithIssueSQL(t *testing.T) {
	f := newFixture(t, programSpec{})
	const seed = 15
	rng := rand.New(rand.NewPCG(seed, seed))
	// A period ahead, so that its vouchers are not past their validity: the
	// expiry job in other tests of the package would count them.
	period := civil.Month{Year: 2030, Month: time.March}
	on := period.First()

	type person struct {
		id    uuid.UUID
		facts voucher.ResidentFacts // Enrolled is set per program
	}
	var people []*person
	for i := range 300 {
		age := minAges[rng.IntN(len(minAges))]
		// The day that reaches age on the day judged, one day either side,
		// or anywhere in the years around.
		birth := civil.Date{Year: on.Year - age, Month: on.Month, Day: on.Day}
		switch i % 5 {
		case 1:
			birth = birth.AddDays(-1)
		case 2:
			birth = birth.AddDays(1)
		case 3:
			birth = birth.AddDays(-rng.IntN(3650))
		case 4:
			birth = birth.AddDays(rng.IntN(3650))
		}
		var statuses []string
		var facts voucher.ResidentFacts
		for _, s := range allStatuses {
			if rng.IntN(4) == 0 {
				statuses = append(statuses, string(s))
				facts.Statuses = append(facts.Statuses, s)
			}
		}
		facts.BirthDate = birth
		facts.CareLevel = allCareLevels[i%len(allCareLevels)]
		res := f.e.InsertResident(t, testenv.ResidentSpec{BirthDate: birth.In(time.UTC), Statuses: statuses, CareLevel: string(facts.CareLevel)})
		p := &person{id: res.ID, facts: facts}
		switch i % 7 {
		case 1: // died before the day judged
			d := on.AddDays(-1 - rng.IntN(40))
			p.facts.DeceasedOn = &d
		case 2: // died on it
			d := on
			p.facts.DeceasedOn = &d
		case 3: // died after it
			d := on.AddDays(1 + rng.IntN(40))
			p.facts.DeceasedOn = &d
		}
		if p.facts.DeceasedOn != nil {
			if err := f.e.DB.Exec("UPDATE residents SET deceased_on = ? WHERE id = ?", p.facts.DeceasedOn.String(), p.id).Error; err != nil {
				t.Fatal(err)
			}
		}
		if rng.IntN(2) == 0 {
			starts := []civil.Date{on.AddDays(-400), on, on.AddDays(1)}
			ends := []civil.Date{on.AddDays(-1), on, on.AddDays(400)}
			c := voucher.CertificateFacts{Grade: 1 + rng.IntN(4), IssuedOn: starts[rng.IntN(3)], ValidUntil: ends[rng.IntN(3)]}
			if c.ValidUntil.Before(c.IssuedOn) {
				c.ValidUntil = c.IssuedOn
			}
			insertCertificate(t, f.e, p.id, c.Grade, c.IssuedOn.String(), c.ValidUntil.String(), false)
			p.facts.Certificate = &c
		}
		if rng.IntN(4) == 0 { // an older certificate, superseded: never read
			insertCertificate(t, f.e, p.id, 1+rng.IntN(4), on.AddDays(-800).String(), on.AddDays(800).String(), true)
		}
		people = append(people, p)
	}

	for round := range 12 {
		rules := randomRules(rng)
		gid, pid := createProgram(t, f.e, f.admin, programSpec{rules: rules})
		prog := voucher.Program{Rules: storedRules(t, f.e, pid)}
		enrolled := map[uuid.UUID]bool{}
		for _, p := range people {
			if rng.IntN(10) < 7 {
				enrolled[p.id] = true
				if err := f.e.DB.Exec("INSERT INTO voucher_enrollments (program_id, resident_id) VALUES (?, ?)", pid, p.id).Error; err != nil {
					t.Fatal(err)
				}
			}
		}
		r := f.e.MustDo(t, f.admin, `mutation($in:IssueVouchersInput!){issueVouchers(input:$in){issuedCount userErrors{code} run{status}}}`,
			map[string]any{"in": map[string]any{"programId": gid, "period": period.String(), "allowBackfill": true}})
		if r.Str("issueVouchers.userErrors.0.code") != "" || r.Str("issueVouchers.run.status") != "SUCCEEDED" {
			t.Fatalf("issue: %s", r.Raw)
		}
		issued := map[uuid.UUID]int64{}
		rows, err := f.e.DB.Raw("SELECT resident_id, face_value_fen FROM vouchers WHERE program_id = ? AND period = ?", pid, period.String()).Rows()
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id uuid.UUID
			var fen int64
			if err := rows.Scan(&id, &fen); err != nil {
				t.Fatal(err)
			}
			issued[id] = fen
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, p := range people {
			facts := p.facts
			facts.Enrolled = enrolled[p.id]
			amount, ok := prog.Amount(&facts, on)
			got, gotOK := issued[p.id]
			if ok {
				want++
			}
			if ok != gotOK || amount != got {
				t.Errorf("round %d, rules %v, resident %+v (certificate %+v): issueChunkSQL gives %d (%v), Matches %d (%v)",
					round, rules, facts, facts.Certificate, got, gotOK, amount, ok)
			}
		}
		t.Logf("round %d: %d of %d residents get a voucher", round, want, len(people))
		if len(issued) != want {
			t.Errorf("round %d: issueChunkSQL issued %d vouchers, Matches gives %d", round, len(issued), want)
		}
	}
}

// randomRules draws one to three rules; each condition is absent half the
// time, and a list is sometimes empty (which matches no one).
func randomRules(rng *rand.Rand) []map[string]any {
	var rules []map[string]any
	for range 1 + rng.IntN(3) {
		r := map[string]any{"amountFen": 100 * (10 + rng.IntN(300))}
		if rng.IntN(2) == 0 {
			r["minAge"] = minAges[rng.IntN(len(minAges))]
		}
		if rng.IntN(2) == 0 {
			r["careLevels"] = subset(rng, allCareLevels)
		}
		if rng.IntN(2) == 0 {
			r["statuses"] = subset(rng, allStatuses)
		}
		if rng.IntN(2) == 0 {
			r["disabilityGrades"] = subset(rng, []int{1, 2, 3, 4})
		}
		rules = append(rules, r)
	}
	return rules
}

func subset[T any](rng *rand.Rand, all []T) []T {
	out := []T{}
	for _, x := range all {
		if rng.IntN(2) == 0 {
			out = append(out, x)
		}
	}
	return out
}

// storedRules reads a program's rules as issueChunkSQL sees them: a NULL
// condition is nil, an empty array an empty list.
func storedRules(t *testing.T, e *testenv.Env, programID uuid.UUID) []*voucher.Rule {
	t.Helper()
	rows, err := e.DB.Raw("SELECT min_age, care_levels, statuses, disability_grades, amount_fen FROM voucher_program_rules WHERE program_id = ?", programID).Rows()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []*voucher.Rule
	for rows.Next() {
		var (
			minAge           *int
			levels, statuses pq.StringArray
			grades           pq.Int64Array
			r                voucher.Rule
		)
		if err := rows.Scan(&minAge, &levels, &statuses, &grades, &r.AmountFen); err != nil {
			t.Fatal(err)
		}
		r.MinAge = minAge
		if levels != nil {
			r.CareLevels = []resident.CareLevel{}
			for _, l := range levels {
				r.CareLevels = append(r.CareLevels, resident.CareLevel(l))
			}
		}
		if statuses != nil {
			r.Statuses = []resident.Status{}
			for _, s := range statuses {
				r.Statuses = append(r.Statuses, resident.Status(s))
			}
		}
		if grades != nil {
			r.DisabilityGrades = []int{}
			for _, g := range grades {
				r.DisabilityGrades = append(r.DisabilityGrades, int(g))
			}
		}
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("program %s has no rules", programID)
	}
	return out
}

// TestYearsBeforeIsPostgres: the minimum-age boundary Matches computes is
// the one issueChunkSQL's date minus interval gives, on month ends and leap
// days.
func TestYearsBeforeIsPostgres(t *testing.T) {
	f := newFixture(t, programSpec{})
	for _, d := range []string{"2028-02-29", "2026-03-01", "2026-02-28", "2024-12-31", "2025-01-31"} {
		on, err := civil.ParseDate(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 4, 80} {
			var pg civil.Date
			testenv.MustScan(t, f.e.DB, "SELECT (CAST(? AS date) - make_interval(years => ?))::date", testenv.Args(d, n), &pg)
			// Born on that day: exactly n years old on d, so a rule of
			// minAge n matches, and one day later does not.
			r := voucher.Rule{MinAge: &n}
			living := voucher.ResidentFacts{BirthDate: pg, Enrolled: true}
			late := voucher.ResidentFacts{BirthDate: pg.AddDays(1), Enrolled: true}
			if !r.Matches(&living, on) || r.Matches(&late, on) {
				t.Errorf("%s minus %d years is %s in Postgres; Matches disagrees", d, n, pg)
			}
		}
	}
}
