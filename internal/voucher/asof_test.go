package voucher_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/testenv"
)

// TestIssuanceUsesFactsAsOfFirstDay: a period is issued on the facts as
// they stood on its first day. On the 15th: a 低保 that ended on the 10th
// still gives this month's voucher and not next month's; one granted on
// the 5th gives next month's only; so does a care level assessed on the
// 3rd, and a household's 低保 (the household formed on the 15th) matched
// by a status rule; an assessment on the 1st counts for the 1st.
func TestIssuanceUsesFactsAsOfFirstDay(t *testing.T) {
	f := newFixture(t, programSpec{rules: []map[string]any{
		{"statuses": []string{"LOW_INCOME"}, "amountFen": 20000},
		{"careLevels": []string{"SEVERE"}, "amountFen": 50000},
	}})
	e := f.e
	now := time.Now().In(civil.Shanghai)
	e.Clock.Set(time.Date(now.Year(), now.Month(), 15, 10, 0, 0, 0, civil.Shanghai))
	f.admin, f.clerk = e.Admin(t), e.As(t, "clerk")
	checker := e.As(t, "caseworker")
	month := civil.MonthOf(civil.DateOf(e.Clock.Now()))
	day := func(d int) string { return civil.Date{Year: month.Year, Month: month.Month, Day: d}.String() }

	request := func(in map[string]any) {
		t.Helper()
		in["evidence"] = map[string]any{"documentType": "认定通知书", "documentNumber": "N-1"}
		r := e.MustDo(t, f.clerk, `mutation($in:RequestFactChangeInput!){requestFactChange(input:$in){request{id} userErrors{code message}}}`, map[string]any{"in": in})
		id := r.Str("requestFactChange.request.id")
		if id == "" {
			t.Fatalf("request: %s", r.Raw)
		}
		r = e.MustDo(t, checker, `mutation($id:ID!){approveFactChange(id:$id){request{state} userErrors{code message}}}`, map[string]any{"id": id})
		if r.Str("approveFactChange.request.state") != "APPROVED" {
			t.Fatalf("approve: %s", r.Raw)
		}
	}
	status := func(rid uuid.UUID, action, on string) {
		request(map[string]any{"kind": "RESIDENT_STATUS", "residentId": residentGID(rid), "status": "LOW_INCOME", "statusAction": action, "effectiveOn": on})
	}
	care := func(rid uuid.UUID, level, on string) {
		request(map[string]any{"kind": "CARE_LEVEL", "residentId": residentGID(rid), "careLevel": level, "effectiveOn": on,
			"assessment": map[string]any{"assessor": "评估员", "instrument": "老年人能力评估 GB/T 42195-2022", "score": 30}})
	}

	ended := f.resident(t, testenv.ResidentSpec{Statuses: []string{"LOW_INCOME"}})
	status(ended, "END", day(10))
	granted := f.resident(t, testenv.ResidentSpec{})
	status(granted, "GRANT", day(5))
	assessed := f.resident(t, testenv.ResidentSpec{CareLevel: "MILD"})
	care(assessed, "SEVERE", day(3))
	onFirst := f.resident(t, testenv.ResidentSpec{CareLevel: "SEVERE"})
	care(onFirst, "MILD", day(1))
	unchanged := f.resident(t, testenv.ResidentSpec{Statuses: []string{"LOW_INCOME"}})
	// A household formed today, whose 低保 is granted from the 1st: its
	// member was not in it on the 1st.
	member := f.resident(t, testenv.ResidentSpec{})
	r := e.MustDo(t, f.clerk, `mutation($h:ID!){createHousehold(input:{address:"红星路一段8号",headId:$h}){household{id} userErrors{code}}}`,
		map[string]any{"h": residentGID(member)})
	hid := r.Str("createHousehold.household.id")
	if hid == "" {
		t.Fatalf("household: %s", r.Raw)
	}
	request(map[string]any{"kind": "HOUSEHOLD_STATUS", "householdId": hid, "status": "LOW_INCOME", "statusAction": "GRANT", "effectiveOn": day(1)})

	amounts := func(period string) map[uuid.UUID]int64 {
		t.Helper()
		if _, _, _, code := f.issue(t, period); code != "" {
			t.Fatalf("issue %s: %s", period, code)
		}
		out := map[uuid.UUID]int64{}
		rows, err := e.DB.Raw("SELECT resident_id, face_value_fen FROM vouchers WHERE program_id = ? AND period = ?", f.progID, period).Rows()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id uuid.UUID
			var fen int64
			if err := rows.Scan(&id, &fen); err != nil {
				t.Fatal(err)
			}
			out[id] = fen
		}
		return out
	}
	cases := []struct {
		name       string
		id         uuid.UUID
		this, next int64
	}{
		{"低保 ended on the 10th", ended, 20000, 0},
		{"低保 granted on the 5th", granted, 0, 20000},
		{"assessed SEVERE on the 3rd", assessed, 0, 50000},
		{"assessed MILD on the 1st", onFirst, 0, 0},
		{"unchanged 低保", unchanged, 20000, 20000},
		{"household 低保, joined on the 15th", member, 0, 20000},
	}
	this, next := amounts(month.String()), amounts(month.AddMonths(1).String())
	for _, c := range cases {
		if this[c.id] != c.this || next[c.id] != c.next {
			t.Errorf("%s: this month %d (want %d), next month %d (want %d)", c.name, this[c.id], c.this, next[c.id], c.next)
		}
	}
}
