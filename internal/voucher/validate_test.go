package voucher

import (
	"strings"
	"testing"

	"github.com/jinjiang/residents/internal/problem"
)

// FuzzProgramValidate: validation never panics, reports only INVALID on
// input fields, and accepts exactly the programs whose numbers are in range.
func FuzzProgramValidate(f *testing.F) {
	f.Add("JJ-1", "券", int64(10000), 80, 2, int64(0), 1)
	f.Add("", "", int64(0), -1, -1, int64(-5), 9)
	f.Fuzz(func(t *testing.T, code, name string, amount int64, minAge, carry int, budget int64, grade int) {
		in := NewProgram{Code: code, Name: name, Categories: []Category{Meal},
			Rules: []*Rule{{MinAge: &minAge, AmountFen: amount, DisabilityGrades: []int{grade}}}, CarryOverPeriods: &carry}
		if budget != 0 {
			in.BudgetPerPeriodFen = &budget
		}
		err := in.Validate()
		valid := amount > 0 && minAge >= 0 && minAge <= 150 && carry >= 0 && carry <= 120 && budget >= 0 &&
			grade >= 1 && grade <= 4 && len(trim(code)) >= 1 && len(trim(code)) <= 64 &&
			len([]rune(trim(name))) >= 1 && len([]rune(trim(name))) <= 128
		if valid != (err == nil) {
			t.Fatalf("valid=%v err=%v", valid, err)
		}
		if err != nil {
			ues, ok := problem.AsUserErrors(err)
			if !ok {
				t.Fatalf("not a user error: %v", err)
			}
			for _, ue := range ues {
				if ue.Code != problem.Invalid || len(ue.Field) < 2 || ue.Field[0] != "input" {
					t.Fatalf("bad user error %+v", ue)
				}
			}
		}
	})
}
func trim(s string) string { return strings.TrimSpace(s) }
