package resident

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/page"
	"github.com/jinjiang/residents/internal/policy"
)

type residentRow struct {
	ID             uuid.UUID
	Name           string
	IDNumberEnc    string
	IDNumberBidx   []byte
	IDNumberMasked string
	PhoneEnc       *string
	PhoneBidx      []byte
	PhoneMasked    *string
	Gender         string
	BirthDate      civil.Date
	Address        *string
	CommunityID    uuid.UUID
	GridID         *uuid.UUID
	OrgPath        string
	Statuses       pq.StringArray `gorm:"type:text[]"`
	// NameTerms is what the name is found by (SearchTerms); written with
	// the name, never read back.
	NameTerms pq.StringArray `gorm:"type:text[]"`
	CareLevel string
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
	// DeceasedOn and MovedOutOn are written only by life events (lifeevent.go).
	DeceasedOn *civil.Date `gorm:"->"`
	MovedOutOn *civil.Date `gorm:"->"`
	// MergedInto is written only by a merge (merge.go).
	MergedInto *uuid.UUID `gorm:"->"`
}

func (residentRow) TableName() string { return "residents" }

func (r *residentRow) resident() *Resident {
	st := make([]Status, len(r.Statuses))
	for i, x := range r.Statuses {
		st[i] = Status(x)
	}
	return &Resident{ID: r.ID, Name: r.Name, IDNumberMasked: r.IDNumberMasked, Gender: Gender(r.Gender),
		BirthDate: r.BirthDate, PhoneMasked: r.PhoneMasked, Address: r.Address, CommunityID: r.CommunityID,
		GridID: r.GridID, OrgPath: r.OrgPath, Statuses: st, CareLevel: CareLevel(r.CareLevel), Version: r.Version,
		CreatedAt: r.CreatedAt, DeceasedOn: r.DeceasedOn, MovedOutOn: r.MovedOutOn, MergedInto: r.MergedInto, idEnc: r.IDNumberEnc}
}

type contactRow struct {
	ID          uuid.UUID
	ResidentID  uuid.UUID
	Name        string
	Relation    string
	PhoneEnc    string
	PhoneMasked string
	Priority    int
}

func (contactRow) TableName() string { return "emergency_contacts" }

type wechatRow struct {
	ID         uuid.UUID
	ResidentID *uuid.UUID
	BoundAt    *time.Time
	CreatedAt  time.Time
}

func (wechatRow) TableName() string { return "wechat_accounts" }

// unitRef is the part of an org unit the registry needs.
type unitRef struct {
	ID       uuid.UUID
	Kind     string
	Path     string
	ParentID *uuid.UUID
	// RetiredAt is set for a retired unit, which takes no new residents.
	RetiredAt *time.Time
}

// residentColumns excludes the blind indexes, which reads never need.
const residentColumns = "id, name, id_number_enc, id_number_masked, phone_enc, phone_masked, gender, birth_date, address, community_id, grid_id, org_path, statuses, care_level, version, created_at, updated_at, deceased_on, moved_out_on, merged_into"

// findByID returns the row, or nil.
func findByID(ctx context.Context, db *gorm.DB, id uuid.UUID) (*residentRow, error) {
	// A fixed statement, and the id as its 16 bytes rather than through
	// uuid's driver.Valuer (a string Postgres parses back): this is the
	// statement behind every resident(id).
	rows, err := db.WithContext(ctx).Raw("SELECT "+residentColumns+" FROM residents WHERE id = ?", [16]byte(id)).Rows()
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: %w", err))
	}
	out, err := scanResidents(rows, 1)
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return &out[0], nil
}

// scanResidents reads rows of residentColumns and closes them. It scans by
// hand: GORM's reflective scanning into residentRow was a tenth of the CPU
// of a residents page, on the two hottest reads.
func scanResidents(rows *sql.Rows, capacity int) ([]residentRow, error) {
	defer rows.Close()
	out := make([]residentRow, 0, capacity)
	for rows.Next() {
		out = append(out, residentRow{})
		r := &out[len(out)-1]
		if err := rows.Scan(&r.ID, &r.Name, &r.IDNumberEnc, &r.IDNumberMasked, &r.PhoneEnc, &r.PhoneMasked,
			&r.Gender, &r.BirthDate, &r.Address, &r.CommunityID, &r.GridID, &r.OrgPath, &r.Statuses,
			&r.CareLevel, &r.Version, &r.CreatedAt, &r.UpdatedAt, &r.DeceasedOn, &r.MovedOutOn, &r.MergedInto); err != nil {
			return nil, database.Classify(fmt.Errorf("resident: scan: %w", err))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, database.Classify(fmt.Errorf("resident: %w", err))
	}
	return out, nil
}

// findByIDIndex returns the row whose ID-number blind index is bidx, or nil.
func findByIDIndex(ctx context.Context, db *gorm.DB, bidx []byte) (*residentRow, error) {
	return takeOne(db.WithContext(ctx).Select(residentColumns+", phone_bidx").Where("id_number_bidx = ?", bidx))
}

func takeOne(q *gorm.DB) (*residentRow, error) {
	var r residentRow
	err := q.Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: %w", err))
	}
	return &r, nil
}

