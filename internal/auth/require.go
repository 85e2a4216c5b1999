package auth

import (
	"context"

	"github.com/jinjiang/residents/internal/problem"
)

// Who may do what is internal/policy's; this package only knows whether
// there is a session at all.

// Require returns ErrUnauthenticated without a session.
func Require(ctx context.Context) error {
	_, err := RequireViewer(ctx)
	return err
}

// RequireViewer returns the signed-in viewer, or ErrUnauthenticated.
func RequireViewer(ctx context.Context) (*Viewer, error) {
	v := ViewerFrom(ctx)
	if v == nil {
		return nil, problem.ErrUnauthenticated
	}
	return v, nil
}
