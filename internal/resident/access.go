package resident

import (
	"context"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/problem"
)

// This file is the registry's visibility policy, the source of truth for
// who sees which resident and how much of the record:
//
//	ADMIN, CLERK                district-wide, full ID number
//	CASE_WORKER                 own org-unit subtree only, full ID number
//	OPERATOR, AUDITOR           district-wide, masked
//	PROVIDER                    residents it has served: name, masked ID, gender, age
//	RESIDENT (WeChat, bound)    their own record, full ID number
//
// A read of a resident the viewer may not see is FORBIDDEN (a GraphQL
// error); a mutation on a resident, or into a community, outside a case
// worker's subtree is an OUT_OF_JURISDICTION userError.

// access is how much of one record a viewer may see, ordered.
type access int

const (
	noAccess access = iota
	// limitedAccess: name, masked ID number, gender and age only.
	limitedAccess
	// maskedAccess: everything, but never the full ID number.
	maskedAccess
	// fullAccess: everything including the full ID number.
	fullAccess
)

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

// accessTo decides what v may see of the resident id at orgPath.
func (s *Service) accessTo(ctx context.Context, v *auth.Viewer, id uuid.UUID, orgPath string) (access, error) {
	switch {
	case v.Has(auth.Admin, auth.Clerk):
		return fullAccess, nil
	case v.Has(auth.CaseWorker) && v.Covers(orgPath):
		return fullAccess, nil
	case v.Kind == auth.SubjectWechat && v.Has(auth.Resident) && v.ResidentID != nil && *v.ResidentID == id:
		return fullAccess, nil
	case v.Has(auth.Operator, auth.Auditor):
		return maskedAccess, nil
	case v.Has(auth.Provider) && v.ProviderID != nil:
		ok, err := s.served.HasServed(ctx, *v.ProviderID, id)
		if err != nil {
			return noAccess, err
		}
		if ok {
			return limitedAccess, nil
		}
	}
	return noAccess, nil
}

// listScope is the org path prefix a viewer may list under ("/" for the
// whole district); ok is false for roles that cannot list residents.
func listScope(v *auth.Viewer) (prefix string, ok bool) {
	switch {
	case v.Has(auth.Admin, auth.Clerk, auth.Operator, auth.Auditor):
		return "/", true
	case v.Has(auth.CaseWorker) && v.OrgPath != "":
		return v.OrgPath, true
	}
	return "", false
}

// editScope returns an OUT_OF_JURISDICTION userError unless v may register
// or edit residents at orgPath; FORBIDDEN for roles that never may.
func editScope(v *auth.Viewer, orgPath string, field ...string) error {
	switch {
	case v.Has(auth.Admin, auth.Clerk):
		return nil
	case v.Has(auth.CaseWorker):
		if v.Covers(orgPath) {
			return nil
		}
		return problem.New(problem.OutOfJurisdiction, "该居民或社区不在您的辖区内 (outside your jurisdiction)", field...)
	}
	return problem.Forbidden("your role does not allow editing residents")
}

// apply trims r to what access a allows.
func (r *Resident) apply(a access) *Resident {
	r.access = a
	if a == limitedAccess {
		r.PhoneMasked, r.Address, r.GridID, r.Statuses = nil, nil, nil, []Status{}
	}
	return r
}

// Restricted returns ErrForbidden when the viewer only has the provider's
// limited view (name, masked ID number, gender, age); non-null fields beyond
// that view answer with it instead of a made-up value.
func (r *Resident) Restricted() error {
	if r.access == limitedAccess {
		return problem.Forbidden("providers see only name, masked ID number, gender and age")
	}
	return nil
}

// VisibleBirthDate is the birth date, or ErrForbidden for the limited view.
// It is a plain method (no context) so the GraphQL layer resolves it inline
// rather than in a goroutine of its own per resident.
func (r *Resident) VisibleBirthDate() (civil.Date, error) {
	if err := r.Restricted(); err != nil {
		return civil.Date{}, err
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
