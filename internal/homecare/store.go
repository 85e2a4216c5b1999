package homecare

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/resident"
	"github.com/jinjiang/residents/internal/voucher"
)

type itemRow struct {
	ID             uuid.UUID
	ProgramID      uuid.UUID
	Code           string
	Name           string
	Category       string
	Unit           string
	UnitPriceFen   int64
	MinimumMinutes int
	Active         bool
	CreatedAt      time.Time
}

func (itemRow) TableName() string { return "care_price_items" }

func (r *itemRow) item() *Item {
	return &Item{ID: r.ID, ProgramID: r.ProgramID, Code: r.Code, Name: r.Name, Category: voucher.Category(r.Category), Unit: r.Unit,
		UnitPriceFen: r.UnitPriceFen, MinimumMinutes: r.MinimumMinutes, Active: r.Active}
}

type orderRow struct {
	ID                uuid.UUID
	ProviderID        uuid.UUID
	ProgramID         uuid.UUID
	ResidentID        uuid.UUID
	ItemID            uuid.UUID
	Category          string
	Quantity          int
	AmountFen         int64
	ScheduledDate     civil.Date
	Status            string
	WorkerID          *uuid.UUID
	CreatedByKind     string
	CreatedBy         uuid.UUID
	CreatedAt         time.Time
	CheckInAt         *time.Time
	CheckInLat        *float64
	CheckInLng        *float64
	CheckInAccuracy   *float64
	CheckInDistanceM  *float64
	CheckOutAt        *time.Time
	CheckOutLat       *float64
	CheckOutLng       *float64
	CheckOutAccuracy  *float64
	CheckOutDistanceM *float64
	ConfirmedAt       *time.Time
	ConfirmedVia      *string
	ConfirmDistanceM  *float64
	ServiceDate       *civil.Date
	RedemptionID      *uuid.UUID
	CancelledAt       *time.Time
	CancelReason      *string
}

func (orderRow) TableName() string { return "service_orders" }

func (r *orderRow) order() *Order {
	o := &Order{ID: r.ID, ProviderID: r.ProviderID, ProgramID: r.ProgramID, ResidentID: r.ResidentID, ItemID: r.ItemID,
		Category: voucher.Category(r.Category), Quantity: r.Quantity, AmountFen: r.AmountFen, ScheduledDate: r.ScheduledDate,
		Status: Status(r.Status), WorkerID: r.WorkerID, CreatedAt: r.CreatedAt, ConfirmedAt: r.ConfirmedAt, ConfirmedVia: r.ConfirmedVia,
		ConfirmDistanceMeters: r.ConfirmDistanceM, ServiceDate: r.ServiceDate, RedemptionID: r.RedemptionID, CancelledAt: r.CancelledAt,
		CancelReason: r.CancelReason, Flags: []*Flag{}}
	if r.CheckInAt != nil && r.CheckInLat != nil && r.CheckInLng != nil {
		o.CheckIn = &Stamp{At: *r.CheckInAt, Position: Position{Latitude: *r.CheckInLat, Longitude: *r.CheckInLng, AccuracyMeters: r.CheckInAccuracy},
			DistanceMeters: r.CheckInDistanceM}
	}
	if r.CheckOutAt != nil && r.CheckOutLat != nil && r.CheckOutLng != nil {
		o.CheckOut = &Stamp{At: *r.CheckOutAt, Position: Position{Latitude: *r.CheckOutLat, Longitude: *r.CheckOutLng, AccuracyMeters: r.CheckOutAccuracy},
			DistanceMeters: r.CheckOutDistanceM}
	}
	return o
}

type flagRow struct {
	ID         uuid.UUID
	OrderID    uuid.UUID
	Rule       string
	Detail     string
	Status     string
	RaisedAt   time.Time
	ResolvedAt *time.Time
	ResolvedBy *uuid.UUID
	Resolution *string
}

func (flagRow) TableName() string { return "service_order_flags" }

type disputeRow struct {
	ID         uuid.UUID
	OrderID    uuid.UUID
	Reason     string
	Status     string
	RaisedAt   time.Time
	RaisedBy   uuid.UUID
	ResolvedAt *time.Time
	ResolvedBy *uuid.UUID
	Resolution *string
}

func (disputeRow) TableName() string { return "service_order_disputes" }

type homeRow struct {
	ResidentID uuid.UUID
	Latitude   float64
	Longitude  float64
	SetAt      time.Time
	SetBy      uuid.UUID
}

func (homeRow) TableName() string { return "care_homes" }

type cardRow struct {
	ID             uuid.UUID
	ResidentID     uuid.UUID
	CardNumber     string
	PinHash        string
	Status         string
	FailedAttempts int
	IssuedAt       time.Time
	IssuedBy       uuid.UUID
	EndedAt        *time.Time
}

