package audit

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/auth"
)

// Entity names the kind of object an entry is about. Each is the GraphQL
// type name of that object, so an entry's entityId (the global ID built
// from entity and entity_id) resolves through node(id:) for a viewer
// allowed to see the object.
type Entity string

// The entities, one per GraphQL type the log records changes or reads of.
// Migration 00080 rewrote the rows written under older names.
const (
	EntityResident      Entity = "Resident"
	EntityWechatAccount Entity = "WechatAccount"
	EntityStaffUser     Entity = "StaffUser"

	EntityProvider       Entity = "Provider"
	EntityVoucherProgram Entity = "VoucherProgram"
	EntityRedemption     Entity = "Redemption"
	EntityIssuanceRun    Entity = "IssuanceRun"
	EntityEnrollmentRun  Entity = "EnrollmentRun"

	EntityEmergencyDevice Entity = "EmergencyDevice"
	EntityEmergencyCall   Entity = "EmergencyCall"

	EntityServiceItem Entity = "ServiceItem"
	EntityApplication Entity = "Application"
	// EntityCalendarDay is the one entity without a Node type: a calendar
	// day is a date, not an object with an id. Its entries have no
	// entityId; the date is in the detail. It is named after the GraphQL
	// enum CalendarDayKind and setCalendarDay, which it is about.
	EntityCalendarDay Entity = "CalendarDay"

	EntityDisabilityCertificate Entity = "DisabilityCertificate"
	EntityDisabilityService     Entity = "DisabilityService"
	EntityDisabilitySubsidyRule Entity = "DisabilitySubsidyRule"

	// EntityOrgUnit: the org tree's edits (org.graphqls);
	// EntityDuplicateCandidate: a likely-duplicate pair dismissed or merged;
	// EntityResidentExport: an XLSX export of a residents list.
	EntityOrgUnit            Entity = "OrgUnit"
	EntityDuplicateCandidate Entity = "DuplicateCandidate"
	EntityResidentExport     Entity = "ResidentExport"

	EntityCareWorker    Entity = "CareWorker"
	EntityCarePriceItem Entity = "CarePriceItem"
	EntityServiceOrder  Entity = "ServiceOrder"

	EntityResidentImport    Entity = "ResidentImport"
	EntityHousehold         Entity = "Household"
	EntityFactChangeRequest Entity = "FactChangeRequest"
)

// Entities lists every Entity, for tests that check each one resolves.
var Entities = []Entity{
	EntityResident, EntityWechatAccount, EntityStaffUser,
	EntityProvider, EntityVoucherProgram, EntityRedemption, EntityIssuanceRun, EntityEnrollmentRun,
	EntityEmergencyDevice, EntityEmergencyCall,
	EntityServiceItem, EntityApplication, EntityCalendarDay,
	EntityDisabilityCertificate, EntityDisabilityService, EntityDisabilitySubsidyRule,
	EntityCareWorker, EntityCarePriceItem, EntityServiceOrder,
	EntityResidentImport, EntityHousehold, EntityFactChangeRequest,
	EntityOrgUnit, EntityDuplicateCandidate, EntityResidentExport,
}

// Action names what happened. Each is the name of the GraphQL field that
// caused the entry (a mutation, a query, or for a read of a full number
// the object field read), so whoever reads the log finds the action in
// the API. Where one field does several things the detail says which
// (transitionApplication's "action", setStaffUserActive's "active",
// receiveEmergencyCall's "repeatAlarm").
type Action string

