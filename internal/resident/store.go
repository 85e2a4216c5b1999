package resident

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"

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
	CareLevel      string
	Version        int
	CreatedAt      time.Time
	UpdatedAt      time.Time
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
	prefixes     []string
	nameContains string
	bornOnOrBefore,
	bornAfter *civil.Date
	statuses   []string
	careLevels []string
}

func (q query) apply(db *gorm.DB) *gorm.DB {
	for _, p := range q.prefixes {
		if p != "/" {
			db = db.Where("org_path LIKE ?", policy.LikePrefix(p))
		}
	}
	if q.nameContains != "" {
		db = db.Where("name LIKE ?", "%"+policy.LikeEscape(q.nameContains)+"%")
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

// list returns one keyset page (newest first) and the total count.
func list(ctx context.Context, db *gorm.DB, q query, p page.Request) ([]residentRow, int, error) {
	var total int64
	if err := q.apply(db.WithContext(ctx).Model(&residentRow{})).Count(&total).Error; err != nil {
		return nil, 0, database.Classify(fmt.Errorf("resident: count: %w", err))
	}
	sel := q.apply(db.WithContext(ctx).Model(&residentRow{}).Select(residentColumns))
	if p.After != nil {
		sel = sel.Where("id < ?", *p.After)
	}
	rs, err := sel.Order("id DESC").Limit(p.First + 1).Rows()
	if err != nil {
		return nil, 0, database.Classify(fmt.Errorf("resident: list: %w", err))
	}
	rows, err := scanResidents(rs, p.First+1)
	if err != nil {
		return nil, 0, err
	}
	return rows, int(total), nil
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
