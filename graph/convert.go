package graph

import (
	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/page"
)

// authPayload maps a sign-in result to its payload.
func authPayload(g *auth.Grant, err error) (*model.AuthPayload, error) {
	ues, err := userErrors(err)
	if err != nil {
		return nil, err
	}
	p := &model.AuthPayload{UserErrors: ues}
	if g != nil {
		p.AccessToken, p.RefreshToken, p.AccessTokenExpiresAt, p.Viewer = &g.AccessToken, &g.RefreshToken, &g.ExpiresAt, g.Viewer
	}
	return p, nil
}

// pageInfo builds a Relay PageInfo for a keyset page.
func pageInfo[T any](res page.Result[T], key func(T) uuid.UUID) *model.PageInfo {
	pi := &model.PageInfo{HasNextPage: res.HasNext, HasPreviousPage: res.HasPrevious}
	if n := len(res.Items); n > 0 {
		start, end := page.EncodeCursor(key(res.Items[0])), page.EncodeCursor(key(res.Items[n-1]))
		pi.StartCursor, pi.EndCursor = &start, &end
	}
	return pi
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
