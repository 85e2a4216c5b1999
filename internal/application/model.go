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
	// PauseClock and ResumeClock bracket a §45 pause (expert assessment,
	// inspection, hearing …): its working days do not count.
	PauseClock  Action = "PAUSE_CLOCK"
	ResumeClock Action = "RESUME_CLOCK"

	// Submit and DeemedAccept name events only, not actions anyone takes:
	// the submission, and acceptance by law under §32 (the job).
	Submit       Action = "SUBMIT"
	DeemedAccept Action = "DEEMED_ACCEPT"
)

// Visibility says who sees an event: the applicant too, or staff only.
type Visibility string

// The visibilities.
const (
	VisibleToApplicant Visibility = "APPLICANT"
	Internal           Visibility = "INTERNAL"
)

// PauseKind is why the clock stops (行政许可法 §45).
type PauseKind string

// The pause kinds.
const (
	ExpertAssessment PauseKind = "EXPERT_ASSESSMENT"
	Inspection       PauseKind = "INSPECTION"
	Hearing          PauseKind = "HEARING"
	Testing          PauseKind = "TESTING"
	Quarantine       PauseKind = "QUARANTINE"
)

func (k PauseKind) valid() bool {
	switch k {
	case ExpertAssessment, Inspection, Hearing, Testing, Quarantine:
		return true
	}
	return false
}

// Supplement is one line of a 补正 notice: what is missing or defective and why.
type Supplement struct {
	Material string `json:"material"`
	Reason   string `json:"reason"`
}

// Pause is one §45 pause of the clock: started_on to ended_on inclusive
// do not count; EndedOn is nil while it lasts.
type Pause struct {
	ID            uuid.UUID
	ApplicationID uuid.UUID
	Kind          PauseKind
	Reason        string
	StartedOn     civil.Date
	EndedOn       *civil.Date
}

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
	DepartmentID *uuid.UUID
	// TimeLimitWorkingDays is the statutory limit (法定时限).
	TimeLimitWorkingDays int
	// PromisedLimitWorkingDays is the limit the district promises (承诺时限),
	// at most the statutory one; nil when it promises none shorter.
	PromisedLimitWorkingDays *int
	ExtensionWorkingDays     int
	Materials                []Material
	DistrictWide             bool
	// VoucherProgramID, when set, is the program approval enrolls the applicant in.
	VoucherProgramID *uuid.UUID
}

// ItemInput creates or updates an item by code.
type ItemInput struct {
	Code                     string
	Name                     string
	DepartmentID             *uuid.UUID
	TimeLimitWorkingDays     int
	PromisedLimitWorkingDays *int
	ExtensionWorkingDays     int
	Materials                []Material
	DistrictWide             bool
	VoucherProgramID         *uuid.UUID
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
	// ReceivedAt is when the complete materials were received: the
	// submission, or the resubmission after 补正 (§32's five days run from it).
	ReceivedAt time.Time
	AcceptedAt *time.Time
	// AcceptedByLaw: nobody answered within five working days (§32).
	AcceptedByLaw bool
	// Deadline is the statutory one (法定时限), PromisedDeadline the promised
	// one (承诺时限); both move with the extension and with clock pauses.
	Deadline         *civil.Date
	PromisedDeadline *civil.Date
	// DeadlineProvisional: the deadline reaches into a year whose holidays
	// are not loaded, so it was computed on weekends alone.
	DeadlineProvisional bool
	// PausedSince is the first day of the §45 pause under way, nil while the clock runs.
	PausedSince     *civil.Date
	Extended        bool
	ExtensionReason *string
	// SupplementNotice is the one 补正 notice, nil until it is given.
	SupplementNotice []Supplement
	CompletedAt      *time.Time
	CompletedOn      *civil.Date
	// Overdue is computed against the app clock when the application is read.
	Overdue bool
	// Today is the business date the application was read on.
	Today civil.Date
}

// overdue reports whether a is past its deadline on today: still open after
// it, or concluded after it.
func (a *Application) overdue(today civil.Date) bool {
	if a.Deadline == nil {
		return false
	}
	if a.Status.Open() {
		if a.PausedSince != nil {
			// The clock stands still: overdue only if it was before the pause.
			return a.PausedSince.After(*a.Deadline)
		}
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
	// Visibility: the applicant sees APPLICANT events only.
	Visibility Visibility
}

// SubmitInput takes in an application.
type SubmitInput struct {
	ItemCode    string
	ApplicantID uuid.UUID
	CenterID    *uuid.UUID
	Materials   []SubmittedMaterial
	// IdempotencyKey, when set, makes a retry answer with the first
	// application (same input) or IDEMPOTENCY_MISMATCH (another input).
	IdempotencyKey *string
}

// TransitionInput moves an application.
type TransitionInput struct {
	ID        uuid.UUID
	Action    Action
	Note      *string
	Materials []SubmittedMaterial
	// Supplements is the 补正 notice (REQUEST_SUPPLEMENT).
	Supplements []Supplement
	// PauseKind says why the clock stops (PAUSE_CLOCK).
	PauseKind *PauseKind
}

// Order is how a list is sorted.
type Order string

// The orders.
const (
	// Newest first (the default).
	NewestFirst Order = "NEWEST_FIRST"
	// DeadlineFirst: the nearest deadline first; those without one last.
	DeadlineFirst Order = "DEADLINE_FIRST"
)

// Filter narrows a list of applications; nil or empty fields match everything.
type Filter struct {
	Status         *Status
	Statuses       []Status
	Open           *bool
	HandlingUnitID *uuid.UUID
	ApplicantID    *uuid.UUID
	CenterID       *uuid.UUID
	ItemID         *uuid.UUID
	Overdue        *bool
	// SubmittedFrom and SubmittedTo bound the submission date (Asia/Shanghai), inclusive.
	SubmittedFrom *civil.Date
	SubmittedTo   *civil.Date
	// DeadlineBefore: a deadline before this date.
	DeadlineBefore *civil.Date
	Order          Order
}

// Stats are completion figures for a period.
type Stats struct {
	Completed       int
	CompletedOnTime int
	// OnTimeRate is CompletedOnTime/Completed, nil when nothing was completed.
	OnTimeRate  *float64
	OpenOverdue int
}

// Enroller enrolls a resident in a voucher program inside the caller's
// transaction, and undoes an enrollment. The voucher domain implements it.
type Enroller interface {
	// EnrollNewTx enrolls and reports whether this call created the
	// enrollment (false: the resident was enrolled already).
	EnrollNewTx(ctx context.Context, tx *gorm.DB, programID, residentID uuid.UUID) (bool, error)
	// UnenrollTx removes the enrollment (a withdrawal after approval).
	UnenrollTx(ctx context.Context, tx *gorm.DB, programID, residentID uuid.UUID) error
}

// NoEnroller is the Enroller used until the voucher domain is wired: it
// does nothing.
type NoEnroller struct{}

// EnrollNewTx does nothing.
func (NoEnroller) EnrollNewTx(context.Context, *gorm.DB, uuid.UUID, uuid.UUID) (bool, error) {
	return false, nil
}

// UnenrollTx does nothing.
func (NoEnroller) UnenrollTx(context.Context, *gorm.DB, uuid.UUID, uuid.UUID) error { return nil }
