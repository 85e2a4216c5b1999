// Package homecare is home-care visits paid with eldercare vouchers: a
// provider's care workers, the price list per program and the items each
// provider offers, per-resident caps, elder service cards and home
// positions (entered at a counter), service orders from request to
// payment, the anomaly rules that hold a visit for review, and disputes.
//
// A visit is paid through the voucher domain's redemption engine
// (voucher.RedeemVisitTx), idempotent by order id, so every settlement line
// names its visit. Who may do what is internal/policy's; the one rule for
// "may this viewer confirm for resident R" is mayConfirmFor (confirm.go).
package homecare

import (
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/voucher"
)

// Status is a service order's state.
type Status string

// The order states.
const (
	Requested  Status = "REQUESTED"
	Assigned   Status = "ASSIGNED"
	CheckedIn  Status = "CHECKED_IN"
	CheckedOut Status = "CHECKED_OUT"
	Confirmed  Status = "CONFIRMED"
	Redeemed   Status = "REDEEMED"
	Cancelled  Status = "CANCELLED"
	Disputed   Status = "DISPUTED"
)

// transitions is the order workflow: from each state, the states it may
// become. CONFIRMED is a confirmed visit held by an open anomaly flag: it
// is paid (REDEEMED) when a reviewer clears it, or CANCELLED when one
// reverses it. An unflagged confirmation is paid at once.
var transitions = map[Status][]Status{
	Requested:  {Assigned, Cancelled},
	Assigned:   {Assigned, CheckedIn, Cancelled},
	CheckedIn:  {CheckedOut, Cancelled},
	CheckedOut: {Confirmed, Redeemed, Cancelled},
	Confirmed:  {Redeemed, Cancelled},
	Redeemed:   {Disputed},
	Disputed:   {Redeemed, Cancelled},
}

// CanBecome reports whether s may move to to.
func (s Status) CanBecome(to Status) bool {
	for _, x := range transitions[s] {
		if x == to {
			return true
		}
	}
	return false
}

// Period is the span a per-resident cap counts over.
type Period string

// Cap periods.
const (
	Day   Period = "DAY"
	Week  Period = "WEEK"
	Month Period = "MONTH"
)

// Worker is a provider's care worker (a CARE_WORKER account).
type Worker struct {
	ID          uuid.UUID
	ProviderID  uuid.UUID
	Username    string
	DisplayName string
	Active      bool
}

// Item is one entry of a program's price list.
type Item struct {
	ID             uuid.UUID
	ProgramID      uuid.UUID
	Code           string
	Name           string
	Category       voucher.Category
	Unit           string
	UnitPriceFen   int64
	MinimumMinutes int
	Active         bool
}

// Cap is a per-resident cap: at most MaxVisits orders of Category per
// Period.
type Cap struct {
	ProgramID uuid.UUID
	Category  voucher.Category
	Period    Period
	MaxVisits int
}

// Position is a phone's reported position.
type Position struct {
	Latitude  float64
	Longitude float64
	// AccuracyMeters is the phone's reported accuracy radius, if any.
	AccuracyMeters *float64
}

// Stamp is a check-in or check-out: when, where, and how far from the
// resident's recorded home (nil when no home is recorded).
type Stamp struct {
	At             time.Time
	Position       Position
	DistanceMeters *float64
}

// Card is an elder service card as staff see it (never its PIN).
type Card struct {
	ResidentID     uuid.UUID
	CardNumber     string
	Status         string
	FailedAttempts int
	IssuedAt       time.Time
}

// Sheet is what a visit's worker is shown of the resident: name, age,
// masked ID number and contact, the visit address.
type Sheet struct {
	Name           string
	Age            int
	MaskedIDNumber string
	MaskedPhone    *string
	Address        *string
	orgPath        string
}

// Flag is an anomaly a rule raised on a visit.
type Flag struct {
	ID         uuid.UUID
	Rule       Rule
	Detail     string
	Status     string
	RaisedAt   time.Time
	ResolvedAt *time.Time
	Resolution *string
}

// Dispute is a resident's dispute of a paid visit.
type Dispute struct {
	ID         uuid.UUID
	Reason     string
	Status     string
	RaisedAt   time.Time
	ResolvedAt *time.Time
	Resolution *string
}

// Order is a service order (a visit).
type Order struct {
	ID            uuid.UUID
	ProviderID    uuid.UUID
	ProgramID     uuid.UUID
	ResidentID    uuid.UUID
	ItemID        uuid.UUID
	Category      voucher.Category
	Quantity      int
	AmountFen     int64
	ScheduledDate civil.Date
	Status        Status
	WorkerID      *uuid.UUID
	CreatedAt     time.Time
	CheckIn       *Stamp
	CheckOut      *Stamp
	ConfirmedAt   *time.Time
	// ConfirmedVia is CARD or RESIDENT.
	ConfirmedVia          *string
	ConfirmDistanceMeters *float64
	ServiceDate           *civil.Date
	RedemptionID          *uuid.UUID
	CancelledAt           *time.Time
	CancelReason          *string

	// Sheet, Flags and Dispute are loaded with the order.
	Sheet   *Sheet
	Flags   []*Flag
	Dispute *Dispute
}