// The actions, grouped by the schema file of their field.
const (
	// identity.graphqls. refreshSession and logout record the session's
	// subject (StaffUser or WechatAccount) as the entity and the session
	// id in the detail: a session is no GraphQL type.
	ActionLogin              Action = "login"
	ActionWechatLogin        Action = "wechatLogin"
	ActionRefreshSession     Action = "refreshSession"
	ActionLogout             Action = "logout"
	ActionCreateStaffUser    Action = "createStaffUser"
	ActionSetStaffUserActive Action = "setStaffUserActive"
	// changePassword and resetPassword record the account whose password
	// changed (never the password); both ended every session of it.
	ActionChangePassword Action = "changePassword"
	ActionResetPassword  Action = "resetPassword"

	// resident.graphqls. ActionIDNumber is a read of Resident.idNumber
	// (the full number), one entry per resident read.
	ActionRegisterResident Action = "registerResident"
	ActionUpdateResident   Action = "updateResident"
	ActionBindResident     Action = "bindResident"
	// ActionUnbindWechatAccount is a counter unbinding a mini-program
	// account (entity WechatAccount; the resident and the reason in the
	// detail).
	ActionUnbindWechatAccount Action = "unbindWechatAccount"
	ActionResidentByIDNumber  Action = "residentByIdNumber"

	// family.graphqls: binding codes, proxies and notifications. Proxy
	// entries are about the resident (entity Resident); the link and the
	// proxy's account are in the detail, the actor is whoever acted, so
	// an entry names both identities. A proxy acting for a resident
	// elsewhere adds policy.Acting.Detail to that action's entry.
	ActionIssueBindingCode      Action = "issueBindingCode"
	ActionBindResidentWithCode  Action = "bindResidentWithCode"
	ActionCreateProxyInvitation Action = "createProxyInvitation"
	ActionAcceptProxyInvitation Action = "acceptProxyInvitation"
	ActionRevokeProxy           Action = "revokeProxy"
	ActionReportSubscribeGrants Action = "reportSubscribeGrants"
	ActionSetNotificationOptOut Action = "setNotificationOptOut"
	// recordDeath, recordMoveOut and undoDeath are about the Resident; the
	// detail names the life event and what it closed (or reopened).
	ActionRecordDeath   Action = "recordDeath"
	ActionRecordMoveOut Action = "recordMoveOut"
	ActionUndoDeath     Action = "undoDeath"
	// Households (户): each about the Household; the detail names the
	// member.
	ActionCreateHousehold       Action = "createHousehold"
	ActionAddHouseholdMember    Action = "addHouseholdMember"
	ActionRemoveHouseholdMember Action = "removeHouseholdMember"
	ActionChangeHouseholdHead   Action = "changeHouseholdHead"
	// Checked changes: each about the FactChangeRequest; an approval's
	// detail says what it applied.
	ActionRequestFactChange  Action = "requestFactChange"
	ActionApproveFactChange  Action = "approveFactChange"
	ActionRejectFactChange   Action = "rejectFactChange"
	ActionWithdrawFactChange Action = "withdrawFactChange"
	// The org tree (org.graphqls): about the OrgUnit; moveOrgUnit's detail
	// names the old and new path and the rows changed per table;
	// moveResidents is one entry per resident moved (entity Resident).
	ActionCreateOrgUnit Action = "createOrgUnit"
	ActionRenameOrgUnit Action = "renameOrgUnit"
	ActionRetireOrgUnit Action = "retireOrgUnit"
	ActionMoveOrgUnit   Action = "moveOrgUnit"
	ActionMoveResidents Action = "moveResidents"
	// Duplicates: findDuplicates is about its run's report (no entity id;
	// the run id in the detail); dismissDuplicate about the pair;
	// mergeResidents about the pair, what moved in the detail.
	ActionFindDuplicates   Action = "findDuplicates"
	ActionDismissDuplicate Action = "dismissDuplicate"
	ActionMergeResidents   Action = "mergeResidents"
	// exportResidents: one entry when asked (the filter), one when the file
	// is written (the row count).
	ActionExportResidents Action = "exportResidents"
	// ActionResidents is a residents list that looked residents up by a
	// phone or ID number (filter.phone, or filter.q holding one): how and
	// what came of it in the detail, never the number.
	ActionResidents Action = "residents"
	// ActionResident is a family proxy's read of the resident it acts for
	// (resident(id:), VIEW): the detail carries policy.Acting.Detail.
	ActionResident Action = "resident"
	ActionIDNumber Action = "idNumber"
	// ActionResidentImports is an upload to POST /imports/residents (a dry
	// run or a commit: "dryRun" in the detail, with the file's SHA-256 and
	// counts), about the ResidentImport it made; the imports are listed by
	// residentImports. A committed import's run adds one per resident it
	// inserted or updated (entity Resident, "import" and "outcome" in the
	// detail) and one when it ends ("status" and the counts), all in the
	// uploader's name.
	ActionResidentImports Action = "residentImports"

	// voucher.graphqls. redeemVoucher is written inside the redemption
	// statement itself (internal/voucher/redeem.go), its action and entity
	// bound from these constants.
	// issueVouchers and enrollResidents are about their run (IssuanceRun,
	// EnrollmentRun): one entry when it starts (or is joined: "joined" in
	// the detail), one by the system when it ends ("status").
	ActionRegisterProvider       Action = "registerProvider"
	ActionSetProviderStatus      Action = "setProviderStatus"
	ActionCreateVoucherProgram   Action = "createVoucherProgram"
	ActionActivateVoucherProgram Action = "activateVoucherProgram"
	ActionEnrollResident         Action = "enrollResident"
	ActionEnrollResidents        Action = "enrollResidents"
	ActionUnenrollResident       Action = "unenrollResident"
	ActionIssueVouchers          Action = "issueVouchers"
	ActionCreateRedemptionToken  Action = "createRedemptionToken"
	ActionRedeemVoucher          Action = "redeemVoucher"
	ActionReverseRedemption      Action = "reverseRedemption"
	ActionConfirmSettlement      Action = "confirmSettlement"

	// emergency.graphqls. A repeat alarm on an open call is also a
	// receiveEmergencyCall, with "repeatAlarm": true in the detail.
	ActionRegisterEmergencyDevice Action = "registerEmergencyDevice"
	ActionRecordDeviceHeartbeat   Action = "recordDeviceHeartbeat"
	ActionReceiveEmergencyCall    Action = "receiveEmergencyCall"
	ActionAnswerEmergencyCall     Action = "answerEmergencyCall"
	ActionDispatchEmergencyCall   Action = "dispatchEmergencyCall"
	ActionCloseEmergencyCall      Action = "closeEmergencyCall"
	// The alarm center's second round (issue #21). A DEVICE_FAULT call the
	// device job raises is a receiveEmergencyCall by SYSTEM with
	// "deviceFault" in the detail; one it closes a closeEmergencyCall.
	// careProfile is a read of Resident.careProfile (entity Resident), one
	// entry per profile read; revealContactNumber records the reason and
	// whose number, never the number.
	ActionRequestOutboundCall         Action = "requestOutboundCall"
	ActionRevealContactNumber         Action = "revealContactNumber"
	ActionRecordContactAttempt        Action = "recordContactAttempt"
	ActionRecordResponderArrival      Action = "recordResponderArrival"
	ActionReportEmergencyCallAnswered Action = "reportEmergencyCallAnswered"
	ActionSetCareProfile              Action = "setCareProfile"
	ActionCareProfile                 Action = "careProfile"
	ActionSetWelfareCheckInterval     Action = "setWelfareCheckInterval"
	ActionRecordWelfareCheck          Action = "recordWelfareCheck"
	ActionResolveWelfareEscalation    Action = "resolveWelfareEscalation"

	// application.graphqls.
	ActionUpsertServiceItem     Action = "upsertServiceItem"
	ActionSubmitApplication     Action = "submitApplication"
	ActionTransitionApplication Action = "transitionApplication"
	ActionSetCalendarDay        Action = "setCalendarDay"
	// ActionImportCalendarYear: one entry when the import commits, one by
	// the system when its deadline recomputation ends ("status").
	ActionImportCalendarYear Action = "importCalendarYear"
	// ActionNotices is a download of a written notice (PDF) of an
	// application, listed by Application.notices; the kind in the detail.
	ActionNotices Action = "notices"

	// disability.graphqls. ActionCertificateNumber is a read of
	// DisabilityCertificate.number (the full number).
	ActionRecordDisabilityCertificate Action = "recordDisabilityCertificate"
	ActionCertificateNumber           Action = "number"
	ActionUpsertDisabilitySubsidyRule Action = "upsertDisabilitySubsidyRule"
	ActionRequestDisabilityService    Action = "requestDisabilityService"
	ActionUpdateDisabilityService     Action = "updateDisabilityService"

	// homecare.graphqls. Service cards and home positions are about their
	// resident (entity Resident; the card number in the detail); a wrong
	// PIN is a confirmServiceOrderWithCard with "pinCorrect": false.
	ActionCreateCareWorker            Action = "createCareWorker"
	ActionUpdateCareWorker            Action = "updateCareWorker"
	ActionUpsertCarePriceItem         Action = "upsertCarePriceItem"
	ActionSetCareItemsOffered         Action = "setCareItemsOffered"
	ActionSetCareCap                  Action = "setCareCap"
	ActionSetResidentHome             Action = "setResidentHome"
	ActionIssueServiceCard            Action = "issueServiceCard"
	ActionReportServiceCardLost       Action = "reportServiceCardLost"
	ActionUnlockServiceCard           Action = "unlockServiceCard"
	ActionCreateServiceOrder          Action = "createServiceOrder"
	ActionAssignServiceOrder          Action = "assignServiceOrder"
	ActionCancelServiceOrder          Action = "cancelServiceOrder"
	ActionCheckInServiceOrder         Action = "checkInServiceOrder"
	ActionCheckOutServiceOrder        Action = "checkOutServiceOrder"
	ActionConfirmServiceOrderWithCard Action = "confirmServiceOrderWithCard"
	ActionConfirmServiceOrder         Action = "confirmServiceOrder"
	ActionRequestServiceOrderCode     Action = "requestServiceOrderCode"
	ActionConfirmServiceOrderWithCode Action = "confirmServiceOrderWithCode"
	ActionReviewServiceOrder          Action = "reviewServiceOrder"
	ActionDisputeServiceOrder         Action = "disputeServiceOrder"
	ActionResolveServiceOrderDispute  Action = "resolveServiceOrderDispute"
)

