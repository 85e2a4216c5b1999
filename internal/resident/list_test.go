package resident_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/resident"
	"github.com/jinjiang/residents/internal/testenv"
)

const listDoc = `query($f: ResidentFilter, $first: Int, $after: String){ residents(filter:$f, first:$first, after:$after){
  totalCount edges{ cursor node{ name age careLevel statuses community{ name } } } pageInfo{ hasNextPage hasPreviousPage endCursor } } }`

func names(r *testenv.Response) []string {
	var out []string
	edges, _ := r.Get("residents.edges").([]any)
	for _, e := range edges {
		out = append(out, e.(map[string]any)["node"].(map[string]any)["name"].(string))
	}
	return out
}

func TestListFiltersAndPagination(t *testing.T) {
	e := testenv.New(t, testenv.OwnDatabase(t))
	e.Clock.Set(time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC))
	bd := func(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }
	// Inserted oldest first; lists are newest first.
	specs := []testenv.ResidentSpec{
		{Name: "筛选甲", BirthDate: bd(1946, 3, 1), CommunityCode: "510104020001", Statuses: []string{"LIVING_ALONE"}, CareLevel: "MILD"}, // 80 today
		{Name: "筛选乙", BirthDate: bd(1946, 3, 2), CommunityCode: "510104020002", Statuses: []string{"EMPTY_NEST"}, CareLevel: "SEVERE"}, // 79
		{Name: "筛选丙", BirthDate: bd(1936, 1, 1), CommunityCode: "510104023001", Statuses: []string{"LOW_INCOME", "LIVING_ALONE"}},      // 90
		{Name: "筛选丁", BirthDate: bd(1966, 2, 28), CommunityCode: "510104023002", CareLevel: "TOTAL"},                                   // 60
		{Name: "筛选戊", BirthDate: bd(1960, 5, 5), CommunityCode: "510104026001"},                                                        // 65
	}
	for _, s := range specs {
		e.InsertResident(t, s)
	}
	base := map[string]any{"nameContains": "筛选"}
	with := func(kv ...any) map[string]any {
		f := map[string]any{}
		for k, v := range base {
			f[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			f[kv[i].(string)] = kv[i+1]
		}
		return f
	}
	clerk := e.As(t, "clerk")
	cases := []struct {
		name string
		tok  string
		f    map[string]any
		want string
	}{
		{"all, newest first", clerk, with(), "筛选戊 筛选丁 筛选丙 筛选乙 筛选甲"},
		{"org subtree (street)", clerk, with("orgUnitId", unitGID(t, e, "510104020")), "筛选乙 筛选甲"},
		{"org subtree (community)", clerk, with("orgUnitId", unitGID(t, e, "510104023002")), "筛选丁"},
		{"min age is inclusive on the birthday", clerk, with("minAge", 80), "筛选丙 筛选甲"},
		{"max age", clerk, with("maxAge", 79), "筛选戊 筛选丁 筛选乙"},
		{"age range", clerk, with("minAge", 60, "maxAge", 65), "筛选戊 筛选丁"},
		{"statuses (any of)", clerk, with("statuses", []string{"LIVING_ALONE", "EMPTY_NEST"}), "筛选丙 筛选乙 筛选甲"},
		{"care levels", clerk, with("careLevels", []string{"SEVERE", "TOTAL"}), "筛选丁 筛选乙"},
		{"name contains", clerk, map[string]any{"nameContains": "丙"}, "筛选丙"},
		{"LIKE wildcards are literal", clerk, map[string]any{"nameContains": "%"}, ""},
		{"case worker sees own street only", e.As(t, "caseworker"), with(), "筛选乙 筛选甲"},
		{"case worker filter outside their street", e.As(t, "caseworker"), with("orgUnitId", unitGID(t, e, "510104023")), ""},
		{"operator district-wide", e.As(t, "operator"), with("statuses", []string{"LOW_INCOME"}), "筛选丙"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.MustDo(t, c.tok, listDoc, map[string]any{"f": c.f, "first": 100})
			if got := strings.Join(names(r), " "); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
			if tc := r.Get("residents.totalCount"); tc != float64(len(names(r))) {
				t.Fatalf("totalCount = %v", tc)
			}
		})
	}
	t.Run("pages", func(t *testing.T) {
		var all []string
		var after any
		for pageNo := 0; pageNo < 3; pageNo++ {
			r := e.MustDo(t, clerk, listDoc, map[string]any{"f": base, "first": 2, "after": after})
			all = append(all, names(r)...)
			if r.Get("residents.totalCount") != float64(5) {
				t.Fatalf("totalCount: %s", r.Raw)
			}
			if hp := r.Get("residents.pageInfo.hasPreviousPage"); hp != (pageNo > 0) {
				t.Fatalf("hasPreviousPage = %v on page %d", hp, pageNo)
			}
			if hn := r.Get("residents.pageInfo.hasNextPage"); hn != (pageNo < 2) {
				t.Fatalf("hasNextPage = %v on page %d", hn, pageNo)
			}
			after = r.Str("residents.pageInfo.endCursor")
		}
		if strings.Join(all, " ") != "筛选戊 筛选丁 筛选丙 筛选乙 筛选甲" {
			t.Fatalf("pages: %v", all)
		}
	})
	t.Run("refused", func(t *testing.T) {
		for _, c := range []struct {
			tok, code string
			vars      map[string]any
		}{
			{clerk, "BAD_USER_INPUT", map[string]any{"first": 101}},
			{clerk, "BAD_USER_INPUT", map[string]any{"first": 0}},
			{clerk, "BAD_USER_INPUT", map[string]any{"after": "garbage"}},
			{clerk, "BAD_USER_INPUT", map[string]any{"f": map[string]any{"minAge": -1}}},
			{e.As(t, "telephony"), "FORBIDDEN", nil},
			{"", "UNAUTHENTICATED", nil},
		} {
			if r := e.Do(t, c.tok, listDoc, c.vars); r.ErrorCode() != c.code {
				t.Errorf("%v: %s", c.vars, r.Raw)
			}
		}
	})
}

