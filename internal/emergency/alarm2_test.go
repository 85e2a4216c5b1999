package emergency_test

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/testenv"
)

const careDoc = `query($id: ID!){ node(id: $id){ ... on Resident { careProfile { allergies medication keyholder responsePlan version } } } }`

// TestCareProfile: written by the case worker, stored encrypted, read by
// the case worker and by an operator only while a call of the resident is
// open; every read is audited.
func TestCareProfile(t *testing.T) {
	e := testenv.New(t)
	p := phone()
	res := insertResident(t, e, testenv.ResidentSpec{Phone: p})
	rid := relay.ID("Resident", res.ID)
	cw, op := e.As(t, "caseworker"), e.As(t, "operator")
	set := `mutation($in: SetCareProfileInput!){ setCareProfile(input: $in){ careProfile { allergies version } userErrors { code field } } }`
	in := map[string]any{"residentId": rid, "version": 0, "allergies": "青霉素过敏", "medication": "降压药 每日一次",
		"keyholder": "邻居王阿姨 3 单元 201", "responsePlan": "先联系儿子，再派网格员"}
	if r := e.MustDo(t, cw, set, map[string]any{"in": in}); r.Get("setCareProfile.careProfile.version") != float64(1) {
		t.Fatalf("set: %s", r.Raw)
	}
	if r := e.MustDo(t, cw, set, map[string]any{"in": in}); r.Str("setCareProfile.userErrors.0.code") != "CONFLICT" {
		t.Fatalf("stale write: %s", r.Raw)
	}
	if r := e.MustDo(t, e.As(t, "caseworker2"), set, map[string]any{"in": in}); r.Str("setCareProfile.userErrors.0.code") != "OUT_OF_JURISDICTION" {
		t.Fatalf("other street: %s", r.Raw)
	}
	var enc string
	testenv.MustScan(t, e.DB, "SELECT data_enc FROM care_profiles WHERE resident_id = ?", testenv.Args(res.ID), &enc)
	if strings.Contains(enc, "青霉素") || !strings.HasPrefix(enc, "v1:") {
		t.Fatalf("stored in clear: %s", enc)
	}
	audits := func() int {
		var n int
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM audit_log WHERE action = 'careProfile' AND entity_id = ?", testenv.Args(res.ID), &n)
		return n
	}
	if r := e.MustDo(t, cw, careDoc, map[string]any{"id": rid}); r.Str("node.careProfile.allergies") != "青霉素过敏" {
		t.Fatalf("case worker: %s", r.Raw)
	}
	if audits() != 1 {
		t.Fatalf("audited reads %d, want 1", audits())
	}
	// No open call: the operator is refused, for this field alone.
	r := e.Do(t, op, careDoc, map[string]any{"id": rid})
	if r.Get("node.careProfile") != nil || r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("operator without a call: %s", r.Raw)
	}
	call := mustReceive(t, e, e.As(t, "telephony"), map[string]any{"externalCallId": uniq("CP"), "callerNumber": p, "kind": "ALARM_BUTTON"})
	if r := e.MustDo(t, op, careDoc, map[string]any{"id": rid}); r.Str("node.careProfile.keyholder") != "邻居王阿姨 3 单元 201" {
		t.Fatalf("operator during the call: %s", r.Raw)
	}
	answer(t, e, op, call)
	closeCall(t, e, op, call, "MEDICAL")
	if r := e.Do(t, op, careDoc, map[string]any{"id": rid}); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("operator after the call: %s", r.Raw)
	}
	for _, who := range []string{"caseworker2", "clerk", "auditor"} {
		if r := e.Do(t, e.As(t, who), careDoc, map[string]any{"id": rid}); r.Get("node.careProfile") != nil {
			t.Fatalf("%s read it: %s", who, r.Raw)
		}
	}
	if audits() != 2 {
		t.Fatalf("audited reads %d, want 2", audits())
	}
}

const statsDoc = `query($f: Time!, $t: Time!){ emergencyCallStats(from: $f, to: $t){
	total answered answeredWithin60sRate answeredWithin180sRate stillRinging technicalCalls dispatched attended attendedWithin45mRate medianAttendanceMinutes
	byOperator { key name total attended attendedWithin45mRate } byHourOfDay { key total } byKind { key total answered } } }`