func (cardRow) TableName() string { return "service_cards" }

func (r *cardRow) card() *Card {
	return &Card{ResidentID: r.ResidentID, CardNumber: r.CardNumber, Status: r.Status, FailedAttempts: r.FailedAttempts, IssuedAt: r.IssuedAt}
}

// lockOrder reads an order for update; nil when there is none.
func lockOrder(ctx context.Context, tx *gorm.DB, id uuid.UUID) (*orderRow, error) {
	var r orderRow
	err := tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, database.Classify(err)
	}
	return &r, nil
}

// residentFacts is what the domain reads of a resident through the
// registry's resident_facts view.
type residentFacts struct {
	OrgPath string
	Living  bool
}

func factsOf(ctx context.Context, db *gorm.DB, id uuid.UUID) (*residentFacts, error) {
	var f []residentFacts
	if err := db.WithContext(ctx).Raw("SELECT org_path, living FROM resident_facts WHERE id = ?", id).Scan(&f).Error; err != nil {
		return nil, database.Classify(err)
	}
	if len(f) == 0 {
		return nil, nil
	}
	return &f[0], nil
}

// sheetRow is a resident's visit sheet as the registry's VisitSheetSQL
// reads it.
type sheetRow struct {
	ID             uuid.UUID
	Name           string
	IDNumberMasked string
	PhoneMasked    *string
	Address        *string
	BirthDate      time.Time
	OrgPath        string
}

func (x *sheetRow) sheet(today civil.Date) *Sheet {
	return &Sheet{Name: x.Name, Age: ageOn(x.BirthDate, today), MaskedIDNumber: x.IDNumberMasked, MaskedPhone: x.PhoneMasked,
		Address: x.Address, orgPath: x.OrgPath}
}

// attach loads each order's resident sheet, flags and dispute, three
// queries for the whole list.
func (s *Service) attach(ctx context.Context, db *gorm.DB, orders []*Order) error {
	return s.attachSome(ctx, db, orders, true, true)
}

// attachSome is attach that skips the flags or the disputes when the
// caller knows there are none (a hot path's saved queries).
func (s *Service) attachSome(ctx context.Context, db *gorm.DB, orders []*Order, flagsToo, disputesToo bool) error {
	if len(orders) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, 0, len(orders))
	residents := make([]uuid.UUID, 0, len(orders))
	byID := make(map[uuid.UUID]*Order, len(orders))
	for _, o := range orders {
		ids = append(ids, o.ID)
		residents = append(residents, o.ResidentID)
		byID[o.ID] = o
		o.Flags = []*Flag{}
	}
	var sheets []sheetRow
	if err := db.WithContext(ctx).Raw(resident.VisitSheetSQL("?"), database.UUIDs(residents)).Scan(&sheets).Error; err != nil {
		return database.Classify(err)
	}
	today := s.today()
	bySheet := map[uuid.UUID]*Sheet{}
	for i := range sheets {
		bySheet[sheets[i].ID] = sheets[i].sheet(today)
	}
	for _, o := range orders {
		o.Sheet = bySheet[o.ResidentID]
	}
	if !flagsToo {
		return s.attachDisputes(ctx, db, ids, byID, disputesToo)
	}
	var flags []flagRow
	if err := db.WithContext(ctx).Where("order_id = ANY(?)", database.UUIDs(ids)).Order("raised_at, id").Find(&flags).Error; err != nil {
		return database.Classify(err)
	}
	for _, f := range flags {
		byID[f.OrderID].Flags = append(byID[f.OrderID].Flags, &Flag{ID: f.ID, Rule: Rule(f.Rule), Detail: f.Detail, Status: f.Status,
			RaisedAt: f.RaisedAt, ResolvedAt: f.ResolvedAt, Resolution: f.Resolution})
	}
	return s.attachDisputes(ctx, db, ids, byID, disputesToo)
}

func (s *Service) attachDisputes(ctx context.Context, db *gorm.DB, ids []uuid.UUID, byID map[uuid.UUID]*Order, load bool) error {
	if !load {
		return nil
	}
	var disputes []disputeRow
	if err := db.WithContext(ctx).Where("order_id = ANY(?)", database.UUIDs(ids)).Find(&disputes).Error; err != nil {
		return database.Classify(err)
	}
	for _, d := range disputes {
		byID[d.OrderID].Dispute = &Dispute{ID: d.ID, Reason: d.Reason, Status: d.Status, RaisedAt: d.RaisedAt, ResolvedAt: d.ResolvedAt,
			Resolution: d.Resolution}
	}
	return nil
}

// notFound is the answer for an order the viewer may not see as well as
// for one that does not exist, so nobody learns which orders exist.
func notFound(field string) error {
	return problem.New(problem.NotFound, "服务工单不存在", "input", field)
}
