// Package emergency is the 长者通 alarm-receiving center: call boxes and
// wearables bound to residents, calls received from the telephony system,
// answered, dispatched and closed by operators, answer-time statistics, and
// a live board fed through Redis pub/sub so every instance sees every change.
package emergency

import (
	"time"

	"github.com/google/uuid"
)

// DeviceKind is the kind of alarm device.
type DeviceKind string

// Device kinds.
const (
	ButtonBox  DeviceKind = "BUTTON_BOX"
	Wearable   DeviceKind = "WEARABLE"
	FixedPhone DeviceKind = "FIXED_PHONE"
	Sensor     DeviceKind = "SENSOR"
)

// CallKind says how a call came in.
type CallKind string

// Call kinds.
const (
	AlarmButton  CallKind = "ALARM_BUTTON"
	FallDetected CallKind = "FALL_DETECTED"
	VoiceCall    CallKind = "VOICE_CALL"
	DeviceFault  CallKind = "DEVICE_FAULT"
)

// Status is where a call stands.
type Status string

// Call statuses.
const (
	Received   Status = "RECEIVED"
	Answered   Status = "ANSWERED"
	Dispatched Status = "DISPATCHED"
	Closed     Status = "CLOSED"
)

// Category is what a call turned out to be about (set when closing).
type Category string

// Call categories.
const (
	Medical          Category = "MEDICAL"
	Fall             Category = "FALL"
	Fire             Category = "FIRE"
	Security         Category = "SECURITY"
	EmotionalSupport Category = "EMOTIONAL_SUPPORT"
	Information      Category = "INFORMATION"
	FalseAlarm       Category = "FALSE_ALARM"
	Other            Category = "OTHER"
)

// ResponderKind is who was sent.
type ResponderKind string

// Responder kinds.
const (
	Family          ResponderKind = "FAMILY"
	CommunityWorker ResponderKind = "COMMUNITY_WORKER"
	CareProvider    ResponderKind = "CARE_PROVIDER"
	Ambulance120    ResponderKind = "AMBULANCE_120"
	Police110       ResponderKind = "POLICE_110"
	Fire119         ResponderKind = "FIRE_119"
)

// Action is a handling step.
type Action string

// Handling steps.
const (
	ActAnswer   Action = "ANSWER"
	ActDispatch Action = "DISPATCH"
	ActClose    Action = "CLOSE"
)

// transitions is the whole workflow: status moves forward only. A
// dispatch may repeat (several responders); ANSWERED may close directly.
var transitions = map[Status]map[Action]Status{
	Received:   {ActAnswer: Answered},
	Answered:   {ActDispatch: Dispatched, ActClose: Closed},
	Dispatched: {ActDispatch: Dispatched, ActClose: Closed},
}

// Next returns the status an action leads to from s, or false when the move
// is not allowed.
func Next(s Status, a Action) (Status, bool) {
	to, ok := transitions[s][a]
	return to, ok
}

// Event kinds appended to a call's trail.
const (
	EventReceived    = "RECEIVED"
	EventRepeatAlarm = "REPEAT_ALARM"
	EventAnswered    = "ANSWERED"
	EventDispatched  = "DISPATCHED"
	EventClosed      = "CLOSED"
	// The second round (issue #21).
	EventContactAttempt    = "CONTACT_ATTEMPT"
	EventCallbackRequested = "CALLBACK_REQUESTED"
	EventCallbackDelivered = "CALLBACK_DELIVERED"
	EventCallbackFailed    = "CALLBACK_FAILED"
	EventNumberRevealed    = "NUMBER_REVEALED"
	EventResponderArrived  = "RESPONDER_ARRIVED"
	EventTelephonyAnswered = "TELEPHONY_ANSWERED"
	EventDeviceRecovered   = "DEVICE_RECOVERED"
)

// ContactOutcome is how an attempt to reach someone went.
type ContactOutcome string

