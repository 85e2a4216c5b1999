package homecare

import (
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// TestAnomalyRules tests each rule of the table on its own: the facts
// that make it fire, and the nearest facts that do not. Every rule of the
// table has cases (TestEveryRuleTested).
func TestAnomalyRules(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	stamp := func(m int) *Stamp { return &Stamp{At: t0.Add(time.Duration(m) * time.Minute)} }
	lim := DefaultThresholds
	cases := []struct {
		name  string
		rule  Rule
		facts visitFacts
		fires bool
	}{
		{"check-in at the door", CheckInFar, visitFacts{distanceM: ptr(30.0)}, false},
		{"check-in 250 m away", CheckInFar, visitFacts{distanceM: ptr(250.0)}, true},
		{"check-in 250 m away, accuracy 80 m", CheckInFar, visitFacts{distanceM: ptr(250.0), accuracyM: ptr(80.0)}, false},
		{"check-in 2 km away claiming 5 km accuracy", CheckInFar, visitFacts{distanceM: ptr(2000.0), accuracyM: ptr(5000.0)}, true},
		{"check-in without a recorded home", CheckInFar, visitFacts{}, false},
		{"third visit of the day, cap 3", DailyCapExceeded, visitFacts{visitsThatDay: 3, dayCap: 3}, false},
		{"fourth visit of the day, cap 3", DailyCapExceeded, visitFacts{visitsThatDay: 4, dayCap: 3}, true},
		{"second bath of the day, DAY cap 1", DailyCapExceeded, visitFacts{visitsThatDay: 2, dayCap: 1}, true},
		{"45 minutes, minimum 45", TooShort, visitFacts{checkIn: stamp(0), checkOut: stamp(45), minimumMinutes: 45}, false},
		{"44 minutes, minimum 45", TooShort, visitFacts{checkIn: stamp(0), checkOut: stamp(44), minimumMinutes: 45}, true},
		{"no minimum", TooShort, visitFacts{checkIn: stamp(0), checkOut: stamp(0), minimumMinutes: 0}, false},
		{"alone at the home", WorkerOverlap, visitFacts{overlaps: 0}, false},
		{"checked in at another home meanwhile", WorkerOverlap, visitFacts{overlaps: 1}, true},
		{"card at the home", CardFar, visitFacts{distanceM: ptr(10.0)}, false},
		{"card 3 km away", CardFar, visitFacts{distanceM: ptr(3000.0)}, true},
		{"SMS code at the home", CardFar, visitFacts{distanceM: ptr(10.0), confirmedVia: ViaSMSCode}, false},
		{"SMS code 3 km away", CardFar, visitFacts{distanceM: ptr(3000.0), confirmedVia: ViaSMSCode}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.facts.limits = lim
			var found bool
			for _, r := range rules {
				if r.rule != c.rule {
					continue
				}
				found = true
				fires, detail := r.check(&c.facts)
				if fires != c.fires {
					t.Fatalf("%s fired=%v, want %v", c.rule, fires, c.fires)
				}
				if fires && detail == "" {
					t.Fatalf("%s fired without a detail for the reviewer", c.rule)
				}
				// The rule fires at its stage only.
				got := evaluate(r.stage, &c.facts)
				if _, ok := got[c.rule]; ok != c.fires {
					t.Fatalf("evaluate at its stage: %v", got)
				}
			}
			if !found {
				t.Fatalf("no rule %s in the table", c.rule)
			}
		})
	}
}

// TestEveryRuleTested: each rule of the table has a firing case above, and
// each schema value of AnomalyRule is a rule of the table.
func TestEveryRuleTested(t *testing.T) {
	want := []Rule{WorkerOverlap, TooShort, CheckInFar, DailyCapExceeded, CardFar}
	if len(rules) != len(want) {
		t.Fatalf("%d rules in the table, %d known", len(rules), len(want))
	}
	for _, w := range want {
		ok := false
		for _, r := range rules {
			ok = ok || r.rule == w
		}
		if !ok {
			t.Fatalf("rule %s missing from the table", w)
		}
	}
}

func TestDistance(t *testing.T) {
	// 0.001° of latitude is about 111 m.
	if d := distanceMeters(30.657, 104.08, 30.658, 104.08); d < 110 || d > 112 {
		t.Fatalf("distance %v", d)
	}
	if d := distanceMeters(30.657, 104.08, 30.657, 104.08); d != 0 {
		t.Fatalf("distance to itself %v", d)
	}
}

func TestStatusTransitions(t *testing.T) {
	for _, c := range []struct {
		from, to Status
		ok       bool
	}{
		{Requested, Assigned, true}, {Assigned, CheckedIn, true}, {CheckedIn, CheckedOut, true}, {CheckedOut, Redeemed, true},
		{CheckedOut, Confirmed, true}, {Confirmed, Redeemed, true}, {Redeemed, Disputed, true}, {Disputed, Cancelled, true},
		{Requested, CheckedIn, false}, {Redeemed, Cancelled, false}, {Cancelled, Assigned, false}, {CheckedIn, Redeemed, false},
	} {
		if c.from.CanBecome(c.to) != c.ok {
			t.Errorf("%s -> %s: want %v", c.from, c.to, c.ok)
		}
	}
}

func FuzzValidPIN(f *testing.F) {
	for _, s := range []string{"258147", "000000", "12345", "1234567", "12a456", "１２３４５６"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pin string) {
		if !ValidPIN(pin) {
			return
		}
		if len(pin) != 6 {
			t.Fatalf("%q accepted", pin)
		}
		for _, c := range []byte(pin) {
			if c < '0' || c > '9' {
				t.Fatalf("%q accepted", pin)
			}
		}
	})
}

func FuzzValidateItem(f *testing.F) {
	f.Add("ZY-01", "上门助浴", "次", int64(3000), 30)
	f.Add("", "", "", int64(0), -1)
	f.Fuzz(func(t *testing.T, code, name, unit string, price int64, minutes int) {
		in := ItemInput{Code: code, Name: name, Unit: unit, UnitPriceFen: price, MinimumMinutes: minutes, Category: "BATHING"}
		if errs := ValidateItem(&in); len(errs) > 0 {
			return
		}
		if in.UnitPriceFen <= 0 || len(in.Code) == 0 || len(in.Code) > 32 || in.MinimumMinutes < 0 || in.MinimumMinutes > 1440 {
			t.Fatalf("accepted %+v", in)
		}
	})
}
