package application

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
)

type itemRow struct {
	ID                       uuid.UUID
	Code                     string
	Name                     string
	DepartmentID             *uuid.UUID
	TimeLimitWorkingDays     int
	PromisedLimitWorkingDays *int
	ExtensionWorkingDays     int
	Materials                []byte `gorm:"type:jsonb"`
	DistrictWide             bool
	VoucherProgramID         *uuid.UUID
	UpdatedAt                time.Time
}

func (itemRow) TableName() string { return "service_items" }

func (r itemRow) item() (*Item, error) {
	it := &Item{ID: r.ID, Code: r.Code, Name: r.Name, DepartmentID: r.DepartmentID,
		TimeLimitWorkingDays: r.TimeLimitWorkingDays, PromisedLimitWorkingDays: r.PromisedLimitWorkingDays, ExtensionWorkingDays: r.ExtensionWorkingDays,
		DistrictWide: r.DistrictWide, VoucherProgramID: r.VoucherProgramID, Materials: []Material{}}
	if err := json.Unmarshal(r.Materials, &it.Materials); err != nil {
		return nil, fmt.Errorf("application: item %s materials: %w", r.Code, err)
	}
	return it, nil
}

type applicationRow struct {
	ID                  uuid.UUID
	Number              string
	ItemID              uuid.UUID
	ApplicantID         uuid.UUID
	CenterID            *uuid.UUID
	HandlingUnitID      uuid.UUID
	HandlingPath        string
	Status              string
	Materials           []byte `gorm:"type:jsonb"`
	SubmittedAt         time.Time
	SubmittedBy         uuid.UUID
	ReceivedAt          time.Time
	AcceptedAt          *time.Time
	AcceptedByLaw       bool
	SupplementNotice    []byte `gorm:"type:jsonb"`
	Deadline            *civil.Date
	PromisedDeadline    *civil.Date
	DeadlineProvisional bool
	PausedSince         *civil.Date
	Extended            bool
	ExtensionReason     *string
	EnrolledProgramID   *uuid.UUID
	IdempotencyKey      *string
	RequestHash         []byte
	CompletedAt         *time.Time
	CompletedOn         *civil.Date
	UpdatedAt           time.Time
}

func (applicationRow) TableName() string { return "applications" }

func (r applicationRow) application(today civil.Date) (*Application, error) {
	a := &Application{ID: r.ID, Number: r.Number, ItemID: r.ItemID, ApplicantID: r.ApplicantID, CenterID: r.CenterID,
		HandlingUnitID: r.HandlingUnitID, HandlingPath: r.HandlingPath, Status: Status(r.Status),
		SubmittedAt: r.SubmittedAt, ReceivedAt: r.ReceivedAt, AcceptedAt: r.AcceptedAt, AcceptedByLaw: r.AcceptedByLaw,
		Deadline: r.Deadline, PromisedDeadline: r.PromisedDeadline, DeadlineProvisional: r.DeadlineProvisional,
		PausedSince: r.PausedSince, Extended: r.Extended, ExtensionReason: r.ExtensionReason,
		CompletedAt: r.CompletedAt, CompletedOn: r.CompletedOn, Materials: []SubmittedMaterial{}, Today: today}
	if err := json.Unmarshal(r.Materials, &a.Materials); err != nil {
		return nil, fmt.Errorf("application: %s materials: %w", r.Number, err)
	}
	if len(r.SupplementNotice) > 0 {
		if err := json.Unmarshal(r.SupplementNotice, &a.SupplementNotice); err != nil {
			return nil, fmt.Errorf("application: %s supplement notice: %w", r.Number, err)
		}
	}
	a.Overdue = a.overdue(today)
	return a, nil
}

type eventRow struct {
	ID            uuid.UUID
	ApplicationID uuid.UUID
	Action        string
	FromStatus    string
	ToStatus      string
	ActorKind     string
	ActorID       uuid.UUID
	ActorName     string
	Note          *string
	At            time.Time
	Visibility    string
}

func (eventRow) TableName() string { return "application_events" }

type pauseRow struct {
	ID            uuid.UUID
	ApplicationID uuid.UUID
	Kind          string
	Reason        string
	StartedOn     civil.Date
	EndedOn       *civil.Date
	CreatedAt     time.Time
}

func (pauseRow) TableName() string { return "application_clock_pauses" }

func (r pauseRow) pause() *Pause {
	return &Pause{ID: r.ID, ApplicationID: r.ApplicationID, Kind: PauseKind(r.Kind), Reason: r.Reason, StartedOn: r.StartedOn, EndedOn: r.EndedOn}
}

type calendarRow struct {
	Date      civil.Date
	Kind      string
	UpdatedAt time.Time
}

func (calendarRow) TableName() string { return "calendar_days" }

// ItemsByIDs loads catalog items (dataloader batch function). The catalog
// is public to every signed-in viewer.
func (s *Service) ItemsByIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*Item, error) {
	var rows []itemRow
	if err := s.db.WithContext(ctx).Where("id = ANY(?)", database.UUIDs(ids)).Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("application: items by id: %w", err))
	}
	out := make(map[uuid.UUID]*Item, len(rows))
	for _, r := range rows {
		it, err := r.item()
		if err != nil {
			return nil, err
		}
		out[r.ID] = it
	}
	return out, nil
}

// EventsOf loads the histories of several applications (dataloader batch
// function); callers reach it only through an application they may read.
func (s *Service) EventsOf(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]*Event, error) {
	var rows []eventRow
	if err := s.db.WithContext(ctx).Where("application_id = ANY(?)", database.UUIDs(ids)).Order("id").Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("application: events: %w", err))
	}
	out := make(map[uuid.UUID][]*Event, len(ids))
	for _, r := range rows {
		out[r.ApplicationID] = append(out[r.ApplicationID], &Event{ID: r.ID, ApplicationID: r.ApplicationID, At: r.At,
			Action: Action(r.Action), FromStatus: Status(r.FromStatus), ToStatus: Status(r.ToStatus), ActorKind: r.ActorKind, ActorID: r.ActorID, ActorName: r.ActorName, Note: r.Note,
			Visibility: Visibility(r.Visibility)})
	}
	return out, nil
}

// PausesOf loads the clock pauses of several applications (dataloader
// batch function); callers reach it only through an application they may read.
func (s *Service) PausesOf(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]*Pause, error) {
	var rows []pauseRow
	if err := s.db.WithContext(ctx).Where("application_id = ANY(?)", database.UUIDs(ids)).Order("started_on, id").Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("application: pauses: %w", err))
	}
	out := make(map[uuid.UUID][]*Pause, len(ids))
	for _, r := range rows {
		out[r.ApplicationID] = append(out[r.ApplicationID], r.pause())
	}
	return out, nil
}
