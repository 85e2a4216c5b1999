package auth

import (
	"context"
	"net/netip"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/clientaddr"
)

// SubjectKind says which table a signed-in subject lives in.
type SubjectKind string

// Subject kinds.
const (
	// SubjectUser is a password user: staff, provider user or machine client.
	SubjectUser SubjectKind = "USER"
	// SubjectWechat is a WeChat mini-program account (role RESIDENT).
	SubjectWechat SubjectKind = "WECHAT"
)

// Viewer is who is making the request. It is what the session in Redis
// holds, so reading it costs one Redis GET and no SQL.
type Viewer struct {
	Kind        SubjectKind `json:"k"`
	ID          uuid.UUID   `json:"id"`
	SessionID   uuid.UUID   `json:"sid"`
	DisplayName string      `json:"dn"`
	Roles       []Role      `json:"r"`
	// OrgUnitID and OrgPath bound a staff member's jurisdiction.
	OrgUnitID *uuid.UUID `json:"ou,omitempty"`
	OrgPath   string     `json:"op,omitempty"`
	// ProviderID is set for provider users.
	ProviderID *uuid.UUID `json:"pv,omitempty"`
	// ResidentID is set for a WeChat account bound to a resident record.
	ResidentID *uuid.UUID `json:"rs,omitempty"`
}

// Has reports whether the viewer holds any of roles.
func (v *Viewer) Has(roles ...Role) bool {
	if v == nil {
		return false
	}
	for _, have := range v.Roles {
		for _, want := range roles {
			if have == want {
				return true
			}
		}
	}
	return false
}

type viewerKey struct{}

// WithViewer returns ctx carrying v.
func WithViewer(ctx context.Context, v *Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// ViewerFrom returns the viewer in ctx, or nil when the request is anonymous.
func ViewerFrom(ctx context.Context) *Viewer {
	v, _ := ctx.Value(viewerKey{}).(*Viewer)
	return v
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the request id (for the audit log and logs).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id in ctx, or "".
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey{}).(string)
	return s
}

type clientKey struct{}

// WithClient returns ctx carrying the request's client address, as the
// HTTP edge resolved it (internal/clientaddr: X-Forwarded-For believed
// from trusted proxies only).
func WithClient(ctx context.Context, a netip.Addr) context.Context {
	return context.WithValue(ctx, clientKey{}, a)
}

// Client returns the client address in ctx (the zero Addr when unknown).
func Client(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(clientKey{}).(netip.Addr)
	return a
}

// ClientKey is the key every per-client throttle counts under: the
// address, an IPv6 address by its /64, or "unknown" (one shared bucket for
// calls that did not come through the HTTP edge).
func ClientKey(ctx context.Context) string { return clientaddr.Key(Client(ctx)) }
