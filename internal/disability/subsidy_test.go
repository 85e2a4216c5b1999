package disability_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jinjiang/residents/internal/testenv"
)

const eligibilityQuery = `query($id: ID!) { disabilitySubsidyEligibility(residentId: $id) { livingSubsidy nursingSubsidy reasons } }`

const upsertRule = `mutation($in: UpsertDisabilitySubsidyRuleInput!) {
  upsertDisabilitySubsidyRule(input: $in) {
    rule { code subsidy grades categories requiredStatuses description active }
    userErrors { code field message }
  }
}`

type subsidyCase struct {
	name     string
	statuses []string
	category string // "" = no certificate
	digit    int
	grade    int
	until    string
	living   bool
	nursing  bool
	// reasons must contain each of these fragments.
	reasons []string
}

func checkEligibility(t *testing.T, e *testenv.Env, tok string, c subsidyCase) {
	t.Helper()
	holder := newResident(t, e, testenv.ResidentSpec{Statuses: c.statuses})
	if c.category != "" {
		until := c.until
		if until == "" {
			until = "2030-12-31"
		}
		record(t, e, tok, holder, c.category, c.digit, c.grade, "2024-01-01", until)
	}
	r := e.MustDo(t, tok, eligibilityQuery, map[string]any{"id": residentGID(holder.ID)})
	if r.Get("disabilitySubsidyEligibility.livingSubsidy") != c.living || r.Get("disabilitySubsidyEligibility.nursingSubsidy") != c.nursing {
		t.Fatalf("living/nursing want %v/%v: %s", c.living, c.nursing, r.Raw)
	}
	var all []string
	for _, x := range r.Get("disabilitySubsidyEligibility.reasons").([]any) {
		all = append(all, x.(string))
	}
	joined := strings.Join(all, "\n")
	if len(all) < 2 {
		t.Fatalf("each subsidy needs a reason: %q", joined)
	}
	for _, want := range c.reasons {
		if !strings.Contains(joined, want) {
			t.Fatalf("reasons lack %q:\n%s", want, joined)
		}
	}
}

func TestSubsidyRules(t *testing.T) {
	e := newEnv(t)
	cw := e.As(t, "caseworker")
	cases := []subsidyCase{
		{name: "no certificate", statuses: []string{"LOW_INCOME"}, living: false, nursing: false,
			reasons: []string{"不符合困难残疾人生活补贴：没有当前有效的残疾人证", "不符合重度残疾人护理补贴：没有当前有效的残疾人证"}},
		{name: "expired certificate", statuses: []string{"LOW_INCOME"}, category: "PHYSICAL", digit: 4, grade: 1, until: "2026-11-26",
			reasons: []string{"没有当前有效的残疾人证"}},
		{name: "grade 4 physical in 低保", statuses: []string{"LOW_INCOME"}, category: "PHYSICAL", digit: 4, grade: 4, living: true,
			reasons: []string{"符合困难残疾人生活补贴", "残疾等级为四级，规则要求一级或二级"}},
		// 国发〔2015〕52号: 特困供养 is excluded from 困难残疾人生活补贴.
		{name: "grade 4 in 特困", statuses: []string{"EXTREME_POVERTY"}, category: "SPEECH", digit: 3, grade: 4, living: false,
			reasons: []string{"属于特困人员，不享受此项补贴"}},
		{name: "grade 4 in 低保 and 特困: excluded", statuses: []string{"LOW_INCOME", "EXTREME_POVERTY"}, category: "SPEECH", digit: 3, grade: 4, living: false,
			reasons: []string{"属于特困人员，不享受此项补贴"}},
		{name: "grade 1 visual, not poor", category: "VISUAL", digit: 1, grade: 1, nursing: true,
			reasons: []string{"不属于低保家庭", "符合重度残疾人护理补贴：残疾等级为一级或二级的重度残疾人"}},
		{name: "grade 2 hearing in 特困: nursing only", statuses: []string{"EXTREME_POVERTY", "LIVING_ALONE"}, category: "HEARING", digit: 2, grade: 2, living: false, nursing: true},
		{name: "grade 2 hearing in 低保: both", statuses: []string{"LOW_INCOME", "LIVING_ALONE"}, category: "HEARING", digit: 2, grade: 2, living: true, nursing: true},
		{name: "grade 3 intellectual", category: "INTELLECTUAL", digit: 5, grade: 3, nursing: true,
			reasons: []string{"三级的智力残疾人或精神残疾人"}},
		{name: "grade 3 mental", category: "MENTAL", digit: 6, grade: 3, nursing: true},
		{name: "grade 3 physical", statuses: []string{"LIVING_ALONE"}, category: "PHYSICAL", digit: 4, grade: 3,
			reasons: []string{"残疾类别为肢体残疾，规则要求智力残疾或精神残疾", "残疾等级为三级，规则要求一级或二级"}},
		{name: "grade 4 mental", category: "MENTAL", digit: 6, grade: 4,
			reasons: []string{"残疾等级为四级，规则要求三级"}},
		{name: "grade 3 multiple", category: "MULTIPLE", digit: 7, grade: 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkEligibility(t, e, cw, c) })
	}
}

