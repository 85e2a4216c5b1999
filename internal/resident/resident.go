// Package resident is the resident registry: who lives where, with the
// statuses and care level that decide support. ID and phone numbers are
// held encrypted; reads return precomputed masks unless the viewer may see
// the full value.
package resident

import (
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/policy"
)

// Gender is derived from the ID number, never typed in.
type Gender string

// Genders.
const (
	Male   Gender = "MALE"
	Female Gender = "FEMALE"
)

// Status is a support-deciding status (低保, 特困, 独居, 空巢, 失独).
type Status string

// Statuses.
const (
	LowIncome      Status = "LOW_INCOME"
	ExtremePoverty Status = "EXTREME_POVERTY"
	LivingAlone    Status = "LIVING_ALONE"
	EmptyNest      Status = "EMPTY_NEST"
	BereavedParent Status = "BEREAVED_PARENT"
)

// CareLevel is the ability-assessment level.
type CareLevel string

// Care levels, from 能力完好 to 完全失能.
const (
	Intact   CareLevel = "INTACT"
	Mild     CareLevel = "MILD"
	Moderate CareLevel = "MODERATE"
	Severe   CareLevel = "SEVERE"
	Total    CareLevel = "TOTAL"
)

// Resident is one registry record as every reader sees it: masked values
// only. The full ID number is read separately, with an audit entry.
type Resident struct {
	ID             uuid.UUID
	Name           string
	IDNumberMasked string
	Gender         Gender
	BirthDate      civil.Date
	PhoneMasked    *string
	Address        *string
	CommunityID    uuid.UUID
	GridID         *uuid.UUID
	// OrgPath is the path of the grid (or community): jurisdiction is a prefix match.
	OrgPath   string
	Statuses  []Status
	CareLevel CareLevel
	Version   int
	CreatedAt time.Time
	// DeceasedOn and MovedOutOn are set by a recorded death or move out.
	DeceasedOn *civil.Date
	MovedOutOn *civil.Date
	// MergedInto is the survivor this record was merged into (a duplicate).
	MergedInto *uuid.UUID

	// access is what the viewer that read this record may see of it.
	access policy.View
	// idEnc is the encrypted ID number, decrypted only for a full read.
	idEnc string
}

// Contact is an emergency contact; the phone number is only ever shown masked.
type Contact struct {
	ID          uuid.UUID
	ResidentID  uuid.UUID
	Name        string
	Relation    string
	PhoneMasked string
	Priority    int
}

// PII purposes: the additional data of encrypted values and the blind-index
// purposes. They must never change once data is stored under them.
const (
	PurposeIDNumber     = "resident.id_number"
	PurposePhone        = "resident.phone"
	PurposeContactPhone = "contact.phone"
)

// Age is the resident's age in full years on the given day.
func (r *Resident) Age(on civil.Date) int {
	age := on.Year - r.BirthDate.Year
	if on.Month < r.BirthDate.Month || (on.Month == r.BirthDate.Month && on.Day < r.BirthDate.Day) {
		age--
	}
	return age
}

// HasStatus reports whether the resident holds s.
func (r *Resident) HasStatus(s Status) bool {
	for _, x := range r.Statuses {
		if x == s {
			return true
		}
	}
	return false
}
