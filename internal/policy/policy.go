// Package policy is the one place that says who may do what: for each role,
// the actions it may take and how far each reaches (the whole district, an
// org-unit subtree, the viewer's own resident record, the residents a
// provider has served). Domain services ask it; none of them names a role.
//
// To add a role: its constant in internal/auth, its row in grants below, its
// line in the README's role table (TestREADMERoleTable prints the table the
// policy implies), and the seed's demo account if it needs one.
package policy

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/problem"
)

// Reach is how far a grant extends over residents and the records about
// them, ordered from nothing to everything.
type Reach int

const (
	// None: the action is not allowed.
	None Reach = iota
	// Own: the viewer's own care provider's records (its redemptions,
	// settlements, its provider record).
	Own
	// Served: residents the viewer's care provider has served.
	Served
	// Self: the viewer's own resident record (a bound mini-program account).
	Self
	// Subtree: residents in the viewer's org unit or below it.
	Subtree
	// District: every resident of the district.
	District
)

// Everywhere is for actions that concern no resident (managing programs,
// reading the audit log): any grant of them reaches everything.
const Everywhere = District

// grants is the policy: per role, the actions it may take and their reach.
// A viewer with several roles gets, per action, the widest of its roles'
// reaches. Keep the README's "Who may do what" in step (a test compares).
var grants = map[auth.Role]map[Action]Reach{
	auth.Resident: {
		ReadResident: Self, ReadFullIDNumber: Self, ReadVouchers: Self, ReadRedemptions: Self, CreateRedemptionToken: Self,
		ReadApplications: Self, SubmitApplication: Self, ResubmitApplication: Self, WithdrawApplication: Self,
		ReadDisability: Self, RequestDisabilityService: Self, ReadEmergencyCalls: Self,
		BindResident:      Self,
		ReadServiceOrders: Self, CreateServiceOrder: Self, CancelServiceOrder: Self, ConfirmVisit: Self, DisputeVisit: Self,
	},
	auth.Clerk: {
		ReadResident: District, ReadFullIDNumber: District, ListResidents: District, LookUpByIDNumber: District,
		EditResident: District, ExportResidents: District, ReadVouchers: District, ReadRedemptions: District, CreateRedemptionToken: District, ReadProviders: District,
		ReadApplications: District, SubmitApplication: District, TakeDistrictWideApplication: District,
		HandleApplication: Subtree, ResubmitApplication: Subtree, WithdrawApplication: Subtree,
		ReadApplicationStats: District,
		ReadDisability:       District, RequestDisabilityService: District, UpdateDisabilityService: District,
		ReadSubsidies: District, ReadWechatBindings: District, UnbindWechatAccount: District,
		ManageServiceCards: District, ReadServiceOrders: District, CreateServiceOrder: District, CancelServiceOrder: District,
		IssueBindingCode: District, ManageProxies: District, ReadNotificationDeliveries: District,
		ReadHouseholds: District, ManageHouseholds: District, RequestFactChange: District, ReadFactChanges: District,
		ChangeOwnPassword: Everywhere,
		// A clerk registers anywhere one at a time (the person is at the
		// counter), but a file of many is their own unit's.
		ImportResidents: Subtree, ReadResidentImports: Subtree,
	},
	auth.CaseWorker: {
		ReadResident: Subtree, ReadFullIDNumber: Subtree, ListResidents: Subtree, LookUpByIDNumber: District,
		EditResident: Subtree, RecordLifeEvent: Subtree, ReadDuplicates: Subtree, ReviewDuplicates: Subtree, ExportResidents: Subtree, EnrollResident: Subtree, ReadVoucherRuns: Subtree, ReadVouchers: Subtree, ReadRedemptions: Subtree, CreateRedemptionToken: Subtree,
		ReadProviders:    District,
		ReadApplications: Subtree, SubmitApplication: District, HandleApplication: Subtree,
		ResubmitApplication: Subtree, DecideApplication: Subtree, ReadApplicationStats: Subtree,
		ReadDisability: Subtree, RecordCertificate: Subtree, RequestDisabilityService: Subtree,
		UpdateDisabilityService: Subtree, ReadSubsidies: District,
		ReadEmergencyCalls: Subtree, RegisterDevice: Subtree, WatchBoard: Subtree,
		ReadCareProfile: Subtree, EditCareProfile: Subtree, ScheduleWelfareChecks: Subtree, HandleWelfareEscalations: Subtree,
		ReadWechatBindings: Subtree, UnbindWechatAccount: Subtree,
		ManageServiceCards: Subtree, ReadServiceOrders: Subtree, CreateServiceOrder: Subtree, CancelServiceOrder: Subtree,
		ReviewVisits: Subtree, ResolveVisitDispute: Subtree,
		IssueBindingCode: Subtree, ManageProxies: Subtree, ReadNotificationDeliveries: Subtree,
		ReadHouseholds: Subtree, ManageHouseholds: Subtree, RequestFactChange: Subtree, ReviewFactChange: Subtree, ReadFactChanges: Subtree,
		ChangeOwnPassword: Everywhere,
		ImportResidents:   Subtree, ReadResidentImports: Subtree,
	},
	auth.Operator: {
		ReadResident: District, ListResidents: District, LookUpByIDNumber: District,
		ReadVouchers: District, ReadRedemptions: District, ReadProviders: District, ReadDisability: District,
		ReadEmergencyCalls: District, RegisterDevice: District, ReceiveCallManually: District,
		HandleEmergencyCall: District, WatchBoard: District,
		RequestOutboundCall: District, RevealContactNumber: District, ReadCareProfileDuringCall: District,
		ScheduleWelfareChecks: District, PerformWelfareChecks: District,
		ReadHouseholds:    District,
		ChangeOwnPassword: Everywhere,
	},
	auth.Provider: {
		ReadResident: Served, RedeemVoucher: Own, ReadRedemptions: Own, ReverseRedemption: Own, ReadSettlements: Own,
		ReadProviders: Own, UpdateDisabilityService: Own,
		ManageCareWorkers: Own, OfferCareItems: Own, ReadServiceOrders: Own, CreateServiceOrder: Own, AssignServiceOrder: Own,
		CancelServiceOrder: Own,
		ChangeOwnPassword:  Everywhere,
	},
	auth.Admin: {
		ReadResident: District, ReadFullIDNumber: District, ListResidents: District, LookUpByIDNumber: District,
		EditResident: District, EnrollResident: District, ReadVouchers: District, ReadRedemptions: District, ReadProviders: District,
		RecordLifeEvent: District, RecordDeath: District, UndoDeath: District, ManageOrgTree: Everywhere,
		ReadHouseholds: District, ManageHouseholds: District, ReviewFactChange: District, ReadFactChanges: District,
		FindDuplicates: Everywhere, ReadDuplicates: District, ReviewDuplicates: District, ExportResidents: District,
		ManagePrograms: Everywhere, ManageProviders: Everywhere, IssueVouchers: Everywhere, BackfillVouchers: Everywhere,
		ReadVoucherRuns:   District,
		ReverseRedemption: District, ReadSettlements: District, ConfirmSettlement: Everywhere,
		ReadApplications: District, SubmitApplication: District, TakeDistrictWideApplication: District,
		HandleApplication: District, ResubmitApplication: District, WithdrawApplication: District,
		DecideApplication: District, ExtendApplication: District, ReadApplicationStats: District,
		ManageCatalog: Everywhere, ManageCalendar: Everywhere,
		ReadDisability: District, RecordCertificate: District, RequestDisabilityService: District,
		UpdateDisabilityService: District, ReadSubsidies: District, ManageSubsidyRules: Everywhere,
		ReadEmergencyCalls: District, RegisterDevice: District, HandleEmergencyCall: District, WatchBoard: District,
		ScheduleWelfareChecks: District, HandleWelfareEscalations: District,
		ManageStaff: Everywhere, ResetPassword: Everywhere, ReadStaff: Everywhere, ReadAuditLog: Everywhere,
		ReadWechatBindings: District, UnbindWechatAccount: District,
		ManageCareWorkers: Everywhere, ManagePriceList: Everywhere, ManageServiceCards: District, ReadServiceOrders: District,
		CreateServiceOrder: District, CancelServiceOrder: District, ReviewVisits: District, ResolveVisitDispute: District,
		IssueBindingCode: District, ManageProxies: District, ReadNotificationDeliveries: District,
		ChangeOwnPassword: Everywhere,
		ImportResidents:   District, ReadResidentImports: District,
	},
	auth.Auditor: {
		ReadResident: District, ListResidents: District, LookUpByIDNumber: District, ExportResidents: District, ReadDuplicates: District,
		ReadVouchers: District, ReadRedemptions: District, ReadProviders: District, ReadSettlements: District, ReadVoucherRuns: District,
		ReadApplications: District, ReadApplicationStats: District,
		ReadDisability: District, ReadSubsidies: District, ReadEmergencyCalls: District,
		ReadStaff: Everywhere, ReadAuditLog: Everywhere,
		ReadWechatBindings: District, ReadServiceOrders: District,
		ReadNotificationDeliveries: District,
		ReadHouseholds:             District, ReadFactChanges: District,
		ChangeOwnPassword:   Everywhere,
		ReadResidentImports: District,
	},
	auth.Integration: {
		ReceiveEmergencyCall: District, DeviceHeartbeat: District,
		ChangeOwnPassword: Everywhere,
	},
	// A care worker reads only the orders assigned to them (the homecare
	// domain filters by worker) and works them; nothing else.
	auth.CareWorker: {
		ReadAssignedOrders: Own, PerformVisit: Own, ReadProviders: Own,
		ChangeOwnPassword: Everywhere,
	},
}