// findUnit returns an org unit, or nil.
func findUnit(ctx context.Context, db *gorm.DB, id uuid.UUID) (*unitRef, error) {
	var u unitRef
	err := db.WithContext(ctx).Table("org_units").Select("id, kind, path, parent_id, retired_at").Where("id = ?", id).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: org unit: %w", err))
	}
	return &u, nil
}

// query is a validated list filter in SQL terms.
type query struct {
	prefixes []string
	// community and grid narrow to one unit by its own column (indexed in
	// list order), rather than by org_path prefix.
	community, grid *uuid.UUID
	// nameContains and search are the client's text; apply turns them
	// into index terms (matchName, parseSearch).
	nameContains, search string
	bornOnOrBefore,
	bornAfter *civil.Date
	statuses   []string
	careLevels []string
	// identity is a look-up by a phone or ID number's blind index (List
	// only: it is never part of a stored Selection).
	identity *identity
}

func (q query) apply(db *gorm.DB) *gorm.DB {
	for _, g := range q.nameGroups() {
		db = db.Where(g.sql())
	}
	return q.applyBase(db)
}

// applyBase applies every filter but the name filters.
func (q query) applyBase(db *gorm.DB) *gorm.DB {
	if q.identity != nil {
		col := "phone_bidx"
		if q.identity.by == "idNumber" {
			col = "id_number_bidx"
		}
		db = db.Where(col+" = ?", q.identity.bidx)
	}
	for _, p := range q.prefixes {
		if p != "/" {
			db = db.Where("org_path LIKE ?", policy.LikePrefix(p))
		}
	}
	if q.community != nil {
		db = db.Where("community_id = ?", *q.community)
	}
	if q.grid != nil {
		db = db.Where("grid_id = ?", *q.grid)
	}
	if q.bornOnOrBefore != nil {
		db = db.Where("birth_date <= ?", *q.bornOnOrBefore)
	}
	if q.bornAfter != nil {
		db = db.Where("birth_date > ?", *q.bornAfter)
	}
	if len(q.statuses) > 0 {
		db = db.Where("statuses && ?", pq.StringArray(q.statuses))
	}
	if len(q.careLevels) > 0 {
		db = db.Where("care_level IN ?", q.careLevels)
	}
	return db
}

// nameGroup is one name filter: a resident matches when any of its
// alternatives does (a search matches the characters typed, or the pinyin).
type nameGroup []nameMatch

// nameGroups are q's name filters, each to be met: nameContains, then
// search.
func (q query) nameGroups() []nameGroup {
	var gs []nameGroup
	if m := matchName(q.nameContains); len(m.terms) > 0 {
		gs = append(gs, nameGroup{m})
	}
	if sq := parseSearch(q.search); len(sq.name.terms) > 0 {
		g := nameGroup{sq.name}
		if sq.pinyin != "" {
			g = append(g, nameMatch{terms: []string{sq.pinyin}})
		}
		gs = append(gs, g)
	}
	return gs
}

func (q query) byName() bool { return len(q.nameGroups()) > 0 }

// sql is the group's condition on a residents row, for counts, estimates
// and selections (a page is driven by the terms instead: listByName).
//
// Alternatives ORed are no join to the planner: it tested every resident
// against hashed subplans (a case worker's totalCount of "zgy": a
// sequential scan of 10^6 rows, 0.5 to 5 s). So each alternative is the
// set of residents it matches, and the group their UNION, which the
// planner knows to be distinct and joins by the primary key.
func (g nameGroup) sql() clause.Expr {
	if len(g) == 1 {
		return g[0].sql()
	}
	parts := make([]string, 0, len(g))
	var vars []any
	for _, m := range g {
		if m.like == "" && len(m.terms) == 1 {
			parts = append(parts, "SELECT resident_id FROM resident_name_terms WHERE term = ?")
			vars = append(vars, m.terms[0])
			continue
		}
		e := m.sql()
		parts = append(parts, "SELECT residents.id FROM residents WHERE "+e.SQL)
		vars = append(vars, e.Vars...)
	}
	return clause.Expr{SQL: "residents.id IN (" + strings.Join(parts, " UNION ") + ")", Vars: vars}
}

