package auth

import (
	"context"
	"strings"

	"github.com/jinjiang/residents/internal/problem"
)

// This file is the authorization policy every domain calls: a role check,
// and jurisdiction as an org-unit subtree. Domain services combine them with
// their own facts (who owns a record) and are the source of truth.

// Require returns the viewer when it holds one of roles; ErrUnauthenticated
// without a session, ErrForbidden otherwise.
func Require(ctx context.Context, roles ...Role) error {
	_, err := RequireViewer(ctx, roles...)
	return err
}

// RequireViewer is Require that also returns the viewer.
func RequireViewer(ctx context.Context, roles ...Role) (*Viewer, error) {
	v := ViewerFrom(ctx)
	if v == nil {
		return nil, problem.ErrUnauthenticated
	}
	if len(roles) > 0 && !v.Has(roles...) {
		return nil, problem.Forbidden("your role does not allow this")
	}
	return v, nil
}

// Covers reports whether orgPath (an org unit's materialized path) lies in
// the viewer's jurisdiction: their org unit or anything below it.
func (v *Viewer) Covers(orgPath string) bool {
	return v != nil && v.OrgPath != "" && strings.HasPrefix(orgPath, v.OrgPath)
}

// DistrictWide reports whether the viewer's role reads across the whole
// district regardless of their own unit (全区通办 for clerks, emergencies
// for operators, oversight for auditors and administrators).
func (v *Viewer) DistrictWide() bool {
	return v.Has(Admin, Clerk, Operator, Auditor)
}

// RequireCovers returns ErrForbidden unless a staff viewer with one of roles
// covers orgPath. ADMIN covers the whole district.
func RequireCovers(ctx context.Context, orgPath string, roles ...Role) (*Viewer, error) {
	v, err := RequireViewer(ctx, roles...)
	if err != nil {
		return nil, err
	}
	if v.Has(Admin) || v.Covers(orgPath) {
		return v, nil
	}
	return nil, problem.Forbidden("outside your jurisdiction")
}