// ReachOf is how far v may take action a: the widest over v's roles.
// A nil viewer reaches nothing.
func ReachOf(v *auth.Viewer, a Action) Reach {
	if v == nil {
		return None
	}
	best := None
	for _, r := range v.Roles {
		if g := grants[r][a]; g > best {
			best = g
		}
	}
	return best
}

// Allowed reports whether v may take action a anywhere at all.
func Allowed(v *auth.Viewer, a Action) bool { return ReachOf(v, a) > None }

// RolesMay reports whether an account holding roles may take action a
// anywhere: for accounts that are not the viewer (the worker an order is
// assigned to must be one who performs visits).
func RolesMay(roles []auth.Role, a Action) bool {
	return ReachOf(&auth.Viewer{Roles: roles}, a) > None
}

// VisitStaffRole is the role of the accounts a provider creates for its
// field staff (ManageCareWorkers): one accountable login per care worker.
const VisitStaffRole = auth.CareWorker

// Require returns the viewer when it may take action a somewhere:
// ErrUnauthenticated without a session, ErrForbidden otherwise.
func Require(ctx context.Context, a Action) (*auth.Viewer, error) {
	v := auth.ViewerFrom(ctx)
	if v == nil {
		return nil, problem.ErrUnauthenticated
	}
	if !Allowed(v, a) {
		return nil, problem.Forbidden("your role does not allow this")
	}
	return v, nil
}