func TestSubsidyRuleChangeTakesEffect(t *testing.T) {
	e := newEnv(t)
	cw, admin := e.As(t, "caseworker"), e.Admin(t)
	grade3Physical := subsidyCase{category: "PHYSICAL", digit: 4, grade: 3}
	checkEligibility(t, e, cw, grade3Physical)

	// Only ADMIN changes rules.
	widen := map[string]any{"in": map[string]any{"code": "NURSING_GRADE3_INTELLECTUAL_MENTAL", "subsidy": "NURSING", "grades": []int{3},
		"categories": []string{"INTELLECTUAL", "MENTAL", "PHYSICAL"}, "description": "残疾等级为三级的智力、精神或肢体残疾人"}}
	if r := e.Do(t, cw, upsertRule, widen); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("case worker changed a rule: %s", r.Raw)
	}
	r := e.MustDo(t, admin, upsertRule, widen)
	if r.Str("upsertDisabilitySubsidyRule.rule.categories.2") != "PHYSICAL" || r.Get("upsertDisabilitySubsidyRule.rule.active") != true {
		t.Fatalf("upsert: %s", r.Raw)
	}
	grade3Physical.nursing, grade3Physical.reasons = true, []string{"符合重度残疾人护理补贴：残疾等级为三级的智力、精神或肢体残疾人"}
	checkEligibility(t, e, cw, grade3Physical)

	// The seeded rule names its sources.
	r = e.MustDo(t, cw, `{ disabilitySubsidyRules { code excludedStatuses basis } }`, nil)
	seen := false
	for _, x := range r.Get("disabilitySubsidyRules").([]any) {
		if m := x.(map[string]any); m["code"] == "LIVING_HARDSHIP" {
			basis, _ := m["basis"].(string)
			seen = strings.Contains(basis, "国发〔2015〕52号") && fmt.Sprint(m["excludedStatuses"]) == "[EXTREME_POVERTY]"
		}
	}
	if !seen {
		t.Fatalf("LIVING_HARDSHIP lacks its exclusion or its sources: %s", r.Raw)
	}
	// A status may not both qualify and exclude.
	r = e.MustDo(t, admin, upsertRule, map[string]any{"in": map[string]any{"code": "LIVING_HARDSHIP", "subsidy": "LIVING",
		"requiredStatuses": []string{"LOW_INCOME"}, "excludedStatuses": []string{"LOW_INCOME"}, "description": "x"}})
	if r.Str("upsertDisabilitySubsidyRule.userErrors.0.code") != "INVALID" {
		t.Fatalf("required and excluded at once: %s", r.Raw)
	}

	// Switching the living-subsidy rule off ends that subsidy for everyone.
	off := map[string]any{"in": map[string]any{"code": "LIVING_HARDSHIP", "subsidy": "LIVING", "requiredStatuses": []string{"LOW_INCOME"},
		"excludedStatuses": []string{"EXTREME_POVERTY"}, "description": "低保家庭中的持证残疾人", "active": false}}
	e.MustDo(t, admin, upsertRule, off)
	checkEligibility(t, e, cw, subsidyCase{statuses: []string{"LOW_INCOME"}, category: "PHYSICAL", digit: 4, grade: 4,
		reasons: []string{"不符合困难残疾人生活补贴：目前没有生效的认定规则"}})

	// A new rule: 失独 holders of any grade get the living subsidy.
	e.MustDo(t, admin, upsertRule, map[string]any{"in": map[string]any{"code": "LIVING_BEREAVED", "subsidy": "LIVING",
		"requiredStatuses": []string{"BEREAVED_PARENT"}, "description": "失独家庭的持证残疾人"}})
	checkEligibility(t, e, cw, subsidyCase{statuses: []string{"BEREAVED_PARENT"}, category: "SPEECH", digit: 3, grade: 4, living: true,
		reasons: []string{"符合困难残疾人生活补贴：失独家庭的持证残疾人"}})

	if n := count(t, e, "SELECT count(*) FROM audit_log WHERE action = 'upsertDisabilitySubsidyRule'"); n != 3 {
		t.Fatalf("rule changes audited: %d", n)
	}
	// Bad rules are refused field by field.
	r = e.MustDo(t, admin, upsertRule, map[string]any{"in": map[string]any{"code": "bad code", "subsidy": "LIVING", "grades": []int{5}, "description": " "}})
	if ues, _ := r.Get("upsertDisabilitySubsidyRule.userErrors").([]any); len(ues) != 3 {
		t.Fatalf("want 3 user errors: %s", r.Raw)
	}
	rules := e.MustDo(t, cw, `{ disabilitySubsidyRules { code active } }`, nil)
	if got, _ := rules.Get("disabilitySubsidyRules").([]any); len(got) != 4 {
		t.Fatalf("rules: %s", rules.Raw)
	}
}

