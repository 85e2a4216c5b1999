// Package disability is the disability-services domain: certificates
// (残疾人证), the two subsidies (两项补贴) decided by rules held as data, and
// service records (rehabilitation, assistive devices, day care, ...).
// Authorization decisions are made here, in the service methods.
package disability

import (
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/civil"
)

// Category is a disability category; its digit is the 19th character of
// the certificate number.
type Category string

// Categories, in digit order 1-7.
const (
	Visual       Category = "VISUAL"
	Hearing      Category = "HEARING"
	Speech       Category = "SPEECH"
	Physical     Category = "PHYSICAL"
	Intellectual Category = "INTELLECTUAL"
	Mental       Category = "MENTAL"
	Multiple     Category = "MULTIPLE"
)

// Categories lists every category in digit order.
var Categories = []Category{Visual, Hearing, Speech, Physical, Intellectual, Mental, Multiple}

// Digit is the category's digit in the certificate number (1-7), 0 when unknown.
func (c Category) Digit() int {
	for i, x := range Categories {
		if x == c {
			return i + 1
		}
	}
	return 0
}

// Valid reports whether c is a known category.
func (c Category) Valid() bool { return c.Digit() > 0 }

// Chinese is the category's name in Chinese (视力残疾 …).
func (c Category) Chinese() string {
	switch c {
	case Visual:
		return "视力残疾"
	case Hearing:
		return "听力残疾"
	case Speech:
		return "言语残疾"
	case Physical:
		return "肢体残疾"
	case Intellectual:
		return "智力残疾"
	case Mental:
		return "精神残疾"
	case Multiple:
		return "多重残疾"
	}
	return string(c)
}

// Certificate is one 残疾人证. Number is never held in full here: reads
// return NumberMasked unless the service decides the viewer may see it.
type Certificate struct {
	ID           uuid.UUID
	ResidentID   uuid.UUID
	NumberMasked string
	Category     Category
	Grade        int
	IssuedOn     civil.Date
	ValidUntil   civil.Date
	SupersededAt *time.Time
	CreatedAt    time.Time
	// residentPath is the holder's org path (jurisdiction checks).
	residentPath string
}

// ValidOn reports whether the certificate is current and within its
// validity on day d. CurrentOnSQL is the same rule in SQL.
func (c *Certificate) ValidOn(d civil.Date) bool {
	return c.SupersededAt == nil && !d.Before(c.IssuedOn) && !d.After(c.ValidUntil)
}

// CurrentOnSQL is Certificate.ValidOn as a SQL condition on the
// disability_certificates row aliased alias, for the day the SQL expression
// day gives (a placeholder such as "?" or "CAST(@pfrom AS date)", used
// once). Its "superseded_at IS NULL" is also the predicate of the table's
// partial indexes (TestIndexPredicatesFollowTheRules).
func CurrentOnSQL(alias, day string) string {
	return alias + ".superseded_at IS NULL AND " + day + " BETWEEN " + alias + ".issued_on AND " + alias + ".valid_until"
}

// ServiceKind is a kind of disability service.
type ServiceKind string

// Service kinds.
const (
	Rehabilitation    ServiceKind = "REHABILITATION"
	AssistiveDevice   ServiceKind = "ASSISTIVE_DEVICE"
	DayCare           ServiceKind = "DAY_CARE"
	HomeModification  ServiceKind = "HOME_MODIFICATION"
	EmploymentSupport ServiceKind = "EMPLOYMENT_SUPPORT"
	AccessibleCinema  ServiceKind = "ACCESSIBLE_CINEMA"
	CareAssistance    ServiceKind = "CARE_ASSISTANCE"
)

// ServiceStatus is where a service record stands.
type ServiceStatus string

// Service statuses.
const (
	Requested ServiceStatus = "REQUESTED"
	Scheduled ServiceStatus = "SCHEDULED"
	Delivered ServiceStatus = "DELIVERED"
	Cancelled ServiceStatus = "CANCELLED"
)

// transitions is the service-record workflow: anything not listed is
// INVALID_TRANSITION.
var transitions = map[ServiceStatus][]ServiceStatus{
	Requested: {Scheduled, Cancelled},
	Scheduled: {Delivered, Cancelled},
}

// CanMove reports whether a record may move from one status to another.
func CanMove(from, to ServiceStatus) bool {
	for _, x := range transitions[from] {
		if x == to {
			return true
		}
	}
	return false
}

// ServiceRecord is one requested disability service.
type ServiceRecord struct {
	ID          uuid.UUID
	ResidentID  uuid.UUID
	Kind        ServiceKind
	Status      ServiceStatus
	ProviderID  *uuid.UUID
	ScheduledOn *civil.Date
	DeliveredOn *civil.Date
	Note        *string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// residentPath is the resident's org path (jurisdiction checks).
	residentPath string
}

// Subsidy is one of the two subsidies.
type Subsidy string

// The two subsidies.
const (
	// Living is 困难残疾人生活补贴.
	Living Subsidy = "LIVING"
	// Nursing is 重度残疾人护理补贴.
	Nursing Subsidy = "NURSING"
)

// Chinese is the subsidy's official name.
func (s Subsidy) Chinese() string {
	if s == Living {
		return "困难残疾人生活补贴"
	}
	return "重度残疾人护理补贴"
}

// Eligibility answers disabilitySubsidyEligibility.
type Eligibility struct {
	LivingSubsidy  bool
	NursingSubsidy bool
	Reasons        []string
}
