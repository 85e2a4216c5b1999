package resident

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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
		CreatedAt: r.CreatedAt, idEnc: r.IDNumberEnc}
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
}

// residentColumns excludes the blind indexes, which reads never need.
const residentColumns = "id, name, id_number_enc, id_number_masked, phone_enc, phone_masked, gender, birth_date, address, community_id, grid_id, org_path, statuses, care_level, version, created_at, updated_at"

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
			&r.CareLevel, &r.Version, &r.CreatedAt, &r.UpdatedAt); err != nil {
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
	err := db.WithContext(ctx).Table("org_units").Select("id, kind, path, parent_id").Where("id = ?", id).Take(&u).Error
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
	if m := matchName(q.nameContains); len(m.terms) > 0 {
		db = db.Where(nameSQL(m))
	}
	if sq := parseSearch(q.search); len(sq.name.terms) > 0 {
		cond := nameSQL(sq.name)
		if sq.pinyin != "" {
			cond.SQL = "(" + cond.SQL + " OR name_terms @> ?)"
			cond.Vars = append(cond.Vars, pq.StringArray{sq.pinyin})
		}
		db = db.Where(cond)
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

// nameSearchLimit is the fewest rows a name search asks Postgres for. With
// a small LIMIT (a counter's page of 20) the planner walked the primary key
// backwards, testing every row's terms until 21 matched: 40,536 rows for
// 秀英 (533 matches in 10^6), 145 ms. From about a hundred rows on it reads
// the matches from the GIN index and sorts them (20 ms), and still walks the
// key for a term so common that the walk ends soon (a surname). The extra
// rows are dropped here.
const nameSearchLimit = 101

func (q query) byName() bool {
	return len(matchName(q.nameContains).terms) > 0 || len(parseSearch(q.search).name.terms) > 0
}

// nameSQL is the condition of a name substring: its index terms, and the
// LIKE re-check when the terms alone do not decide.
func nameSQL(m nameMatch) clause.Expr {
	if m.like == "" {
		return clause.Expr{SQL: "name_terms @> ?", Vars: []any{pq.StringArray(m.terms)}}
	}
	return clause.Expr{SQL: "(name_terms @> ? AND lower(name) LIKE ?)",
		Vars: []any{pq.StringArray(m.terms), "%" + policy.LikeEscape(m.like) + "%"}}
}

// list returns one keyset page (newest first) and, when p asks for it, the
// total count (estimated past page.ExactTotalUpTo).
func list(ctx context.Context, db *gorm.DB, q query, p page.Request) (rows []residentRow, total int, estimate bool, err error) {
	if p.Total {
		if total, estimate, err = count(ctx, db, q); err != nil {
			return nil, 0, false, err
		}
	}
	sel := q.apply(db.WithContext(ctx).Model(&residentRow{}).Select(residentColumns))
	if p.After != nil {
		sel = sel.Where("id < ?", *p.After)
	}
	limit := p.First + 1
	if q.byName() {
		limit = max(limit, nameSearchLimit)
	}
	rs, err := sel.Order("id DESC").Limit(limit).Rows()
	if err != nil {
		return nil, 0, false, database.Classify(fmt.Errorf("resident: list: %w", err))
	}
	rows, err = scanResidents(rs, limit)
	if err != nil {
		return nil, 0, false, err
	}
	return rows[:min(len(rows), p.First+1)], total, estimate, nil
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
