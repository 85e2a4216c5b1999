package app_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/idnumber"
)

// TestNoRoleRebuildsAnIDNumber is the review's rule as a test: no role that
// is refused a resident's full ID number can rebuild it from everything it
// may read about that resident, on every path that leads to them (the
// record, a list, the emergency call card, a redemption, the disability
// certificate). It reads as each such role, gathers what came back (masks,
// birth date, age, gender) and counts the valid 18-character numbers that
// agree with all of it, granting the attacker the region besides: at least
// minCandidates must remain. The old mask (first 6 and last 4) with the
// birth date left exactly one.
func TestNoRoleRebuildsAnIDNumber(t *testing.T) {
	const minCandidates = 100
	w := buildWorld(t)
	e := w.e
	docs := []struct {
		name, doc, id string
	}{
		{"the record", `query($id:ID!){node(id:$id){... on Resident{idNumberMasked idNumber gender age birthDate
			community{name} disabilityCertificate{number}}}}`, w.resident},
		{"a list", `{residents(first:50,filter:{nameContains:"张大爷"}){edges{node{idNumberMasked idNumber gender age birthDate
			disabilityCertificate{number}}}}}`, ""},
		{"the call card", `query($id:ID!){node(id:$id){... on EmergencyCall{callerNumberMasked resident{idNumberMasked idNumber
			gender age birthDate disabilityCertificate{number}}}}}`, w.call},
		{"a redemption", `query($id:ID!){node(id:$id){... on Redemption{resident{idNumberMasked idNumber gender age birthDate}}}}`, w.redemption},
		{"the certificate", `query($id:ID!){node(id:$id){... on DisabilityCertificate{number category grade}}}`, w.cert},
	}
	for _, role := range []string{"operator", "auditor", "provider1"} {
		t.Run(role, func(t *testing.T) {
			tok := e.As(t, role)
			k := knowledge{age: -1}
			for _, d := range docs {
				vars := map[string]any{}
				if d.id != "" {
					vars["id"] = d.id
				}
				r := e.Do(t, tok, d.doc, vars)
				if strings.Contains(string(r.Raw), w.idNumber) {
					t.Fatalf("%s shows %s the full number: %s", d.name, role, r.Raw)
				}
				k.gather(r.Data)
			}
			if len(k.masks) == 0 || k.age < 0 {
				t.Fatalf("%s read no mask or no age of the resident; the test proves nothing: %+v", role, k)
			}
			if n := k.candidates(w.idNumber[:6], time.Now()); n < minCandidates {
				t.Fatalf("%s narrows the ID number to %d candidates from %+v (want at least %d)", role, n, k, minCandidates)
			}
		})
	}
}

// knowledge is what one viewer learnt about one resident.
type knowledge struct {
	masks     []string // first 18 characters of each masked number seen
	birthDate string
	age       int
	gender    string
}

var maskShape = regexp.MustCompile(`^[0-9Xx*]{18}([0-9*]{2})?$`)

func (k *knowledge) gather(v any) {
	switch x := v.(type) {
	case map[string]any:
		for key, val := range x {
			switch s, _ := val.(string); {
			case key == "birthDate" && s != "":
				k.birthDate = s
			case key == "gender" && s != "":
				k.gender = s
			case key == "age":
				if f, ok := val.(float64); ok {
					k.age = int(f)
				}
			case maskShape.MatchString(s):
				k.masks = append(k.masks, s[:18])
			default:
				k.gather(val)
			}
		}
	case []any:
		for _, e := range x {
			k.gather(e)
		}
	}
}

// candidates counts the valid numbers of region that agree with k.
func (k *knowledge) candidates(region string, now time.Time) int {
	var days []time.Time
	if k.birthDate != "" {
		d, _ := time.Parse(time.DateOnly, k.birthDate)
		days = append(days, d)
	} else {
		today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		for d := today.AddDate(-k.age-1, 0, 0); !d.After(today.AddDate(-k.age, 0, 0)); d = d.AddDate(0, 0, 1) {
			days = append(days, d)
		}
	}
	n := 0
	for _, d := range days {
		for seq := range 1000 {
			if k.gender == "MALE" && seq%2 == 0 || k.gender == "FEMALE" && seq%2 == 1 {
				continue
			}
			first17 := region + d.Format("20060102") + fmt.Sprintf("%03d", seq)
			num := first17 + string(idnumber.CheckChar(first17))
			if k.agrees(num, now) {
				n++
			}
		}
	}
	return n
}

func (k *knowledge) agrees(num string, now time.Time) bool {
	for _, m := range k.masks {
		for i := range 18 {
			if m[i] != '*' && !strings.EqualFold(m[i:i+1], num[i:i+1]) {
				return false
			}
		}
	}
	if k.age >= 0 {
		if p, err := idnumber.Parse(num, now); err != nil || p.Age(now) != k.age {
			return false
		}
	}
	return true
}