// countStatements counts SQL statements run through e.DB while fn runs.
func countStatements(t *testing.T, e *testenv.Env, fn func()) int64 {
	t.Helper()
	var n atomic.Int64
	var on atomic.Bool
	cb := func(*gorm.DB) {
		if on.Load() {
			n.Add(1)
		}
	}
	name := fmt.Sprintf("count_%p", t)
	cbs := e.DB.Callback()
	for _, err := range []error{
		cbs.Query().After("gorm:query").Register(name, cb),
		cbs.Row().After("gorm:row").Register(name, cb),
		cbs.Raw().After("gorm:raw").Register(name, cb),
		cbs.Create().After("gorm:create").Register(name, cb),
		cbs.Update().After("gorm:update").Register(name, cb),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	on.Store(true)
	fn()
	on.Store(false)
	return n.Load()
}

func TestListStatementsDoNotGrowWithPageSize(t *testing.T) {
	e := testenv.New(t)
	clerk := e.As(t, "clerk")
	comms := []string{"510104020001", "510104021001", "510104022002", "510104023003", "510104028002"}
	for i := 0; i < 110; i++ {
		r := e.InsertResident(t, testenv.ResidentSpec{Name: fmt.Sprintf("加载%03d", i), CommunityCode: comms[i%len(comms)],
			BirthDate: time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i)})
		if i%3 == 0 {
			enc, err := e.App.Keyring.Encrypt("13900000000", resident.PurposeContactPhone)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.DB.Exec(`INSERT INTO emergency_contacts (id, resident_id, name, relation, phone_enc, phone_masked, priority)
				VALUES (uuid_v7(), ?, '联系人', '子女', ?, '139****0000', 1)`, r.ID, enc).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	const doc = `query($n:Int){ residents(first:$n, filter:{nameContains:"加载"}){ totalCount edges{ node{ name idNumber
	  community{ name } grid{ name } emergencyContacts{ name } } } } }`
	// The fewest of three runs: a loader batch may split when the scheduler
	// delays a resolver past the batch window, which has nothing to do with
	// the page size.
	run := func(n int) int64 {
		best := int64(1 << 30)
		for i := 0; i < 3; i++ {
			best = min(best, countStatements(t, e, func() {
				r := e.MustDo(t, clerk, doc, map[string]any{"n": n})
				if len(r.Get("residents.edges").([]any)) != n {
					t.Fatalf("page size: %s", r.Raw)
				}
			}))
		}
		return best
	}
	small, large := run(10), run(100)
	t.Logf("statements: first:10 → %d, first:100 → %d", small, large)
	if large > small || small > 8 {
		t.Fatalf("statements grow with page size: %d for 10, %d for 100", small, large)
	}
}
