package graph

import (
	"context"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/voucher"
)

// Global ID type names. Each Node type's id resolver and node(id:) use these.
const (
	TypeOrgUnit       = "OrgUnit"
	TypeServiceCenter = "ServiceCenter"
	TypeStaffUser     = "StaffUser"
	TypeWechatAccount = "WechatAccount"

	TypeDisabilityCertificate = "DisabilityCertificate"
	TypeDisabilityService     = "DisabilityService"
	TypeEmergencyDevice       = "EmergencyDevice"
	TypeEmergencyCall         = "EmergencyCall"
	TypeServiceItem           = "ServiceItem"
	TypeApplication           = "Application"
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
	TypeResident: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		res, err := r.Registry.Get(ctx, id)
		if res == nil || err != nil {
			return nil, err
		}
		return res, nil
	},
	TypeStaffUser: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		u, err := r.Auth.StaffUser(ctx, id)
		if u == nil || err != nil {
			return nil, err
		}
		return u, nil
	},
	TypeDisabilityCertificate: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		c, err := r.Disability.Certificate(ctx, id)
		if c == nil || err != nil {
			return nil, err
		}
		return c, nil
	},
	TypeEmergencyDevice: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		d, err := r.Emergency.Device(ctx, id)
		if d == nil || err != nil {
			return nil, err
		}
		return d, nil
	},
	TypeEmergencyCall: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		c, err := r.Emergency.Call(ctx, id)
		if c == nil || err != nil {
			return nil, err
		}
		return c, nil
	},
	TypeDisabilityService: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		s, err := r.Disability.ServiceRecord(ctx, id)
		if s == nil || err != nil {
			return nil, err
		}
		return s, nil
	},
	TypeProvider:       nodeOf((*voucher.Service).Provider),
	TypeVoucherProgram: nodeOf((*voucher.Service).Program),
	TypeVoucher:        nodeOf((*voucher.Service).Voucher),
	TypeRedemption:     nodeOf((*voucher.Service).Redemption),
	TypeServiceItem: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.ApplicationService.Item(ctx, id))
	},
	TypeApplication: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.ApplicationService.Get(ctx, id))
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