// Contact outcomes.
const (
	ContactAnswered    ContactOutcome = "ANSWERED"
	ContactNoAnswer    ContactOutcome = "NO_ANSWER"
	ContactBusy        ContactOutcome = "BUSY"
	ContactWrongNumber ContactOutcome = "WRONG_NUMBER"
)

// CallbackTarget is whom an outbound call or a revealed number is for.
type CallbackTarget string

// Callback targets.
const (
	TargetResident CallbackTarget = "RESIDENT"
	TargetContact  CallbackTarget = "CONTACT"
)

// RepeatWindow is how long after an open call a new alarm from the same
// device is attached to it instead of opening a second call.
const RepeatWindow = 30 * time.Minute

// Device is an alarm device bound to a resident.
type Device struct {
	ID              uuid.UUID
	Serial          string
	Kind            DeviceKind
	ResidentID      uuid.UUID
	LastHeartbeatAt *time.Time
	BatteryPercent  *int
	// HeartbeatIntervalSeconds is how often the device reports; silent
	// beyond it (SilentAfter) raises a DEVICE_FAULT call.
	HeartbeatIntervalSeconds int
	SilentAfter              time.Time
	// FaultOpen says a technical-alarm episode is open for the device.
	FaultOpen bool
	// OrgPath is the resident's org path (for authorization).
	OrgPath string
}

// Event is one step in a call's trail.
type Event struct {
	At     time.Time
	Kind   string
	Actor  *string
	Detail *string
	// ContactWhom and ContactOutcome are set on CONTACT_ATTEMPT events.
	ContactWhom    *string
	ContactOutcome *ContactOutcome
}

// Call is one emergency call.
type Call struct {
	ID                 uuid.UUID
	ExternalCallID     string
	ResidentID         *uuid.UUID
	DeviceID           *uuid.UUID
	OrgPath            string
	CallerNumberMasked *string
	Kind               CallKind
	Category           *Category
	Status             Status
	ReceivedAt         time.Time
	AnsweredAt         *time.Time
	AnsweredBy         *uuid.UUID
	// TelephonyAnsweredAt is the answer time the telephony system
	// reported; the statistics prefer it to AnsweredAt.
	TelephonyAnsweredAt *time.Time
	DispatchedAt        *time.Time
	ClosedAt            *time.Time
	Outcome             *string
	// Events is set when the call was loaded with its trail (live board);
	// nil means "load through the events loader".
	Events []Event
}

// CategoryCount is one row of the by-category statistics.
type CategoryCount struct {
	Category Category
	Count    int
}

// Figures are the alarm-center figures of a set of calls.
type Figures struct {
	Total    int
	Answered int
	// AnsweredWithin60sRate and AnsweredWithin180sRate are shares of the
	// calls whose result for that target is known by the window's end
	// (calls still ringing then, whose target time had not passed, are
	// left out of that share and counted in StillRinging).
	AnsweredWithin60sRate  float64
	AnsweredWithin180sRate float64
	MedianAnswerSeconds    *float64
	P90AnswerSeconds       *float64
	// StillRinging counts calls unanswered at the window's end (or now)
	// and received less than 180 s before it.
	StillRinging int
	Dispatched   int
	Attended     int
	// AttendedWithin45mRate is the share of dispatched calls a responder
	// reached within 45 minutes of the call being received (calls whose
	// 45 minutes had not passed by the window's end without an arrival
	// are left out).
	AttendedWithin45mRate   float64
	MedianAttendanceMinutes *float64
}

// Group is the figures of one operator, hour of day or call kind.
type Group struct {
	Key string
	// Name is a display name (the operator's), when there is one.
	Name *string
	Figures
}

// Stats are the alarm-center statistics over a window. Technical alarms
// (DEVICE_FAULT) are counted apart and in none of the figures.
type Stats struct {
	Figures
	TechnicalCalls int
	ByCategory     []CategoryCount
	ByOperator     []Group
	ByHourOfDay    []Group
	ByKind         []Group
}