// Actions lists every Action, for tests that check each one is a field of
// the schema.
var Actions = []Action{
	ActionLogin, ActionWechatLogin, ActionRefreshSession, ActionLogout, ActionCreateStaffUser, ActionSetStaffUserActive,
	ActionChangePassword, ActionResetPassword,
	ActionRegisterResident, ActionUpdateResident, ActionBindResident, ActionUnbindWechatAccount, ActionResidentByIDNumber, ActionResidents, ActionIDNumber,
	ActionIssueBindingCode, ActionBindResidentWithCode, ActionCreateProxyInvitation, ActionAcceptProxyInvitation, ActionRevokeProxy,
	ActionReportSubscribeGrants, ActionSetNotificationOptOut,
	ActionRecordDeath, ActionRecordMoveOut, ActionUndoDeath, ActionResidentImports,
	ActionCreateHousehold, ActionAddHouseholdMember, ActionRemoveHouseholdMember, ActionChangeHouseholdHead,
	ActionRequestFactChange, ActionApproveFactChange, ActionRejectFactChange, ActionWithdrawFactChange,
	ActionCreateOrgUnit, ActionRenameOrgUnit, ActionRetireOrgUnit, ActionMoveOrgUnit, ActionMoveResidents,
	ActionFindDuplicates, ActionDismissDuplicate, ActionMergeResidents, ActionExportResidents,
	ActionRegisterProvider, ActionSetProviderStatus, ActionCreateVoucherProgram, ActionActivateVoucherProgram,
	ActionEnrollResident, ActionEnrollResidents, ActionUnenrollResident, ActionIssueVouchers, ActionCreateRedemptionToken, ActionRedeemVoucher, ActionReverseRedemption,
	ActionConfirmSettlement,
	ActionRegisterEmergencyDevice, ActionRecordDeviceHeartbeat, ActionReceiveEmergencyCall, ActionAnswerEmergencyCall,
	ActionDispatchEmergencyCall, ActionCloseEmergencyCall,
	ActionRequestOutboundCall, ActionRevealContactNumber, ActionRecordContactAttempt, ActionRecordResponderArrival,
	ActionReportEmergencyCallAnswered, ActionSetCareProfile, ActionCareProfile, ActionSetWelfareCheckInterval,
	ActionRecordWelfareCheck, ActionResolveWelfareEscalation,
	ActionUpsertServiceItem, ActionSubmitApplication, ActionTransitionApplication, ActionSetCalendarDay,
	ActionImportCalendarYear, ActionNotices,
	ActionRecordDisabilityCertificate, ActionCertificateNumber, ActionUpsertDisabilitySubsidyRule,
	ActionRequestDisabilityService, ActionUpdateDisabilityService,
	ActionCreateCareWorker, ActionUpdateCareWorker, ActionUpsertCarePriceItem, ActionSetCareItemsOffered, ActionSetCareCap,
	ActionSetResidentHome, ActionIssueServiceCard, ActionReportServiceCardLost, ActionUnlockServiceCard,
	ActionCreateServiceOrder, ActionAssignServiceOrder, ActionCancelServiceOrder, ActionCheckInServiceOrder,
	ActionCheckOutServiceOrder, ActionConfirmServiceOrderWithCard, ActionConfirmServiceOrder, ActionReviewServiceOrder,
	ActionDisputeServiceOrder, ActionResolveServiceOrderDispute, ActionRequestServiceOrderCode, ActionConfirmServiceOrderWithCode,
}

// AuthHook records a step of the auth service (auth.Service.Audit): it
// names the step, and the subject is a StaffUser or a WechatAccount.
func AuthHook(ctx context.Context, tx *gorm.DB, e auth.AuditEvent, kind auth.SubjectKind, id uuid.UUID, detail map[string]any) error {
	action, ok := authActions[e]
	if !ok {
		return fmt.Errorf("audit: unknown auth event %d", e)
	}
	entity := EntityStaffUser
	if kind == auth.SubjectWechat {
		entity = EntityWechatAccount
	}
	return Record(ctx, tx, action, entity, &id, detail)
}

var authActions = map[auth.AuditEvent]Action{
	auth.AuditLogin:              ActionLogin,
	auth.AuditRefreshSession:     ActionRefreshSession,
	auth.AuditLogout:             ActionLogout,
	auth.AuditCreateStaffUser:    ActionCreateStaffUser,
	auth.AuditSetStaffUserActive: ActionSetStaffUserActive,
	auth.AuditChangePassword:     ActionChangePassword,
	auth.AuditResetPassword:      ActionResetPassword,
}
