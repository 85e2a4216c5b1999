package policy

import "github.com/jinjiang/residents/internal/auth"

// View is how much of one resident's record a viewer may see, ordered.
type View int

const (
	// ViewNone: nothing; the record is FORBIDDEN.
	ViewNone View = iota
	// ViewLimited: name, masked ID number, gender and age only (a care
	// provider, of residents it has served).
	ViewLimited
	// ViewMasked: the whole record, but never the full ID number.
	ViewMasked
	// ViewFull: the whole record with the full ID number.
	ViewFull
)

// ResidentView decides how much of subject s's record v may see: full
// where v may read its full ID number, masked where v may read the record
// through its role or jurisdiction, limited where v's provider has served
// the resident.
func ResidentView(v *auth.Viewer, s Subject) (View, error) {
	if v == nil {
		return ViewNone, nil
	}
	if ok, err := On(v, ReadFullIDNumber, s); err != nil || ok {
		return ViewFull, err
	}
	served := s.Served
	s.Served = nil
	if ok, _ := On(v, ReadResident, s); ok {
		return ViewMasked, nil
	}
	s.Served = served
	if ok, err := On(v, ReadResident, s); err != nil || !ok {
		return ViewNone, err
	}
	return ViewLimited, nil
}