// maxProbedTerms bounds the term look-ups of one substring: its LIKE
// re-check decides, the look-ups only let the planner start from the
// index (a 64-character name has 63 pairs).
const maxProbedTerms = 2

// sql is the condition of a name substring: its index terms (the last
// ones: a pair in the given name is rarer than the surname's), and the LIKE
// re-check when the terms alone do not decide.
func (m nameMatch) sql() clause.Expr { return m.condition(m.probes()) }

// probes are the terms looked up in resident_name_terms, the driving term
// last.
func (m nameMatch) probes() []string { return m.terms[max(0, len(m.terms)-maxProbedTerms):] }

// drivingTerm is the term whose index entries a page walks: every match
// has it.
func (m nameMatch) drivingTerm() string { return m.terms[len(m.terms)-1] }

// condition is the substring's condition with the given term look-ups.
func (m nameMatch) condition(terms []string) clause.Expr {
	parts := []string{"TRUE"}
	var vars []any
	for _, t := range terms {
		parts = append(parts, "residents.id IN (SELECT resident_id FROM resident_name_terms WHERE term = ?)")
		vars = append(vars, t)
	}
	if m.like != "" {
		// The pairs of a longer substring can occur apart (张桂 and 桂英 in
		// 张桂 桂英): the substring itself decides.
		parts = append(parts, "lower(residents.name) LIKE ?")
		vars = append(vars, "%"+policy.LikeEscape(m.like)+"%")
	}
	return clause.Expr{SQL: "(" + strings.Join(parts, " AND ") + ")", Vars: vars}
}

// list returns one keyset page (newest first) and, when p asks for it, the
// total count (estimated past page.ExactTotalUpTo).
func list(ctx context.Context, db *gorm.DB, q query, p page.Request) (rows []residentRow, total int, estimate bool, err error) {
	if p.Total {
		if total, estimate, err = count(ctx, db, q); err != nil {
			return nil, 0, false, err
		}
	}
	if q.byName() {
		rows, err = listByName(ctx, db, q, p)
		return rows, total, estimate, err
	}
	sel := q.apply(db.WithContext(ctx).Model(&residentRow{}).Select(residentColumns))
	if p.After != nil {
		sel = sel.Where("id < ?", *p.After)
	}
	rows, err = pageRows(sel.Order("id DESC"), p.First+1)
	return rows, total, estimate, err
}

func pageRows(sel *gorm.DB, limit int) ([]residentRow, error) {
	rs, err := sel.Limit(limit).Rows()
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: list: %w", err))
	}
	return scanResidents(rs, limit)
}

// listByName answers a page of a name search from resident_name_terms:
// the btree on (term, resident_id) yields a term's matches newest first,
// so the page is the first First+1 of them that pass the other filters,
// and the walk stops there, however many residents share the term. (A GIN
// index over the terms, before 00093, returned all of a term's matches
// unordered: 2,000 heap visits and a sort for the initials "zgy" at 10^6.)
//
// The last name filter drives; each of its alternatives (characters,
// pinyin) is walked by its own term and re-checked with the rest, and the
// walks are merged. Every match of the filter is in the walk of an
// alternative it matches, so the merge is the whole answer.
func listByName(ctx context.Context, db *gorm.DB, q query, p page.Request) ([]residentRow, error) {
	groups := q.nameGroups()
	drive, rest := groups[len(groups)-1], groups[:len(groups)-1]
	limit := p.First + 1
	var merged []residentRow
	for _, m := range drive {
		sel := q.applyBase(db.WithContext(ctx).Model(&residentRow{}).Select(residentColumns)).
			Joins("JOIN resident_name_terms d ON d.resident_id = residents.id AND d.term = ?", m.drivingTerm())
		for _, g := range rest {
			sel = sel.Where(g.sql())
		}
		// The other probes are merged with the walk from the index alone
		// (张桂英: 张桂's entries against 桂英's, no heap visit until both
		// match): re-checking 桂英's 503 matches by their names took 390 ms.
		probes := m.probes()
		sel = sel.Where(m.condition(probes[:len(probes)-1]))
		if p.After != nil {
			sel = sel.Where("d.resident_id < ?", *p.After)
		}
		rows, err := pageRows(sel.Order("d.resident_id DESC"), limit)
		if err != nil {
			return nil, err
		}
		merged = mergeNewestFirst(merged, rows, limit)
	}
	return merged, nil
}

