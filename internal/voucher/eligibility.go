package voucher

import (
	"slices"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/resident"
)

// ResidentFacts are what a program's rules read about one resident, for
// one program. candidatesSQL (issue.go) reads the same facts from the
// tables; Matches is the same rule in Go, and TestMatchesAgreesWithIssueSQL
// keeps the two in step.
type ResidentFacts struct {
	BirthDate civil.Date
	// Statuses are those held on the day judged: the resident's own and
	// their household's (低保 and 特困 can be a household's), as
	// resident.StatusesOnSQL answers them.
	Statuses []resident.Status
	// CareLevel is the level held on the day judged (resident.CareLevelOnSQL).
	CareLevel resident.CareLevel
	// DeceasedOn is the recorded date of death. Any recorded date ends
	// eligibility, whatever the date judged: issuance asks
	// resident_facts.living (deceased_on IS NULL), not whether the death
	// came before the period.
	DeceasedOn *civil.Date
	// Enrolled says whether the resident is enrolled in the program whose
	// rules are asked.
	Enrolled bool
	// Certificate is the resident's current disability certificate (the
	// one not superseded; there is at most one), or nil.
	Certificate *CertificateFacts
}

// CertificateFacts is the part of a disability certificate rules read.
type CertificateFacts struct {
	Grade      int
	IssuedOn   civil.Date
	ValidUntil civil.Date
}

// Living reports whether no date of death is recorded.
func (f *ResidentFacts) Living() bool { return f.DeceasedOn == nil }

// gradeOn is the grade of the certificate valid on the date (issued on or
// before it, valid through it), or 0 when there is none.
func (f *ResidentFacts) gradeOn(on civil.Date) int {
	c := f.Certificate
	if c == nil || c.IssuedOn.After(on) || c.ValidUntil.Before(on) {
		return 0
	}
	return c.Grade
}

// Matches reports whether the rule gives the resident a voucher when the
// period is judged on the date (issuance judges on the period's first
// day): the resident is enrolled and living, and meets every condition the
// rule sets. A condition left nil holds for everyone; one set to an empty
// list holds for no one (SQL's ANY and && over an empty array are false).
//   - MinAge: born on or before the date that many years earlier (a 29
//     February birthday turns a year older on 28 February, as date minus
//     interval does in Postgres).
//   - CareLevels: the care level is one of them.
//   - Statuses: the resident holds at least one of them, or their
//     household does.
//   - DisabilityGrades: the current certificate is valid on the date and
//     its grade is one of them.
func (r *Rule) Matches(f *ResidentFacts, on civil.Date) bool {
	if !f.Enrolled || !f.Living() {
		return false
	}
	if r.MinAge != nil && f.BirthDate.After(yearsBefore(on, *r.MinAge)) {
		return false
	}
	if r.CareLevels != nil && !slices.Contains(r.CareLevels, f.CareLevel) {
		return false
	}
	if r.Statuses != nil && !slices.ContainsFunc(r.Statuses, func(s resident.Status) bool { return slices.Contains(f.Statuses, s) }) {
		return false
	}
	if r.DisabilityGrades != nil {
		g := f.gradeOn(on)
		if g == 0 || !slices.Contains(r.DisabilityGrades, g) {
			return false
		}
	}
	return true
}

// Amount is the voucher the program's rules give the resident for a
// period judged on the date: the highest amount of the rules that match,
// and false when none does.
func (p *Program) Amount(f *ResidentFacts, on civil.Date) (int64, bool) {
	var best int64
	found := false
	for _, r := range p.Rules {
		if r.Matches(f, on) && (!found || r.AmountFen > best) {
			best, found = r.AmountFen, true
		}
	}
	return best, found
}

// yearsBefore is d minus n years, the day clamped to the month's length
// (2028-02-29 minus one year is 2027-02-28), as Postgres subtracts an
// interval of years from a date.
func yearsBefore(d civil.Date, n int) civil.Date {
	out := civil.Date{Year: d.Year - n, Month: d.Month, Day: d.Day}
	if last := (civil.Month{Year: out.Year, Month: out.Month}).Last(); out.Day > last.Day {
		out.Day = last.Day
	}
	return out
}
