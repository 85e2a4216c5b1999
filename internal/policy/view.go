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
	// ViewMasked: the whole record, but never the full ID number nor the
	// birth date (age instead).
	ViewMasked
	// ViewFull: the whole record with the full ID number.
	ViewFull
)

// SeesBirthDate tells whether this view shows the birth date. Only the full
// view does: the birth date is eight of the ID number's eighteen
// characters, so a viewer refused the full number reads age instead, and
// the mask (pii.MaskIDNumber) is chosen so that mask, age, gender and
// region together leave hundreds of candidates.
func (v View) SeesBirthDate() bool { return v == ViewFull }

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
