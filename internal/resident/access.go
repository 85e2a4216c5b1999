package resident

import (
	"cmp"
	"context"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// Who sees which resident, and how much, is internal/policy's
// ResidentView; this file applies its answer to the record. A read of a
// resident the viewer may not see is FORBIDDEN (a GraphQL error); a
// mutation on a resident, or into a community, outside a case worker's
// subtree is an OUT_OF_JURISDICTION userError.

// ServedChecker tells whether a care provider has served a resident (the
// voucher domain answers from its redemptions).
type ServedChecker interface {
	HasServed(ctx context.Context, providerID, residentID uuid.UUID) (bool, error)
}

// AnyServed answers true when any of its checkers does: a provider has
// served a resident through a voucher redemption or an assigned disability
// service alike.
type AnyServed []ServedChecker

// HasServed asks each checker in turn.
func (a AnyServed) HasServed(ctx context.Context, providerID, residentID uuid.UUID) (bool, error) {
	for _, c := range a {
		ok, err := c.HasServed(ctx, providerID, residentID)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// NeverServed is the ServedChecker used until a domain that records
// services is wired in: providers see no one.
type NeverServed struct{}

// HasServed always answers false.
func (NeverServed) HasServed(context.Context, uuid.UUID, uuid.UUID) (bool, error) { return false, nil }

// viewOf decides what v may see of the resident id at orgPath.
func (s *Service) viewOf(ctx context.Context, v *auth.Viewer, id uuid.UUID, orgPath string) (policy.View, error) {
	return policy.ResidentView(v, policy.Subject{ID: id, OrgPath: orgPath, Served: func() (bool, error) {
		return s.served.HasServed(ctx, *v.ProviderID, id)
	}})
}

// editScope returns an OUT_OF_JURISDICTION userError unless v may register
// or edit residents at orgPath; FORBIDDEN for roles that never may.
func editScope(v *auth.Viewer, orgPath string, field ...string) error {
	if !policy.Allowed(v, policy.EditResident) {
		return problem.Forbidden("your role does not allow editing residents")
	}
	if ok, err := policy.On(v, policy.EditResident, policy.Subject{OrgPath: orgPath}); err != nil || !ok {
		return cmp.Or(err, policy.OutOfJurisdiction(field...))
	}
	return nil
}

// apply trims r to what access a allows.
func (r *Resident) apply(a policy.View) *Resident {
	r.access = a
	if a == policy.ViewLimited {
		r.PhoneMasked, r.Address, r.GridID, r.Statuses = nil, nil, nil, []Status{}
	}
	return r
}

// Restricted returns ErrForbidden when the viewer only has the provider's
// limited view (name, masked ID number, gender, age); non-null fields beyond
// that view answer with it instead of a made-up value.
func (r *Resident) Restricted() error {
	if r.access == policy.ViewLimited {
		return problem.Forbidden("providers see only name, masked ID number, gender and age")
	}
	return nil
}

// VisibleBirthDate is the birth date, or ErrForbidden for every view short
// of the full one (policy.View.SeesBirthDate: with the mask it would give
// the whole ID number back). It is a plain method (no context) so the
// GraphQL layer resolves it inline rather than in a goroutine of its own per
// resident.
func (r *Resident) VisibleBirthDate() (civil.Date, error) {
	if !r.access.SeesBirthDate() {
		return civil.Date{}, problem.Forbidden("only roles that may read the full ID number read the birth date; others read age")
	}
	return r.BirthDate, nil
}

// VisibleCareLevel is the care level, or ErrForbidden for the limited view.
func (r *Resident) VisibleCareLevel() (CareLevel, error) {
	if err := r.Restricted(); err != nil {
		return "", err
	}
	return r.CareLevel, nil
}