// TestAttendance: dispatches carry the responder and the expected
// arrival; arrivals are recorded; the statistics give the share attended
// within 45 minutes, per operator, hour of day and call kind.
func TestAttendance(t *testing.T) {
	e := testenv.New(t)
	w := window()
	base := time.Date(w.Year(), w.Month(), w.Day(), 2, 0, 0, 0, time.UTC) // 10:00 in Asia/Shanghai
	// sign in at the clock of each request: it moves by hours and days
	tel := func() string { return e.As(t, "telephony") }
	op := func() string { return e.As(t, "operator") }
	const dispatchDoc = `mutation($in: DispatchEmergencyCallInput!){ dispatchEmergencyCall(input: $in){
		call { dispatches { id responder responderName expectedArrivalAt arrivedAt } } userErrors { code field } } }`
	const arriveDoc = `mutation($in: RecordResponderArrivalInput!){ recordResponderArrival(input: $in){
		call { dispatches { arrivedAt } events { kind } } userErrors { code field } } }`
	// Two calls, reached after 40 and after 50 minutes; a third dispatched, nobody arrived yet after 2 hours.
	for i, mins := range []int{40, 50, -1} {
		at := base.Add(time.Duration(i) * time.Minute)
		e.Clock.Set(at)
		kind := "ALARM_BUTTON"
		if i == 1 {
			kind = "FALL_DETECTED"
		}
		id := mustReceive(t, e, tel(), map[string]any{"externalCallId": uniq("AT"), "kind": kind, "receivedAt": at.Format(time.RFC3339)})
		e.Clock.Set(at.Add(20 * time.Second))
		answer(t, e, op(), id)
		e.Clock.Set(at.Add(time.Minute))
		r := e.MustDo(t, op(), dispatchDoc, map[string]any{"in": map[string]any{"callId": id, "responder": "COMMUNITY_WORKER",
			"responderName": "网格员小李", "expectedArrivalAt": at.Add(30 * time.Minute).Format(time.RFC3339)}})
		d := r.Str("dispatchEmergencyCall.call.dispatches.0.id")
		if d == "" || r.Str("dispatchEmergencyCall.call.dispatches.0.responderName") != "网格员小李" ||
			r.Str("dispatchEmergencyCall.call.dispatches.0.expectedArrivalAt") == "" {
			t.Fatalf("dispatch: %s", r.Raw)
		}
		if mins < 0 {
			continue
		}
		e.Clock.Set(at.Add(time.Duration(mins) * time.Minute))
		r = e.MustDo(t, op(), arriveDoc, map[string]any{"in": map[string]any{"dispatchId": d}})
		if r.Str("recordResponderArrival.call.dispatches.0.arrivedAt") == "" || !strings.Contains(string(r.Raw), "RESPONDER_ARRIVED") {
			t.Fatalf("arrival: %s", r.Raw)
		}
		if r := e.MustDo(t, op(), arriveDoc, map[string]any{"in": map[string]any{"dispatchId": d}}); r.Str("recordResponderArrival.userErrors.0.code") != "CONFLICT" {
			t.Fatalf("second arrival: %s", r.Raw)
		}
	}
	e.Clock.Set(base.Add(3 * time.Hour))
	r := e.MustDo(t, op(), statsDoc, map[string]any{"f": base.Format(time.RFC3339), "t": base.Add(time.Hour).Format(time.RFC3339)})
	s := "emergencyCallStats."
	if r.Get(s+"total") != float64(3) || r.Get(s+"dispatched") != float64(3) || r.Get(s+"attended") != float64(2) {
		t.Fatalf("counts: %s", r.Raw)
	}
	// 40 min attended in time; 50 min late; the third, 2 h without arrival, late too.
	if v, _ := r.Get(s + "attendedWithin45mRate").(float64); math.Abs(v-1.0/3) > 1e-9 {
		t.Fatalf("attended within 45 min = %v: %s", v, r.Raw)
	}
	if r.Get(s+"medianAttendanceMinutes") != float64(45) {
		t.Fatalf("median attendance: %s", r.Raw)
	}
	if r.Get(s+"byOperator.0.name") != "陈接警员 (长者通)" || !strings.HasPrefix(relayType(r.Str(s+"byOperator.0.key")), "StaffUser") ||
		r.Get(s+"byOperator.0.total") != float64(3) {
		t.Fatalf("by operator: %s", r.Raw)
	}
	if r.Get(s+"byHourOfDay.0.key") != "10" || r.Get(s+"byHourOfDay.0.total") != float64(3) {
		t.Fatalf("by hour (Asia/Shanghai): %s", r.Raw)
	}
	if r.Get(s+"byKind.0.key") != "ALARM_BUTTON" || r.Get(s+"byKind.0.total") != float64(2) || r.Get(s+"byKind.1.key") != "FALL_DETECTED" {
		t.Fatalf("by kind: %s", r.Raw)
	}
}