// mergeNewestFirst merges two pages in list order (id descending), each
// resident once, and keeps the first limit.
func mergeNewestFirst(a, b []residentRow, limit int) []residentRow {
	out := make([]residentRow, 0, min(limit, len(a)+len(b)))
	for len(out) < limit && (len(a) > 0 || len(b) > 0) {
		var next residentRow
		switch {
		case len(b) == 0 || (len(a) > 0 && bytes.Compare(a[0].ID[:], b[0].ID[:]) > 0):
			next, a = a[0], a[1:]
		case len(a) == 0 || bytes.Compare(b[0].ID[:], a[0].ID[:]) > 0:
			next, b = b[0], b[1:]
		default: // the same resident in both
			next, a, b = a[0], a[1:], b[1:]
		}
		out = append(out, next)
	}
	return out
}

// count answers how many rows q matches: exactly when that is at most
// page.ExactTotalUpTo, otherwise possibly the planner's estimate. An exact
// count of a district's million rows cost 165 ms on every page, and even a
// count that stops at 10,001 cost 800 ms for "living alone, 80 and over"
// (33,084 rows, two bitmaps to intersect). So the estimate comes first
// (EXPLAIN: planning only): one above estimateTrustedAbove is answered as
// it is; otherwise the rows are counted, up to 10,001.
func count(ctx context.Context, db *gorm.DB, q query) (int, bool, error) {
	est, err := estimate(ctx, db, q)
	if err != nil {
		return 0, false, err
	}
	if est > estimateTrustedAbove {
		return est, true, nil
	}
	var n int64
	capped := q.apply(db.WithContext(ctx).Model(&residentRow{}).Select("1")).Limit(page.ExactTotalUpTo + 1)
	if err := db.WithContext(ctx).Table("(?) AS m", capped).Count(&n).Error; err != nil {
		return 0, false, database.Classify(fmt.Errorf("resident: count: %w", err))
	}
	if n <= page.ExactTotalUpTo {
		return int(n), false, nil
	}
	// Counting stopped past the exact range, so the answer is at least that.
	return max(est, page.ExactTotalUpTo+1), true, nil
}

// estimateTrustedAbove: an estimate above twice the exact range is taken
// to mean the count is beyond it. The list filters' estimates stayed within
// 10 % of the true counts at 10^6 (docs/PERFORMANCE.md, District scale);
// a planner wrong by more than a factor of two on a count of 10,000 or
// less would answer an estimate where an exact count was due.
const estimateTrustedAbove = 2 * page.ExactTotalUpTo

// estimate is the planner's row estimate for q.
func estimate(ctx context.Context, db *gorm.DB, q query) (int, error) {
	stmt := q.apply(db.WithContext(ctx).Session(&gorm.Session{DryRun: true}).Model(&residentRow{}).Select("1")).
		Find(&[]int{}).Statement
	var plan string
	// The dry run's SQL numbers its parameters ($1), which gorm's Raw does
	// not bind: it goes to the pool as it is.
	if err := db.Statement.ConnPool.QueryRowContext(ctx, "EXPLAIN (FORMAT JSON) "+stmt.SQL.String(), stmt.Vars...).Scan(&plan); err != nil {
		return 0, database.Classify(fmt.Errorf("resident: estimate: %w", err))
	}
	var explained []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		}
	}
	if err := json.Unmarshal([]byte(plan), &explained); err != nil || len(explained) == 0 {
		return 0, fmt.Errorf("resident: estimate: %q: %w", plan, err)
	}
	return int(explained[0].Plan.Rows), nil
}

// contactsOf returns the contacts of residents, in priority order. The ids
// go as one uuid[] parameter, not one parameter each: a page of 100 cost
// 100 driver.Valuer conversions and a statement per distinct page size.
func contactsOf(ctx context.Context, db *gorm.DB, ids []uuid.UUID) ([]contactRow, error) {
	rs, err := db.WithContext(ctx).Model(&contactRow{}).Select("id, resident_id, name, relation, phone_masked, priority").
		Where("resident_id = ANY(?)", database.UUIDs(ids)).Order("resident_id, priority, id").Rows()
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: contacts: %w", err))
	}
	defer rs.Close()
	rows := make([]contactRow, 0, len(ids))
	for rs.Next() {
		var c contactRow
		if err := rs.Scan(&c.ID, &c.ResidentID, &c.Name, &c.Relation, &c.PhoneMasked, &c.Priority); err != nil {
			return nil, database.Classify(fmt.Errorf("resident: contacts: %w", err))
		}
		rows = append(rows, c)
	}
	if err := rs.Err(); err != nil {
		return nil, database.Classify(fmt.Errorf("resident: contacts: %w", err))
	}
	return rows, nil
}
