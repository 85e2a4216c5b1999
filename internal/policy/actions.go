package policy

// Action is something a viewer may be allowed to do. Reads of records
// about residents are actions too: their reach is the viewer's
// jurisdiction over those records.
type Action string

// The actions, by domain. Each says what it allows in the README's words.
const (
	// Registry.
	ReadResident     Action = "readResident"
	ReadFullIDNumber Action = "readFullIdNumber"
	ListResidents    Action = "listResidents"
	LookUpByIDNumber Action = "residentByIdNumber"
	EditResident     Action = "editResident"
	BindResident     Action = "bindResident"
	// ReadWechatBindings and UnbindWechatAccount are the counter's view of
	// the mini-program accounts bound to a resident, and its remedy.
	ReadWechatBindings  Action = "readWechatBindings"
	UnbindWechatAccount Action = "unbindWechatAccount"
	// IssueBindingCode is a counter issuing a single-use binding code to
	// a resident whose ID card the clerk checked in person.
	IssueBindingCode Action = "issueBindingCode"
	// ManageProxies is a counter recording a family proxy's consent (the
	// elder present) and revoking links.
	ManageProxies Action = "manageProxies"
	// ReadNotificationDeliveries is the delivery status of notifications,
	// masked.
	ReadNotificationDeliveries Action = "readNotificationDeliveries"
	// RecordLifeEvent records a move out of the district, which closes the
	// resident's vouchers, enrollments, services, applications and
	// devices. A death closes the same, but is a benefit-deciding fact: it
	// goes through a checked change (RequestFactChange, ReviewFactChange),
	// and RecordDeath, the direct report, is left to the ADMIN. UndoDeath
	// takes back a mistaken death within 30 days.
	RecordLifeEvent Action = "recordLifeEvent"
	RecordDeath     Action = "recordDeath"
	UndoDeath       Action = "undoDeath"
	// ImportResidents uploads a file of residents (POST /imports/residents):
	// every row's place, and every resident it updates, inside the reach.
	// ReadResidentImports follows imports started inside the reach.
	ImportResidents     Action = "importResidents"
	ReadResidentImports Action = "readResidentImports"
	// ReadHouseholds and ManageHouseholds are households (户): reading and
	// searching them, creating them and changing their members and head.
	// Their reach is the household's community.
	ReadHouseholds   Action = "readHouseholds"
	ManageHouseholds Action = "manageHouseholds"
	// RequestFactChange makes a change request of a benefit-deciding fact
	// (statuses, care level, a household's statuses, a death);
	// ReviewFactChange approves or rejects one made by someone else;
	// ReadFactChanges reads requests and the review queue.
	RequestFactChange Action = "requestFactChange"
	ReviewFactChange  Action = "reviewFactChange"
	ReadFactChanges   Action = "readFactChanges"
	// ManageOrgTree adds, renames, retires and moves communities and grids
	// and moves residents between them (internal/org).
	ManageOrgTree Action = "manageOrgTree"
	// ReviewDuplicates lists likely duplicate residents and dismisses or
	// merges them; FindDuplicates starts the report that finds them.
	ReviewDuplicates Action = "reviewDuplicates"
	FindDuplicates   Action = "findDuplicates"
	ReadDuplicates   Action = "readDuplicates"
	// ExportResidents exports a residents list to XLSX, masked as the
	// viewer sees it.
	ExportResidents Action = "exportResidents"

	// Vouchers.
	ReadVouchers          Action = "readVouchers"
	ReadRedemptions       Action = "readRedemptions"
	EnrollResident        Action = "enrollResident"
	CreateRedemptionToken Action = "createRedemptionToken"
	RedeemVoucher         Action = "redeemVoucher"
	ReverseRedemption     Action = "reverseRedemption"
	ReadSettlements       Action = "readSettlements"
	ConfirmSettlement     Action = "confirmSettlement"
	ReadProviders         Action = "readProviders"
	ManageProviders       Action = "manageProviders"
	ManagePrograms        Action = "managePrograms"
	IssueVouchers         Action = "issueVouchers"
	BackfillVouchers      Action = "backfillVouchers"
	ReadVoucherRuns       Action = "readVoucherRuns"

	// Home-care visits (internal/homecare).
	ManageCareWorkers   Action = "manageCareWorkers"
	ManagePriceList     Action = "managePriceList"
	OfferCareItems      Action = "offerCareItems"
	ManageServiceCards  Action = "manageServiceCards"
	ReadServiceOrders   Action = "readServiceOrders"
	ReadAssignedOrders  Action = "readAssignedOrders"
	CreateServiceOrder  Action = "createServiceOrder"
	AssignServiceOrder  Action = "assignServiceOrder"
	CancelServiceOrder  Action = "cancelServiceOrder"
	PerformVisit        Action = "performVisit"
	ConfirmVisit        Action = "confirmVisit"
	ReviewVisits        Action = "reviewVisits"
	DisputeVisit        Action = "disputeVisit"
	ResolveVisitDispute Action = "resolveVisitDispute"

	// Applications (一站受理、全区通办).
	ReadApplications            Action = "readApplications"
	SubmitApplication           Action = "submitApplication"
	TakeDistrictWideApplication Action = "takeDistrictWideApplication"
	HandleApplication           Action = "handleApplication"
	ResubmitApplication         Action = "resubmitApplication"
	WithdrawApplication         Action = "withdrawApplication"
	DecideApplication           Action = "decideApplication"
	ExtendApplication           Action = "extendApplication"
	ReadApplicationStats        Action = "readApplicationStats"
	ManageCatalog               Action = "manageCatalog"
	ManageCalendar              Action = "manageCalendar"

	// Disability services.
	ReadDisability           Action = "readDisability"
	RecordCertificate        Action = "recordCertificate"
	RequestDisabilityService Action = "requestDisabilityService"
	UpdateDisabilityService  Action = "updateDisabilityService"
	ReadSubsidies            Action = "readSubsidies"
	ManageSubsidyRules       Action = "manageSubsidyRules"

	// 长者通 emergency calls.
	ReadEmergencyCalls   Action = "readEmergencyCalls"
	RegisterDevice       Action = "registerDevice"
	DeviceHeartbeat      Action = "deviceHeartbeat"
	ReceiveEmergencyCall Action = "receiveEmergencyCall"
	// ReceiveCallManually is an operator typing in a call the telephony
	// system did not report: the same intake, throttled per operator and
	// audited with what the caller number matched.
	ReceiveCallManually Action = "receiveEmergencyCallManually"
	HandleEmergencyCall Action = "handleEmergencyCall"
	WatchBoard          Action = "watchBoard"
	// RequestOutboundCall asks the telephony system to call a resident or
	// contact back during an open call: the number goes to the telephony
	// system, never to the screen.
	RequestOutboundCall Action = "requestOutboundCall"
	// RevealContactNumber shows one full number during an open call, with
	// a reason, audited and throttled per operator.
	RevealContactNumber Action = "revealContactNumber"
	// ReadCareProfile is the case worker's read of the care profiles of
	// their residents; ReadCareProfileDuringCall an operator's read, only
	// while a call of that resident is open (MayReadCareProfile).
	ReadCareProfile           Action = "readCareProfile"
	ReadCareProfileDuringCall Action = "readCareProfileDuringCall"
	EditCareProfile           Action = "editCareProfile"
	// Welfare calls to elders living alone or with an empty nest.
	ScheduleWelfareChecks    Action = "scheduleWelfareChecks"
	PerformWelfareChecks     Action = "performWelfareChecks"
	HandleWelfareEscalations Action = "handleWelfareEscalations"

	// Staff and oversight.
	ManageStaff       Action = "manageStaff"
	ResetPassword     Action = "resetPassword"
	ChangeOwnPassword Action = "changePassword"
	ReadStaff         Action = "readStaff"
	ReadAuditLog      Action = "readAuditLog"
)

