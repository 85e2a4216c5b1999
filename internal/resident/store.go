package resident

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/page"
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
	return takeOne(db.WithContext(ctx).Select(residentColumns).Where("id = ?", id))
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
			db = db.Where("org_path LIKE ?", likePrefix(p))
		}
	}
	if q.nameContains != "" {
		db = db.Where("name LIKE ?", "%"+likeEscape(q.nameContains)+"%")
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

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func likePrefix(p string) string { return likeEscape(p) + "%" }

// list returns one keyset page (newest first) and the total count.
func list(ctx context.Context, db *gorm.DB, q query, p page.Request) ([]residentRow, int, error) {
	var total int64
	if err := q.apply(db.WithContext(ctx).Model(&residentRow{})).Count(&total).Error; err != nil {
		return nil, 0, database.Classify(fmt.Errorf("resident: count: %w", err))
	}
	sel := q.apply(db.WithContext(ctx).Select(residentColumns))
	if p.After != nil {
		sel = sel.Where("id < ?", *p.After)
	}
	var rows []residentRow
	if err := sel.Order("id DESC").Limit(p.First + 1).Find(&rows).Error; err != nil {
		return nil, 0, database.Classify(fmt.Errorf("resident: list: %w", err))
	}
	return rows, int(total), nil
}

// contactsOf returns the contacts of residents, in priority order.
func contactsOf(ctx context.Context, db *gorm.DB, ids []uuid.UUID) ([]contactRow, error) {
	var rows []contactRow
	err := db.WithContext(ctx).Select("id, resident_id, name, relation, phone_masked, priority").
		Where("resident_id IN ?", ids).Order("resident_id, priority, id").Find(&rows).Error
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: contacts: %w", err))
	}
	return rows, nil
}