func relayType(id string) string {
	typ, _, err := relay.Parse(id)
	if err != nil {
		return ""
	}
	return typ
}

// TestTelephonyAnswerTime: the telephony system's answer time is used
// when reported; exactly 60 s counts within 60 s, exactly 180 s within
// 180 s only; calls still ringing at the window's end are apart.
func TestTelephonyAnswerTime(t *testing.T) {
	e := testenv.New(t)
	base := window()
	// sign in at the clock of each request: it moves by hours and days
	tel := func() string { return e.As(t, "telephony") }
	op := func() string { return e.As(t, "operator") }
	const report = `mutation($x: String!, $a: Time!){ reportEmergencyCallAnswered(input: {externalCallId: $x, answeredAt: $a}){
		call { telephonyAnsweredAt answeredAt } userErrors { code } } }`
	call := func(offset time.Duration, telephonySecs, operatorSecs int) {
		at := base.Add(offset)
		e.Clock.Set(at)
		x := uniq("TA")
		id := mustReceive(t, e, tel(), map[string]any{"externalCallId": x, "kind": "VOICE_CALL", "receivedAt": at.Format(time.RFC3339)})
		if telephonySecs >= 0 {
			e.Clock.Set(at.Add(time.Duration(telephonySecs) * time.Second))
			r := e.MustDo(t, tel(), report, map[string]any{"x": x, "a": at.Add(time.Duration(telephonySecs) * time.Second).Format(time.RFC3339)})
			if r.Str("reportEmergencyCallAnswered.call.telephonyAnsweredAt") == "" {
				t.Fatalf("report: %s", r.Raw)
			}
		}
		if operatorSecs >= 0 {
			e.Clock.Set(at.Add(time.Duration(operatorSecs) * time.Second))
			answer(t, e, op(), id)
		}
	}
	call(0, 60, 100)           // telephony: exactly 60 s (the operator clicked at 100 s)
	call(time.Minute, 180, 90) // telephony: exactly 180 s (the operator's 90 s is not used)
	call(2*time.Minute, 61, -1)
	call(10*time.Minute, -1, -1)                  // never answered: a failure
	call(30*time.Minute-30*time.Second, -1, -1)   // 30 s before the window's end, still ringing
	call(30*time.Minute-100*time.Second, -1, 150) // answered after the window's end (known by now)
	// A technical alarm in the window is counted apart.
	e.Clock.Set(base.Add(5 * time.Minute))
	mustReceive(t, e, tel(), map[string]any{"externalCallId": uniq("TF"), "kind": "DEVICE_FAULT"})

	e.Clock.Set(base.Add(30 * time.Minute)) // the window's end is now
	r := e.MustDo(t, op(), statsDoc, map[string]any{"f": base.Format(time.RFC3339), "t": base.Add(30 * time.Minute).Format(time.RFC3339)})
	s := "emergencyCallStats."
	if r.Get(s+"total") != float64(6) || r.Get(s+"technicalCalls") != float64(1) || r.Get(s+"stillRinging") != float64(1) || r.Get(s+"answered") != float64(4) {
		t.Fatalf("counts: %s", r.Raw)
	}
	// Known for 60 s: all but the ringing one (5): within 60 s only the first.
	if v, _ := r.Get(s + "answeredWithin60sRate").(float64); math.Abs(v-1.0/5) > 1e-9 {
		t.Fatalf("within 60 s = %v: %s", v, r.Raw)
	}
	// Within 180 s: 60, 180, 61 and 150 of 5 known.
	if v, _ := r.Get(s + "answeredWithin180sRate").(float64); math.Abs(v-4.0/5) > 1e-9 {
		t.Fatalf("within 180 s = %v: %s", v, r.Raw)
	}
	// The operator's time counts where the telephony system reported none.
	if r.Get(s+"byKind.0.key") != "VOICE_CALL" || r.Get(s+"byKind.0.answered") != float64(4) {
		t.Fatalf("by kind: %s", r.Raw)
	}
}

