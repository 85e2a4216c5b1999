// Package voucher is the eldercare service voucher domain (养老服务券):
// contracted care providers, programs with eligibility rules, monthly
// set-based issuance, single-use redemption tokens, redemption with
// idempotency keys, the append-only ledger, expiry, and monthly settlement.
//
// Money is int64 fen. Every balance change takes row locks in a fixed order
// and is backed by CHECK constraints, so concurrent requests never overdraw.
package voucher

import (
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/resident"
)

// Category is a service category (助餐, 助浴, …).
type Category string

// Service categories.
const (
	Meal          Category = "MEAL"
	Bathing       Category = "BATHING"
	Cleaning      Category = "CLEANING"
	MedicalEscort Category = "MEDICAL_ESCORT"
	Rehab         Category = "REHABILITATION"
	DayCare       Category = "DAY_CARE"
	Nursing       Category = "NURSING"
	EmergencyAid  Category = "EMERGENCY_AID"
)

// categoryLabels are the categories' Chinese names, as the schema's enum
// descriptions give them.
var categoryLabels = map[Category]string{
	Meal: "助餐", Bathing: "助浴", Cleaning: "助洁", MedicalEscort: "助医",
	Rehab: "康复", DayCare: "日间照料", Nursing: "护理", EmergencyAid: "助急",
}

// Label is the category's Chinese name (its code when it has none).
func (c Category) Label() string {
	if l, ok := categoryLabels[c]; ok {
		return l
	}
	return string(c)
}

// Label is the settlement status in Chinese.
func (s SettlementStatus) Label() string {
	if s == SettlementConfirmed {
		return "已确认"
	}
	return "未确认"
}

// AllCategories lists every service category.
var AllCategories = []Category{Meal, Bathing, Cleaning, MedicalEscort, Rehab, DayCare, Nursing, EmergencyAid}

// ProviderStatus says whether a provider may redeem.
type ProviderStatus string

// Provider statuses.
const (
	ProviderActive    ProviderStatus = "ACTIVE"
	ProviderSuspended ProviderStatus = "SUSPENDED"
)

// ProgramStatus is a program's lifecycle state.
type ProgramStatus string

// Program statuses.
const (
	ProgramDraft  ProgramStatus = "DRAFT"
	ProgramActive ProgramStatus = "ACTIVE"
	ProgramClosed ProgramStatus = "CLOSED"
)

// Status is a voucher's state.
type Status string

// Voucher statuses.
const (
	Active    Status = "ACTIVE"
	Exhausted Status = "EXHAUSTED"
	Expired   Status = "EXPIRED"
	Voided    Status = "VOIDED"
)

// EntryKind is the kind of a ledger entry.
type EntryKind string

// Ledger entry kinds.
const (
	Issue   EntryKind = "ISSUE"
	Redeem  EntryKind = "REDEEM"
	Reverse EntryKind = "REVERSE"
	Expire  EntryKind = "EXPIRE"
	Void    EntryKind = "VOID"
)

// RedemptionStatus is a redemption's state.
type RedemptionStatus string

// Redemption statuses.
const (
	Completed RedemptionStatus = "COMPLETED"
	Reversed  RedemptionStatus = "REVERSED"
)

// SettlementStatus says whether a provider's month is frozen.
type SettlementStatus string

// Settlement statuses.
const (
	SettlementOpen      SettlementStatus = "OPEN"
	SettlementConfirmed SettlementStatus = "CONFIRMED"
)

// Provider is a contracted third-party care provider.
type Provider struct {
	ID         uuid.UUID
	Name       string
	CreditCode string
	Categories []Category
	Status     ProviderStatus
	CreatedAt  time.Time
}

// Rule is one eligibility rule; nil conditions match everyone.
type Rule struct {
	MinAge           *int
	CareLevels       []resident.CareLevel
	Statuses         []resident.Status
	DisabilityGrades []int
	AmountFen        int64
}

// Program is a voucher program.
type Program struct {
	ID                 uuid.UUID
	Code               string
	Name               string
	Categories         []Category
	Rules              []*Rule
	Status             ProgramStatus
	BudgetPerPeriodFen *int64
	CarryOverPeriods   int
	CreatedAt          time.Time
}

// Voucher is one month's voucher of one resident in one program.
type Voucher struct {
	ID           uuid.UUID
	ProgramID    uuid.UUID
	ResidentID   uuid.UUID
	Period       string
	FaceValueFen int64
	BalanceFen   int64
	Status       Status
	ValidFrom    civil.Date
	ValidUntil   civil.Date
	CreatedAt    time.Time
}

// LedgerEntry is one append-only movement on a voucher.
type LedgerEntry struct {
	ID              uuid.UUID
	VoucherID       uuid.UUID
	Kind            EntryKind
	AmountFen       int64
	BalanceAfterFen int64
	At              time.Time
	RedemptionID    *uuid.UUID
}

// Redemption is one provider service paid with vouchers.
type Redemption struct {
	ID            uuid.UUID
	ProviderID    uuid.UUID
	ResidentID    uuid.UUID
	ProgramID     uuid.UUID
	Category      Category
	AmountFen     int64
	ServiceDate   civil.Date
	Status        RedemptionStatus
	Note          *string
	CreatedAt     time.Time
	ReversedAt    *time.Time
	ReverseReason *string
}

// RedeemResult is what redeemVoucher and reverseRedemption return.
type RedeemResult struct {
	Redemption   *Redemption
	RemainingFen int64
}

// Settlement is one provider's month, by service date.
type Settlement struct {
	ProviderID   uuid.UUID
	ProviderName string
	Month        string
	Status       SettlementStatus
	// ConfirmedAt is when the month was confirmed (frozen); nil while OPEN.
	ConfirmedAt     *time.Time
	RedemptionCount int
	TotalFen        int64
	Lines           []*SettlementLine
}

// SettlementLine sums a settlement per program and category.
type SettlementLine struct {
	ProgramID       uuid.UUID
	ProgramCode     string
	ProgramName     string
	Category        Category
	RedemptionCount int
	TotalFen        int64
}