// Subject is the resident an action is about: its id and its org-unit
// path. Served answers, when asked, whether the viewer's provider has
// served the resident (it needs the database, so it is asked last and only
// for provider viewers); nil means no.
type Subject struct {
	ID      uuid.UUID
	OrgPath string
	Served  func() (bool, error)
}

// On reports whether v may take action a on subject s. The reaches that
// need no database (district, subtree, self) are tried first; Served is
// asked only when one of v's roles grants a to served residents alone.
func On(v *auth.Viewer, a Action, s Subject) (bool, error) {
	if v == nil {
		return false, nil
	}
	served := false
	for _, r := range v.Roles {
		g := grants[r][a]
		if reaches(v, g, s) {
			return true, nil
		}
		served = served || g == Served
	}
	if served && s.Served != nil && v.ProviderID != nil {
		return s.Served()
	}
	return false, nil
}

// reaches decides the reaches that need no database: district, subtree
// and self.
func reaches(v *auth.Viewer, g Reach, s Subject) bool {
	switch g {
	case District:
		return true
	case Subtree:
		return v.OrgPath != "" && s.OrgPath != "" && strings.HasPrefix(s.OrgPath, v.OrgPath)
	case Self:
		return IsSelf(v, s.ID)
	}
	return false
}

// IsSelf reports whether v is the resident id's own bound mini-program
// account. Self is only ever a WeChat session bound to that record: a staff
// account never acts as a resident.
func IsSelf(v *auth.Viewer, id uuid.UUID) bool {
	return v != nil && v.Kind == auth.SubjectWechat && v.ResidentID != nil && *v.ResidentID == id
}

// RequireOn returns the viewer when it may take action a on subject s:
// ErrUnauthenticated without a session, ErrForbidden for a role that never
// may, and ErrForbidden "outside your jurisdiction" for one that may
// elsewhere.
func RequireOn(ctx context.Context, a Action, s Subject) (*auth.Viewer, error) {
	v, err := Require(ctx, a)
	if err != nil {
		return nil, err
	}
	ok, err := On(v, a, s)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, problem.Forbidden("outside your jurisdiction")
	}
	return v, nil
}

// OutOfJurisdiction is the userError a mutation answers when the viewer's
// role may take the action, but not on this resident or into this unit.
func OutOfJurisdiction(field ...string) error {
	return problem.New(problem.OutOfJurisdiction, "该居民或社区不在您的辖区内 (outside your jurisdiction)", field...)
}

// MayReadCareProfile decides the care profile rule: the resident's case
// worker (a grant reaching the resident), or an operator while a call of
// that resident is open (openCall is asked only then). A care profile is
// medical and household detail, so no other reach reads it.
func MayReadCareProfile(v *auth.Viewer, s Subject, openCall func() (bool, error)) (bool, error) {
	if ok, err := On(v, ReadCareProfile, s); ok || err != nil {
		return ok, err
	}
	if ok, err := On(v, ReadCareProfileDuringCall, s); !ok || err != nil {
		return false, err
	}
	return openCall()
}