const deviceDoc = `query($id: ID!){ node(id: $id){ ... on Resident { emergencyDevices { serial faultOpen heartbeatIntervalSeconds silentAfter }
	emergencyCalls(first: 10){ edges { node { kind status events { kind detail } } } } } } }`

// TestDeviceFaults: a device silent beyond its interval, or with a flat
// battery, raises one DEVICE_FAULT call per episode; the episode ends,
// and its call is closed, when the device is heard from again in order.
func TestDeviceFaults(t *testing.T) {
	e := testenv.New(t, testenv.WithConfig(func(c *config.Config) { c.DeviceScanInterval = time.Hour }))
	ctx := context.Background()
	res := insertResident(t, e, testenv.ResidentSpec{})
	rid := relay.ID("Resident", res.ID)
	admin, tel, op := e.Admin(t), e.As(t, "telephony"), e.As(t, "operator")
	base := time.Now().Truncate(time.Second)
	e.Clock.Set(base)
	serial := uniq("DF")
	r := e.MustDo(t, admin, `mutation($in: RegisterEmergencyDeviceInput!){ registerEmergencyDevice(input: $in){ device { silentAfter heartbeatIntervalSeconds } userErrors { code field } } }`,
		map[string]any{"in": map[string]any{"serial": serial, "kind": "WEARABLE", "residentId": rid, "heartbeatIntervalSeconds": 300}})
	if r.Get("registerEmergencyDevice.device.heartbeatIntervalSeconds") != float64(300) {
		t.Fatalf("register: %s", r.Raw)
	}
	beat := func(battery int) {
		t.Helper()
		r := e.MustDo(t, tel, `mutation($s: String!, $b: Int){ recordDeviceHeartbeat(input: {serial: $s, batteryPercent: $b}){ device { faultOpen } userErrors { code } } }`,
			map[string]any{"s": serial, "b": battery})
		if r.Str("recordDeviceHeartbeat.userErrors.0.code") != "" {
			t.Fatalf("heartbeat: %s", r.Raw)
		}
	}
	beat(80)
	faults := func() (open, closed int, r *testenv.Response) {
		r = e.MustDo(t, op, deviceDoc, map[string]any{"id": rid})
		for i := 0; i < 10; i++ {
			p := "node.emergencyCalls.edges." + strconv.Itoa(i) + ".node."
			if r.Get(p+"kind") != "DEVICE_FAULT" {
				continue
			}
			if r.Get(p+"status") == "CLOSED" {
				closed++
			} else {
				open++
			}
		}
		return open, closed, r
	}
	// Within the interval: nothing.
	e.Clock.Set(base.Add(4 * time.Minute))
	if _, err := e.App.Emergency.ScanDevices(ctx); err != nil {
		t.Fatal(err)
	}
	if o, c, r := faults(); o+c != 0 {
		t.Fatalf("raised within the interval: %s", r.Raw)
	}
	// Silent beyond it: one call, and only one however often the job runs.
	e.Clock.Set(base.Add(6 * time.Minute))
	for i := 0; i < 3; i++ {
		if _, err := e.App.Emergency.ScanDevices(ctx); err != nil {
			t.Fatal(err)
		}
	}
	o, c, r := faults()
	if o != 1 || c != 0 || r.Get("node.emergencyDevices.0.faultOpen") != true || !strings.Contains(string(r.Raw), "SILENT") {
		t.Fatalf("silent device: open %d closed %d: %s", o, c, r.Raw)
	}
	// Heard from again: the episode ends and its call is closed by the system.
	beat(80)
	if o, c, r := faults(); o != 0 || c != 1 || r.Get("node.emergencyDevices.0.faultOpen") != false || !strings.Contains(string(r.Raw), "DEVICE_RECOVERED") {
		t.Fatalf("after the heartbeat: open %d closed %d: %s", o, c, r.Raw)
	}
	// A flat battery: a new episode, once.
	beat(15)
	for i := 0; i < 2; i++ {
		if _, err := e.App.Emergency.ScanDevices(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if o, c, r := faults(); o != 1 || c != 1 || !strings.Contains(string(r.Raw), "LOW_BATTERY") {
		t.Fatalf("low battery: open %d closed %d: %s", o, c, r.Raw)
	}
	// Still flat: the episode stays open; charged: it ends.
	beat(18)
	if o, _, _ := faults(); o != 1 {
		t.Fatalf("episode ended while the battery is still low")
	}
	beat(90)
	if o, c, r := faults(); o != 0 || c != 2 {
		t.Fatalf("charged: open %d closed %d: %s", o, c, r.Raw)
	}
	// The job's scans use the partial indexes.
	for _, q := range []string{
		"EXPLAIN SELECT id FROM emergency_devices WHERE fault_episode_id IS NULL AND silent_after < now() AND (silent_after, id) > ('2000-01-01'::timestamptz, '00000000-0000-0000-0000-000000000000'::uuid) ORDER BY silent_after, id LIMIT 1000",
		"EXPLAIN SELECT id FROM emergency_devices WHERE battery_percent < 20 AND fault_episode_id IS NULL AND id > '00000000-0000-0000-0000-000000000000'::uuid ORDER BY id LIMIT 1000",
	} {
		var plan []string
		err := e.DB.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec("SET LOCAL enable_seqscan = off").Error; err != nil {
				return err
			}
			return tx.Raw(q).Scan(&plan).Error
		})
		if err != nil {
			t.Fatal(err)
		}
		if p := strings.Join(plan, "\n"); !strings.Contains(p, "emergency_devices_silent_idx") && !strings.Contains(p, "emergency_devices_low_battery_idx") {
			t.Fatalf("plan does not use the partial index:\n%s", p)
		}
	}
}

