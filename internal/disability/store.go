package disability

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/resident"
)

// residentFacts is what this domain reads of a resident.
type residentFacts struct {
	ID           uuid.UUID
	OrgPath      string
	IDNumberBidx []byte
	Statuses     pq.StringArray `gorm:"type:text[]"`
}

// findResident reads a resident's facts; nil when there is none. lock takes
// a row lock (serializes certificate changes per resident).
func findResident(ctx context.Context, db *gorm.DB, id uuid.UUID, lock bool) (*residentFacts, error) {
	var r residentFacts
	q := db.WithContext(ctx).Table("resident_facts").
		Select("id, org_path, statuses, "+resident.IDNumberIndexSQL("resident_facts.id")+" AS id_number_bidx").Where("id = ?", id)
	if lock {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	err := q.Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, database.Classify(err)
	}
	return &r, nil
}

type certRow struct {
	ID           uuid.UUID
	ResidentID   uuid.UUID
	NumberEnc    string
	NumberBidx   []byte
	NumberMasked string
	Category     string
	Grade        int
	IssuedOn     civil.Date
	ValidUntil   civil.Date
	SupersededAt *time.Time
	CreatedAt    time.Time
}

func (certRow) TableName() string { return "disability_certificates" }

// certView is a certificate row with its holder's org path.
type certView struct {
	Row          certRow `gorm:"embedded"`
	ResidentPath string
}

func (v certView) certificate() *Certificate {
	r := v.Row
	return &Certificate{ID: r.ID, ResidentID: r.ResidentID, NumberMasked: r.NumberMasked, Category: Category(r.Category),
		Grade: r.Grade, IssuedOn: r.IssuedOn, ValidUntil: r.ValidUntil, SupersededAt: r.SupersededAt, CreatedAt: r.CreatedAt,
		residentPath: v.ResidentPath}
}

func certQuery(ctx context.Context, db *gorm.DB) *gorm.DB {
	return db.WithContext(ctx).Table("disability_certificates c").
		Select("c.*, r.org_path AS resident_path").
		Joins("JOIN resident_facts r ON r.id = c.resident_id")
}

func findCertificates(ctx context.Context, q *gorm.DB) ([]*Certificate, error) {
	var rows []certView
	if err := q.Find(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	out := make([]*Certificate, len(rows))
	for i, r := range rows {
		out[i] = r.certificate()
	}
	return out, nil
}

type serviceRow struct {
	ID          uuid.UUID
	ResidentID  uuid.UUID
	Kind        string
	Status      string
	ProviderID  *uuid.UUID
	ScheduledOn *civil.Date
	DeliveredOn *civil.Date
	Note        *string
	RequestedBy uuid.UUID
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (serviceRow) TableName() string { return "disability_services" }

type serviceView struct {
	Row          serviceRow `gorm:"embedded"`
	ResidentPath string
}

func (v serviceView) record() *ServiceRecord {
	r := v.Row
	return &ServiceRecord{ID: r.ID, ResidentID: r.ResidentID, Kind: ServiceKind(r.Kind), Status: ServiceStatus(r.Status),
		ProviderID: r.ProviderID, ScheduledOn: r.ScheduledOn, DeliveredOn: r.DeliveredOn, Note: r.Note,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, residentPath: v.ResidentPath}
}

func serviceQuery(ctx context.Context, db *gorm.DB) *gorm.DB {
	return db.WithContext(ctx).Table("disability_services s").
		Select("s.*, r.org_path AS resident_path").
		Joins("JOIN resident_facts r ON r.id = s.resident_id")
}

func findServices(ctx context.Context, q *gorm.DB) ([]*ServiceRecord, error) {
	var rows []serviceView
	if err := q.Find(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	out := make([]*ServiceRecord, len(rows))
	for i, r := range rows {
		out[i] = r.record()
	}
	return out, nil
}

type ruleRow struct {
	ID               uuid.UUID
	Code             string
	Subsidy          string
	Grades           pq.Int64Array  `gorm:"type:smallint[]"`
	Categories       pq.StringArray `gorm:"type:text[]"`
	RequiredStatuses pq.StringArray `gorm:"type:text[]"`
	ExcludedStatuses pq.StringArray `gorm:"type:text[]"`
	Basis            *string
	Description      string
	Active           bool
	UpdatedAt        time.Time
}

func (ruleRow) TableName() string { return "disability_subsidy_rules" }

func (r ruleRow) rule() *Rule {
	out := &Rule{ID: r.ID, Code: r.Code, Subsidy: Subsidy(r.Subsidy), Description: r.Description, Active: r.Active,
		Grades: make([]int, len(r.Grades)), Categories: make([]Category, len(r.Categories)), RequiredStatuses: make([]resident.Status, len(r.RequiredStatuses))}
	for i, g := range r.Grades {
		out.Grades[i] = int(g)
	}
	for i, c := range r.Categories {
		out.Categories[i] = Category(c)
	}
	for i, st := range r.RequiredStatuses {
		out.RequiredStatuses[i] = resident.Status(st)
	}
	out.ExcludedStatuses = make([]resident.Status, len(r.ExcludedStatuses))
	for i, st := range r.ExcludedStatuses {
		out.ExcludedStatuses[i] = resident.Status(st)
	}
	out.Basis = r.Basis
	return out
}
