package graph

import (
	"context"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/relay"
)

// Global ID type names. Each Node type's id resolver and node(id:) use these.
const (
	TypeOrgUnit       = "OrgUnit"
	TypeServiceCenter = "ServiceCenter"
	TypeStaffUser     = "StaffUser"
	TypeWechatAccount = "WechatAccount"
	TypeServiceItem   = "ServiceItem"
	TypeApplication   = "Application"
)

// nodeFetcher loads one object of a type for node(id:). It must apply the
// same authorization as the type's own query (the domain service does).
type nodeFetcher func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error)

// nodeFetchers maps global-ID type names to their loaders. Domains add
// their Node types here.
var nodeFetchers = map[string]nodeFetcher{
	TypeOrgUnit: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		u, err := r.Org.Unit(ctx, id)
		if u == nil || err != nil {
			return nil, err
		}
		return u, nil
	},
	TypeServiceCenter: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		c, err := load(ctx, loaders(ctx).Center, id)
		if c == nil || err != nil {
			return nil, err
		}
		return c, nil
	},
	TypeStaffUser: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		u, err := r.Auth.StaffUser(ctx, id)
		if u == nil || err != nil {
			return nil, err
		}
		return u, nil
	},
	TypeServiceItem: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeOf(r.ApplicationService.Item(ctx, id))
	},
	TypeApplication: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeOf(r.ApplicationService.Get(ctx, id))
	},
}

func (r *Resolver) node(ctx context.Context, gid string) (relay.Node, error) {
	typ, id, err := relay.Parse(gid)
	if err != nil {
		return nil, err
	}
	fetch, ok := nodeFetchers[typ]
	if !ok {
		return nil, nil
	}
	return fetch(r, ctx, id)
}