// TestWelfareCalls: elders living alone are on the operator's list; two
// missed checks in a row escalate to the grid's case worker, who resolves
// it; the interval is adjustable per resident.
func TestWelfareCalls(t *testing.T) {
	e := testenv.New(t)
	alone := insertResident(t, e, testenv.ResidentSpec{Statuses: []string{"LIVING_ALONE"}})
	other := insertResident(t, e, testenv.ResidentSpec{})
	aid := relay.ID("Resident", alone.ID)
	family := e.WechatAccount(t, nil)
	e.ProxyLink(t, alone.ID, family, "ALARMS")
	// sign in at the clock of each request: it moves by hours and days
	op := func() string { return e.As(t, "operator") }
	cw := func() string { return e.As(t, "caseworker") }
	day := time.Date(2031, 3, 3, 2, 0, 0, 0, time.UTC) // 10:00 in Asia/Shanghai
	e.Clock.Set(day)
	const list = `query($a: String){ welfareCheckList(first: 100, after: $a){ edges { node { resident { id } dueOn intervalDays missedInRow lastOutcome } } pageInfo { hasNextPage endCursor } } }`
	onList := func() map[string]any {
		var after any
		for {
			r := e.MustDo(t, op(), list, map[string]any{"a": after})
			for i := 0; ; i++ {
				n, ok := r.Get("welfareCheckList.edges." + strconv.Itoa(i) + ".node").(map[string]any)
				if !ok {
					break
				}
				if n["resident"].(map[string]any)["id"] == aid {
					return n
				}
			}
			if r.Get("welfareCheckList.pageInfo.hasNextPage") != true {
				return nil
			}
			after = r.Str("welfareCheckList.pageInfo.endCursor")
		}
	}
	if n := onList(); n == nil || n["dueOn"] != "2031-03-03" || n["intervalDays"] != float64(7) {
		t.Fatalf("not on the list as due weekly: %v", n)
	}
	const rec = `mutation($r: ID!, $o: WelfareOutcome!){ recordWelfareCheck(residentId: $r, outcome: $o, note: "电话回访"){
		check { outcome missedInRow escalated nextDueOn } userErrors { code } } }`
	if r := e.MustDo(t, op(), rec, map[string]any{"r": relay.ID("Resident", other.ID), "o": "WELL"}); r.Str("recordWelfareCheck.userErrors.0.code") != "NOT_ELIGIBLE" {
		t.Fatalf("not living alone: %s", r.Raw)
	}
	r := e.MustDo(t, op(), rec, map[string]any{"r": aid, "o": "NO_ANSWER"})
	if r.Get("recordWelfareCheck.check.missedInRow") != float64(1) || r.Get("recordWelfareCheck.check.escalated") != false ||
		r.Str("recordWelfareCheck.check.nextDueOn") != "2031-03-04" {
		t.Fatalf("first missed: %s", r.Raw)
	}
	if n := onList(); n != nil {
		t.Fatalf("still on today's list: %v", n)
	}
	const escs = `{ welfareEscalations(first: 50){ edges { node { id resident { id } resolvedAt } } } }`
	if r := e.MustDo(t, cw(), escs, nil); strings.Contains(string(r.Raw), aid) {
		t.Fatalf("escalated after one miss: %s", r.Raw)
	}
	if n := e.Notifications(t, alone.ID, "WELFARE_CHECK_MISSED", "", uuid.Nil); n != 0 {
		t.Fatalf("one miss told the family: %d notices", n)
	}
	e.Clock.Set(day.AddDate(0, 0, 1))
	if n := onList(); n == nil || n["missedInRow"] != float64(1) || n["lastOutcome"] != "NO_ANSWER" {
		t.Fatalf("not due again the next day: %v", n)
	}
	r = e.MustDo(t, op(), rec, map[string]any{"r": aid, "o": "UNREACHABLE"})
	if r.Get("recordWelfareCheck.check.missedInRow") != float64(2) || r.Get("recordWelfareCheck.check.escalated") != true {
		t.Fatalf("second missed: %s", r.Raw)
	}
	// The escalation tells the ALARMS proxy and the first emergency
	// contact, like an alarm, in its transaction.
	if p, c := e.Notifications(t, alone.ID, "WELFARE_CHECK_MISSED", "WECHAT", family),
		e.Notifications(t, alone.ID, "WELFARE_CHECK_MISSED", "SMS_CONTACT", alone.ID); p != 1 || c != 1 {
		t.Fatalf("escalation notices: proxy %d, contact %d; want 1 and 1", p, c)
	}
	// The grid's case worker sees it; one of another street does not.
	r = e.MustDo(t, cw(), escs, nil)
	if r.Str("welfareEscalations.edges.0.node.resident.id") != aid {
		t.Fatalf("case worker's list: %s", r.Raw)
	}
	esc := r.Str("welfareEscalations.edges.0.node.id")
	if r := e.MustDo(t, e.As(t, "caseworker2"), escs, nil); strings.Contains(string(r.Raw), aid) {
		t.Fatalf("other street sees it: %s", r.Raw)
	}
	const resolve = `mutation($id: ID!){ resolveWelfareEscalation(id: $id, resolution: "已上门，老人住院"){ escalation { resolvedAt } userErrors { code } } }`
	if r := e.MustDo(t, cw(), resolve, map[string]any{"id": esc}); r.Str("resolveWelfareEscalation.escalation.resolvedAt") == "" {
		t.Fatalf("resolve: %s", r.Raw)
	}
	if r := e.MustDo(t, cw(), escs, nil); strings.Contains(string(r.Raw), aid) {
		t.Fatalf("resolved escalation still open: %s", r.Raw)
	}
	// Every two weeks for this elder; a reached check schedules the next one then.
	const interval = `mutation($r: ID!){ setWelfareCheckInterval(residentId: $r, intervalDays: 14){ due { intervalDays } userErrors { code } } }`
	if r := e.MustDo(t, cw(), interval, map[string]any{"r": aid}); r.Get("setWelfareCheckInterval.due.intervalDays") != float64(14) {
		t.Fatalf("interval: %s", r.Raw)
	}
	e.Clock.Set(day.AddDate(0, 0, 2))
	r = e.MustDo(t, op(), rec, map[string]any{"r": aid, "o": "WELL"})
	if r.Str("recordWelfareCheck.check.nextDueOn") != "2031-03-19" || r.Get("recordWelfareCheck.check.missedInRow") != float64(0) {
		t.Fatalf("reached: %s", r.Raw)
	}
	if r := e.Do(t, cw(), rec, map[string]any{"r": aid, "o": "WELL"}); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("case worker recording a call: %s", r.Raw)
	}
}
