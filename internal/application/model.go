// Package application is 一站受理、全区通办: the service catalog, intake of
// applications at any service center, the statutory workflow with its
// working-day deadlines, and on-time completion rates.
package application

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/civil"
)

// Status is where an application stands.
type Status string

// The statuses. The open ones are OpenStatuses; the rest are final.
const (
	Submitted           Status = "SUBMITTED"
	SupplementRequested Status = "SUPPLEMENT_REQUESTED"
	Rejected            Status = "REJECTED"
	Accepted            Status = "ACCEPTED"
	InReview            Status = "IN_REVIEW"
	Approved            Status = "APPROVED"
	Denied              Status = "DENIED"
	Completed           Status = "COMPLETED"
	Withdrawn           Status = "WITHDRAWN"
)

var allStatuses = []Status{Submitted, SupplementRequested, Rejected, Accepted, InReview, Approved, Denied, Completed, Withdrawn}

// OpenStatuses are the statuses in which work is still pending: the one
// definition of "open". The workflow (Withdraw), the overdue rule in Go and
// in SQL (openSQL) and the partial index applications_open_deadline_idx
// follow it; TestIndexPredicatesFollowTheRules fails when the index does not.
var OpenStatuses = []Status{Submitted, SupplementRequested, Accepted, InReview, Approved}

// Open reports whether work on an application in s is still pending.
func (s Status) Open() bool { return slices.Contains(OpenStatuses, s) }

// Action is one step of the workflow.
type Action string

// The actions.
const (
	Accept            Action = "ACCEPT"
	RequestSupplement Action = "REQUEST_SUPPLEMENT"
	Resubmit          Action = "RESUBMIT"
	Reject            Action = "REJECT"
	StartReview       Action = "START_REVIEW"
	Approve           Action = "APPROVE"
	Deny              Action = "DENY"
	Complete          Action = "COMPLETE"
	Withdraw          Action = "WITHDRAW"
	Extend            Action = "EXTEND"
)

// DayKind is a calendar override: HOLIDAY (off) or WORKDAY (调休, worked).
type DayKind string

// The calendar override kinds.
const (
	Holiday DayKind = "HOLIDAY"
	Workday DayKind = "WORKDAY"
)

// Material is a document an item asks for.
type Material struct {
	Name     string `json:"name"`
	Required bool   `json:"required"`
}

// Item is a service in the catalog (办事事项).
type Item struct {
	ID   uuid.UUID
	Code string
	Name string
	// DepartmentID decides; nil means the applicant's own street.
	DepartmentID         *uuid.UUID
	TimeLimitWorkingDays int
	ExtensionWorkingDays int
	Materials            []Material
	DistrictWide         bool
	// VoucherProgramID, when set, is the program approval enrolls the applicant in.
	VoucherProgramID *uuid.UUID
}

// ItemInput creates or updates an item by code.
type ItemInput struct {
	Code                 string
	Name                 string
	DepartmentID         *uuid.UUID
	TimeLimitWorkingDays int
	ExtensionWorkingDays int
	Materials            []Material
	DistrictWide         bool
	VoucherProgramID     *uuid.UUID
}

// Submitted material: a document handed in with an application.
type SubmittedMaterial struct {
	Name      string  `json:"name"`
	Reference *string `json:"reference,omitempty"`
}

// Application is one case.
type Application struct {
	ID             uuid.UUID
	Number         string
	ItemID         uuid.UUID
	ApplicantID    uuid.UUID
	CenterID       *uuid.UUID
	HandlingUnitID uuid.UUID
	HandlingPath   string
	Status         Status
	Materials      []SubmittedMaterial
	SubmittedAt    time.Time
	AcceptedAt     *time.Time
	Deadline       *civil.Date
	Extended       bool
	CompletedAt    *time.Time
	CompletedOn    *civil.Date
	// Overdue is computed against the app clock when the application is read.
	Overdue bool
}

// overdue reports whether a is past its deadline on today: still open after
// it, or concluded after it.
func (a *Application) overdue(today civil.Date) bool {
	if a.Deadline == nil {
		return false
	}
	if a.Status.Open() {
		return today.After(*a.Deadline)
	}
	return a.CompletedOn != nil && a.CompletedOn.After(*a.Deadline)
}

// Event is one transition in an application's history.
type Event struct {
	ID            uuid.UUID
	ApplicationID uuid.UUID
	At            time.Time
	Action        Action
	FromStatus    Status
	ToStatus      Status
	// ActorKind is auth.SubjectKind of who took the step (USER or WECHAT).
	ActorKind string
	ActorID   uuid.UUID
	ActorName string
	Note      *string
}

// SubmitInput takes in an application.
type SubmitInput struct {
	ItemCode    string
	ApplicantID uuid.UUID
	CenterID    *uuid.UUID
	Materials   []SubmittedMaterial
}

// TransitionInput moves an application.
type TransitionInput struct {
	ID        uuid.UUID
	Action    Action
	Note      *string
	Materials []SubmittedMaterial
}

// Filter narrows a list of applications; nil fields match everything.
type Filter struct {
	Status         *Status
	HandlingUnitID *uuid.UUID
	ApplicantID    *uuid.UUID
	Overdue        *bool
}

// Stats are completion figures for a period.
type Stats struct {
	Completed       int
	CompletedOnTime int
	// OnTimeRate is CompletedOnTime/Completed, 1 when nothing was completed.
	OnTimeRate  float64
	OpenOverdue int
}

// Enroller enrolls a resident in a voucher program inside the caller's
// transaction. The voucher domain implements it.
type Enroller interface {
	EnrollTx(ctx context.Context, tx *gorm.DB, programID, residentID uuid.UUID) error
}

// NoEnroller is the Enroller used until the voucher domain is wired: it
// does nothing.
type NoEnroller struct{}

// EnrollTx does nothing.
func (NoEnroller) EnrollTx(context.Context, *gorm.DB, uuid.UUID, uuid.UUID) error { return nil }