func TestSubsidyEligibilityReaders(t *testing.T) {
	e := newEnv(t)
	holder := newResident(t, e, testenv.ResidentSpec{})
	other := newResident(t, e, testenv.ResidentSpec{})
	vars := map[string]any{"id": residentGID(holder.ID)}
	for _, c := range []struct {
		who  string
		tok  string
		code string
	}{
		{"caseworker in jurisdiction", e.As(t, "caseworker"), ""},
		{"clerk", e.As(t, "clerk"), ""},
		{"auditor", e.As(t, "auditor"), ""},
		{"the resident", residentToken(t, e, holder.ID), ""},
		{"caseworker elsewhere", e.As(t, "caseworker2"), "FORBIDDEN"},
		{"another resident", residentToken(t, e, other.ID), "FORBIDDEN"},
		{"a provider", providerToken(t, e, firstProvider(t, e)), "FORBIDDEN"},
	} {
		t.Run(c.who, func(t *testing.T) {
			r := e.Do(t, c.tok, eligibilityQuery, vars)
			if r.ErrorCode() != c.code {
				t.Fatalf("code %q want %q: %s", r.ErrorCode(), c.code, r.Raw)
			}
		})
	}
}

// TestHouseholdLowIncomeQualifies: 困难残疾人生活补贴 goes to a disabled
// member of a 低保 household: the household's status (approved by a
// checker) is matched by the rule, though the member holds none.
func TestHouseholdLowIncomeQualifies(t *testing.T) {
	e := newEnv(t)
	cw, clerk, admin := e.As(t, "caseworker"), e.As(t, "clerk"), e.Admin(t)
	// A rule of its own (other tests switch the seeded ones off), switched off again at the end.
	rule := func(active bool) {
		r := e.MustDo(t, admin, upsertRule, map[string]any{"in": map[string]any{"code": "LIVING_HOUSEHOLD_TEST", "subsidy": "LIVING",
			"grades": []int{1, 2, 3, 4}, "requiredStatuses": []string{"LOW_INCOME"}, "excludedStatuses": []string{"EXTREME_POVERTY"},
			"description": "低保家庭中的持证残疾人（测试）", "active": active}})
		if r.Get("upsertDisabilitySubsidyRule.userErrors.0") != nil {
			t.Fatalf("rule: %s", r.Raw)
		}
	}
	rule(true)
	t.Cleanup(func() { rule(false) })
	holder := newResident(t, e, testenv.ResidentSpec{})
	record(t, e, cw, holder, "PHYSICAL", 4, 4, "2024-01-01", "2030-12-31")
	living := func() any {
		r := e.MustDo(t, cw, eligibilityQuery, map[string]any{"id": residentGID(holder.ID)})
		return r.Get("disabilitySubsidyEligibility.livingSubsidy")
	}
	if living() != false {
		t.Fatal("eligible without 低保")
	}
	r := e.MustDo(t, clerk, `mutation($h:ID!){createHousehold(input:{address:"东大街1号",headId:$h}){household{id} userErrors{code}}}`,
		map[string]any{"h": residentGID(holder.ID)})
	hid := r.Str("createHousehold.household.id")
	r = e.MustDo(t, clerk, `mutation($in:RequestFactChangeInput!){requestFactChange(input:$in){request{id} userErrors{code}}}`,
		map[string]any{"in": map[string]any{"kind": "HOUSEHOLD_STATUS", "householdId": hid, "status": "LOW_INCOME", "statusAction": "GRANT",
			"effectiveOn": "2026-01-01", "evidence": map[string]any{"documentType": "低保证", "documentNumber": "DB-9"}}})
	id := r.Str("requestFactChange.request.id")
	r = e.MustDo(t, cw, `mutation($id:ID!){approveFactChange(id:$id){request{state} userErrors{code}}}`, map[string]any{"id": id})
	if r.Str("approveFactChange.request.state") != "APPROVED" {
		t.Fatalf("approve: %s", r.Raw)
	}
	if living() != true {
		t.Fatal("a member of a 低保 household does not get the living subsidy")
	}
}
