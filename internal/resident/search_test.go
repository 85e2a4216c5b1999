package resident_test

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/resident"
	"github.com/jinjiang/residents/internal/testenv"
)

// TestCounterSearch: a clerk finds a resident by part of the name in
// characters, by full pinyin (whole syllables, any case, spaces ignored),
// by initials, and by any reading of a character with several; the
// caller's jurisdiction and the other filters still apply.
func TestCounterSearch(t *testing.T) {
	e := testenv.New(t, testenv.OwnDatabase(t))
	// Names of characters and syllables the seeded residents never use.
	for _, s := range []testenv.ResidentSpec{
		{Name: "阮翠娥", CommunityCode: "510104020001"},
		{Name: "蒲翠娥", CommunityCode: "510104023001"},
		{Name: "阮翠萍", CommunityCode: "510104020002"},
		{Name: "曾曦晖", CommunityCode: "510104020001"},
		{Name: "欧阳娟娟", CommunityCode: "510104020001"},
		{Name: "单雯婧", CommunityCode: "510104020001"},
		{Name: "Anna·李", CommunityCode: "510104020001"},
	} {
		e.InsertResident(t, s)
	}
	clerk, cw := e.As(t, "clerk"), e.As(t, "caseworker")
	const doc = `query($f: ResidentFilter){ residents(filter:$f, first:100){ totalCount edges{ node{ name } } } }`
	cases := []struct {
		tok, search, nameContains string
		want                      []string
	}{
		{clerk, "翠娥", "", []string{"阮翠娥", "蒲翠娥"}},
		{clerk, "阮翠娥", "", []string{"阮翠娥"}},
		{clerk, "阮娥", "", nil}, // not a substring
		{clerk, "翠", "", []string{"阮翠娥", "蒲翠娥", "阮翠萍"}},
		{clerk, "rce", "", []string{"阮翠娥"}},
		{clerk, "RCE", "", []string{"阮翠娥"}},
		{clerk, "ruancuie", "", []string{"阮翠娥"}},
		{clerk, "Ruan Cui E", "", []string{"阮翠娥"}},
		{clerk, "cuie", "", []string{"阮翠娥", "蒲翠娥"}},
		{clerk, "ruancui", "", []string{"阮翠娥", "阮翠萍"}},
		{clerk, "ruancu", "", nil}, // whole syllables only
		{clerk, "zengxihui", "", []string{"曾曦晖"}},
		{clerk, "cengxihui", "", []string{"曾曦晖"}},
		{clerk, "shanwenjing", "", []string{"单雯婧"}},
		{clerk, "oyjj", "", []string{"欧阳娟娟"}},
		{clerk, "ouyang", "", []string{"欧阳娟娟"}},
		{clerk, "anna", "", []string{"Anna·李"}},
		{clerk, "NA·李", "", []string{"Anna·李"}},
		{clerk, "%", "", nil},
		// nameContains is characters only, case-insensitive.
		{clerk, "", "翠娥", []string{"阮翠娥", "蒲翠娥"}},
		{clerk, "", "rce", nil},
		{clerk, "", "ANNA", []string{"Anna·李"}},
		{clerk, "翠", "萍", []string{"阮翠萍"}},
		// A case worker of 春熙路街道 (510104020) finds only their street's.
		{cw, "cuie", "", []string{"阮翠娥"}},
	}
	for _, c := range cases {
		t.Run(c.search+"|"+c.nameContains, func(t *testing.T) {
			f := map[string]any{}
			if c.search != "" {
				f["search"] = c.search
			}
			if c.nameContains != "" {
				f["nameContains"] = c.nameContains
			}
			got := names(e.MustDo(t, c.tok, doc, map[string]any{"f": f}))
			slices.Sort(got)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
	// Spaces alone are no search at all.
	all := e.MustDo(t, clerk, doc, nil).Get("residents.totalCount")
	if blank := e.MustDo(t, clerk, doc, map[string]any{"f": map[string]any{"search": "  "}}).Get("residents.totalCount"); blank != all {
		t.Fatalf("a blank search counts %v, no search %v", blank, all)
	}
	r := e.Do(t, clerk, doc, map[string]any{"f": map[string]any{"search": strings.Repeat("张", 65)}})
	if r.ErrorCode() != "BAD_USER_INPUT" {
		t.Fatalf("65 characters: %s", r.Raw)
	}
}

// TestSearchTermsBackfill: a row written before the search column existed
// (NULL terms) is not found by a name search until BackfillSearchTerms
// gives it its terms; a second run has nothing to do.
func TestSearchTermsBackfill(t *testing.T) {
	e := testenv.New(t)
	res := e.InsertResident(t, testenv.ResidentSpec{Name: "回填甲"})
	if err := e.DB.Exec("UPDATE residents SET name_terms = NULL WHERE id = ?", res.ID).Error; err != nil {
		t.Fatal(err)
	}
	clerk := e.As(t, "clerk")
	// Other runs of this test in the package's database hold their own 回填甲.
	found := func() bool {
		r := e.MustDo(t, clerk, `{ residents(filter:{search:"htj"}, first:100){ edges{ node{ id } } } }`, nil)
		edges, _ := r.Get("residents.edges").([]any)
		for i := range edges {
			if r.Str("residents.edges."+strconv.Itoa(i)+".node.id") == residentGID(res.ID) {
				return true
			}
		}
		return false
	}
	if found() {
		t.Fatal("found before the backfill")
	}
	if n, err := resident.BackfillSearchTerms(context.Background(), e.DB); err != nil || n < 1 {
		t.Fatalf("backfill: %d, %v", n, err)
	}
	var terms int
	testenv.MustScan(t, e.DB, "SELECT coalesce(cardinality(name_terms), 0) FROM residents WHERE id = ?", testenv.Args(res.ID), &terms)
	if terms != len(resident.SearchTerms("回填甲")) {
		t.Fatalf("%d terms after the backfill, want %d", terms, len(resident.SearchTerms("回填甲")))
	}
	if !found() {
		t.Fatal("not found after the backfill")
	}
	if n, err := resident.BackfillSearchTerms(context.Background(), e.DB); err != nil || n != 0 {
		t.Fatalf("second backfill: %d, %v", n, err)
	}
}

// TestTotalCount: exact up to 10,000 (flagged exact), estimated beyond
// (flagged), and not counted at all when the client does not ask.
func TestTotalCount(t *testing.T) {
	e := testenv.New(t, testenv.OwnDatabase(t))
	var comm1, comm2 string
	testenv.MustScan(t, e.DB, "SELECT id::text FROM org_units WHERE code = '510104020001'", nil, &comm1)
	testenv.MustScan(t, e.DB, "SELECT id::text FROM org_units WHERE code = '510104023001'", nil, &comm2)
	// 10,000 in one community, 50 in another: synthetic rows, counted only.
	if err := e.DB.Exec(`INSERT INTO residents (id, name, name_terms, id_number_enc, id_number_bidx, id_number_masked, gender,
		birth_date, community_id, org_path)
		SELECT uuid_v7(), '计数' || i, ARRAY['计','计数','数'], 'x', decode(md5('count' || i), 'hex'), '510104************', 'MALE',
		       '1940-01-01', u.id, u.path
		  FROM generate_series(1, 10050) i
		  JOIN org_units u ON u.id = CASE WHEN i <= 10000 THEN ?::uuid ELSE ?::uuid END`, comm1, comm2).Error; err != nil {
		t.Fatal(err)
	}
	clerk := e.As(t, "clerk")
	const doc = `query($f: ResidentFilter){ residents(filter:$f, first:1){ totalCount totalCountIsEstimate } }`
	count := func(f map[string]any) (float64, bool) {
		r := e.Do(t, clerk, doc, map[string]any{"f": f})
		if len(r.Errors) > 0 {
			t.Fatalf("%s\n%s", r.Raw, e.Logs())
		}
		return r.Get("residents.totalCount").(float64), r.Get("residents.totalCountIsEstimate").(bool)
	}
	if n, est := count(map[string]any{"nameContains": "计数", "orgUnitId": unitGID(t, e, "510104023001")}); n != 50 || est {
		t.Fatalf("50 rows: %v, estimate %v", n, est)
	}
	if n, est := count(map[string]any{"nameContains": "计数", "orgUnitId": unitGID(t, e, "510104020001")}); n != 10000 || est {
		t.Fatalf("10,000 rows: %v, estimate %v", n, est)
	}
	if n, est := count(map[string]any{"nameContains": "计数"}); n <= 10000 || !est {
		t.Fatalf("10,050 rows: %v, estimate %v", n, est)
	}
	with := countStatements(t, e, func() {
		e.MustDo(t, clerk, `{ residents(first:5){ totalCount edges{ node{ name } } } }`, nil)
	})
	without := countStatements(t, e, func() {
		e.MustDo(t, clerk, `{ residents(first:5){ edges{ node{ name } } } }`, nil)
	})
	if without >= with {
		t.Fatalf("statements with totalCount %d, without %d: counted although not asked", with, without)
	}
}

// TestSearchPages: a search that matches by characters and by pinyin at
// once (a name holding the Latin letters typed, and a name whose initials
// they are) merges the two walks in list order, each resident once, and
// pages through them with the cursor; the count agrees. A rename (the
// backfill's update here) moves the resident to its new terms.
func TestSearchPages(t *testing.T) {
	e := testenv.New(t, testenv.OwnDatabase(t))
	// 全, 晓 and 薇 are not in the seed's names; the Latin names hold "qxw".
	var ids []uuid.UUID
	for _, n := range []string{"全晓薇", "qxw·全", "全小伟", "Aqxw", "全晓伟"} {
		ids = append(ids, e.InsertResident(t, testenv.ResidentSpec{Name: n, CommunityCode: "510104020001"}).ID)
	}
	want := slices.Clone(ids)
	slices.SortFunc(want, func(a, b uuid.UUID) int { return bytes.Compare(b[:], a[:]) }) // newest first
	clerk := e.As(t, "clerk")
	const doc = `query($f: ResidentFilter, $after: String){ residents(filter:$f, first:2, after:$after){
		totalCount edges{ node{ id } } pageInfo{ hasNextPage endCursor } } }`
	walk := func(f map[string]any) (got []string, total float64) {
		var after any
		for range 10 {
			r := e.MustDo(t, clerk, doc, map[string]any{"f": f, "after": after})
			total = r.Get("residents.totalCount").(float64)
			edges, _ := r.Get("residents.edges").([]any)
			for i := range edges {
				got = append(got, r.Str("residents.edges."+strconv.Itoa(i)+".node.id"))
			}
			if r.Get("residents.pageInfo.hasNextPage") != true {
				return got, total
			}
			after = r.Get("residents.pageInfo.endCursor")
		}
		t.Fatal("more than 10 pages")
		return nil, 0
	}
	gids := func(us []uuid.UUID) []string {
		var out []string
		for _, u := range us {
			out = append(out, residentGID(u))
		}
		return out
	}
	got, total := walk(map[string]any{"search": "qxw"})
	if !slices.Equal(got, gids(want)) || total != 5 {
		t.Fatalf("qxw: %v (count %v), want %v", got, total, gids(want))
	}
	// With nameContains as well: the characters 晓 (two of the five).
	got, total = walk(map[string]any{"search": "QXW", "nameContains": "晓"})
	var xiao []uuid.UUID
	for _, u := range want {
		if u == ids[0] || u == ids[4] {
			xiao = append(xiao, u)
		}
	}
	if !slices.Equal(got, gids(xiao)) || total != 2 {
		t.Fatalf("qxw and 晓: %v (count %v), want %v", got, total, gids(xiao))
	}
	// 全晓薇 renamed 全大薇 through the terms' writer.
	if err := e.DB.Exec("UPDATE residents SET name = '全大薇', name_terms = NULL WHERE id = ?", ids[0]).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := resident.BackfillSearchTerms(context.Background(), e.DB); err != nil {
		t.Fatal(err)
	}
	if got, _ := walk(map[string]any{"search": "qdw"}); !slices.Equal(got, gids(ids[:1])) {
		t.Fatalf("qdw after the rename: %v", got)
	}
	if got, _ := walk(map[string]any{"search": "qxw"}); slices.Contains(got, residentGID(ids[0])) || len(got) != 4 {
		t.Fatalf("qxw after the rename: %v", got)
	}
	var stale int
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM resident_name_terms WHERE resident_id = ? AND term = '晓薇'", testenv.Args(ids[0]), &stale)
	if stale != 0 {
		t.Fatalf("%d stale terms after the rename", stale)
	}
}
