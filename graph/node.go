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

	TypeDisabilityCertificate = "DisabilityCertificate"
	TypeDisabilityService     = "DisabilityService"
	TypeDisabilitySubsidyRule = "DisabilitySubsidyRule"
	TypeEmergencyDevice       = "EmergencyDevice"
	TypeEmergencyCall         = "EmergencyCall"
	TypeServiceItem           = "ServiceItem"
	TypeApplication           = "Application"
	TypeCareWorker            = "CareWorker"
	TypeCarePriceItem         = "CarePriceItem"
	TypeServiceOrder          = "ServiceOrder"
	TypeResidentImport        = "ResidentImport"
	TypeHousehold             = "Household"
	TypeFactChangeRequest     = "FactChangeRequest"
	TypeDuplicateCandidate    = "DuplicateCandidate"
	TypeResidentExport        = "ResidentExport"
	// TypeOrgMoveRun and TypeDuplicateReport are runs, not Nodes: read back
	// by orgMoveRun(id:) and duplicateReport(id:).
	TypeOrgMoveRun      = "OrgMoveRun"
	TypeDuplicateReport = "DuplicateReport"
	// TypeDeadlineRecomputation is a run, not a Node: its id is read back by deadlineRecomputation(id:).
	TypeDeadlineRecomputation = "DeadlineRecomputation"
	// Ids of objects that are no Node (they are named in mutations but
	// read through their call or list): node(id:) does not resolve them.
	TypeEmergencyContact  = "EmergencyContact"
	TypeCallDispatch      = "CallDispatch"
	TypeOutboundCall      = "OutboundCall"
	TypeWelfareCheck      = "WelfareCheck"
	TypeWelfareEscalation = "WelfareEscalation"
)

// nodeFetcher loads one object of a type for node(id:). It must apply the
// same authorization as the type's own query (the domain service does).
type nodeFetcher func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error)

// nodeFetchers maps global-ID type names to their loaders. Domains add
// their Node types here.
var nodeFetchers = map[string]nodeFetcher{
	TypeOrgUnit: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Org.Unit(ctx, id))
	},
	TypeServiceCenter: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(load(ctx, loaders(ctx).Center, id))
	},
	TypeResident: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Registry.Get(ctx, id))
	},
	TypeStaffUser: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Auth.StaffUser(ctx, id))
	},
	TypeDuplicateCandidate: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		m, err := r.Registry.CandidatesByIDs(ctx, []uuid.UUID{id})
		if err != nil {
			return nil, err
		}
		return nodeResult(m[id], nil)
	},
	TypeResidentExport: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Registry.ResidentExport(ctx, id))
	},
	TypeWechatAccount: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Registry.WechatAccount(ctx, id))
	},
	TypeDisabilityCertificate: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Disability.Certificate(ctx, id))
	},
	TypeEmergencyDevice: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Emergency.Device(ctx, id))
	},
	TypeEmergencyCall: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Emergency.Call(ctx, id))
	},
	TypeDisabilityService: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Disability.ServiceRecord(ctx, id))
	},
	TypeDisabilitySubsidyRule: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Disability.Rule(ctx, id))
	},
	TypeProvider: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Vouchers.Provider(ctx, id))
	},
	TypeVoucherProgram: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Vouchers.Program(ctx, id))
	},
	TypeVoucher: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Vouchers.Voucher(ctx, id))
	},
	TypeIssuanceRun: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Vouchers.IssuanceRun(ctx, id))
	},
	TypeEnrollmentRun: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Vouchers.EnrollmentRun(ctx, id))
	},
	TypeRedemption: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Vouchers.Redemption(ctx, id))
	},
	TypeServiceItem: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.ApplicationService.Item(ctx, id))
	},
	TypeApplication: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.ApplicationService.Get(ctx, id))
	},
	TypeCareWorker: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Homecare.Worker(ctx, id))
	},
	TypeCarePriceItem: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Homecare.Item(ctx, id))
	},
	TypeServiceOrder: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Homecare.Order(ctx, id))
	},
	TypeResidentImport: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Registry.ResidentImport(ctx, id))
	},
	TypeHousehold: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Registry.GetHousehold(ctx, id))
	},
	TypeFactChangeRequest: func(r *Resolver, ctx context.Context, id uuid.UUID) (relay.Node, error) {
		return nodeResult(r.Registry.GetChange(ctx, id))
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

// nodeResult adapts a "one or nil" service result to a node fetcher's
// result without a typed nil inside the interface.
func nodeResult[T any](v *T, err error) (relay.Node, error) {
	if v == nil || err != nil {
		return nil, err
	}
	return v, nil
}