// Actions lists every action in the order the role table prints them,
// with the words it uses.
var Actions = []struct {
	Action Action
	Says   string
}{
	{ReadResident, "read resident records"},
	{ReadFullIDNumber, "read full ID numbers"},
	{ListResidents, "list and search residents"},
	{LookUpByIDNumber, "look residents up by ID number (audited, throttled)"},
	{EditResident, "register and edit residents"},
	{BindResident, "bind their mini-program account to their record"},
	{ReadWechatBindings, "list the mini-program accounts bound to a resident"},
	{UnbindWechatAccount, "unbind a mini-program account from a resident (audited; ends its sessions)"},
	{IssueBindingCode, "issue binding codes at the counter (ID card checked in person; single use, 24 hours)"},
	{ManageProxies, "record family proxies' consent at the counter and revoke proxy links"},
	{ReadNotificationDeliveries, "read notifications' delivery status (masked)"},
	{RecordLifeEvent, "record a move out of the district (closes vouchers, enrollments, services, applications, devices)"},
	{RecordDeath, "record a death directly, without a checked change (closes what a move out closes)"},
	{UndoDeath, "undo a death recorded by mistake, within 30 days (audited)"},
	{ImportResidents, "import residents from an XLSX or CSV file (insert or update by ID number; statuses and care level only for new residents)"},
	{ReadResidentImports, "follow resident imports and read their row problems"},
	{ReadHouseholds, "read and search households (户)"},
	{ManageHouseholds, "create households, add and remove members, change the head (audited)"},
	{RequestFactChange, "request a checked change of statuses, care level, a household's statuses or a death, with evidence"},
	{ReviewFactChange, "approve or reject someone else's change request (approval applies it)"},
	{ReadFactChanges, "read change requests and the review queue"},
	{ManageOrgTree, "add, rename, retire and move communities and grids; move residents between them (audited)"},
	{FindDuplicates, "run the likely-duplicates report"},
	{ReadDuplicates, "list likely duplicate residents"},
	{ReviewDuplicates, "dismiss likely duplicates or merge them (audited)"},
	{ExportResidents, "export a residents list to XLSX, masked as they see it (audited)"},
	{ReadVouchers, "read vouchers and balances"},
	{ReadRedemptions, "read redemptions"},
	{EnrollResident, "enroll residents in voucher programs"},
	{CreateRedemptionToken, "create redemption tokens"},
	{RedeemVoucher, "redeem vouchers"},
	{ReverseRedemption, "reverse redemptions"},
	{ReadSettlements, "read settlements"},
	{ConfirmSettlement, "confirm settlements"},
	{ReadProviders, "read care providers"},
	{ManageProviders, "register and suspend care providers"},
	{ManagePrograms, "create and activate voucher programs"},
	{IssueVouchers, "issue the month's vouchers"},
	{BackfillVouchers, "issue vouchers for a past or later period (audited)"},
	{ReadVoucherRuns, "follow issuance and enrollment runs"},
	{ManageCareWorkers, "create, edit and deactivate their provider's care workers (deactivation ends their sessions)"},
	{ManagePriceList, "set the home-care price list and per-resident caps"},
	{OfferCareItems, "say which price-list items their provider offers"},
	{ManageServiceCards, "issue, unlock and replace elder service cards; record home positions"},
	{ReadServiceOrders, "read home-care service orders"},
	{ReadAssignedOrders, "read the service orders assigned to them"},
	{CreateServiceOrder, "create home-care service orders"},
	{AssignServiceOrder, "assign service orders to care workers"},
	{CancelServiceOrder, "cancel service orders before the visit"},
	{PerformVisit, "check in and out of visits and take the elder's confirmation (service card and PIN, or a one-time SMS code)"},
	{ConfirmVisit, "confirm a visit in the mini-program"},
	{ReviewVisits, "review visits held for anomalies (clear or reverse)"},
	{DisputeVisit, "dispute a paid visit within 30 days"},
	{ResolveVisitDispute, "uphold or dismiss visit disputes"},
	{ReadApplications, "read applications"},
	{SubmitApplication, "submit applications"},
	{TakeDistrictWideApplication, "take in district-wide applications at any center (全区通办)"},
	{HandleApplication, "take in and handle applications (accept, request supplements, reject, complete)"},
	{ResubmitApplication, "resubmit applications with supplements"},
	{WithdrawApplication, "withdraw applications"},
	{DecideApplication, "review and decide applications"},
	{ExtendApplication, "extend an application's deadline"},
	{ReadApplicationStats, "read application statistics"},
	{ManageCatalog, "manage the service catalog"},
	{ManageCalendar, "manage the holiday calendar"},
	{ReadDisability, "read disability certificates and services"},
	{RecordCertificate, "record disability certificates"},
	{RequestDisabilityService, "request disability services"},
	{UpdateDisabilityService, "update disability services"},
	{ReadSubsidies, "read subsidy eligibility"},
	{ManageSubsidyRules, "set the subsidy rules"},
	{ReadEmergencyCalls, "read emergency calls and devices"},
	{RegisterDevice, "register emergency devices"},
	{DeviceHeartbeat, "report device heartbeats"},
	{ReceiveEmergencyCall, "report incoming emergency calls"},
	{ReceiveCallManually, "take in emergency calls by hand (throttled, audited with the caller's match)"},
	{HandleEmergencyCall, "answer, dispatch and close emergency calls"},
	{WatchBoard, "watch the live board"},
	{RequestOutboundCall, "have the telephony system call a resident or contact back (number not shown)"},
	{RevealContactNumber, "reveal one full number during an open call (reason, audited, throttled)"},
	{ReadCareProfile, "read care profiles (audited)"},
	{ReadCareProfileDuringCall, "read a care profile while a call of that resident is open (audited)"},
	{EditCareProfile, "write care profiles"},
	{ScheduleWelfareChecks, "set how often elders get a welfare call"},
	{PerformWelfareChecks, "work the welfare-call list and record outcomes"},
	{HandleWelfareEscalations, "read and resolve welfare escalations"},
	{ManageStaff, "manage staff accounts"},
	{ResetPassword, "reset other accounts' passwords (ending their sessions)"},
	{ChangeOwnPassword, "change their own password"},
	{ReadStaff, "read staff and mini-program accounts"},
	{ReadAuditLog, "read the audit log"},
}
