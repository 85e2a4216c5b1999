package emergency_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/testenv"
)

// TestAlarmNoticesCommitWithTheCall: a new call of a known resident queues
// ALARM_RECEIVED, in its intake statement, to the ALARMS proxies (not to
// other proxies, revoked ones or the elder's own accounts) and by SMS to
// the first emergency contact, exactly once; a repeat alarm or a replayed
// call id queues none; an intake that fails queues none; dispatching and
// closing queue their notices.
func TestAlarmNoticesCommitWithTheCall(t *testing.T) {
	e := testenv.New(t)
	tel, op := e.As(t, "telephony"), e.As(t, "operator")
	elder := insertResident(t, e, testenv.ResidentSpec{Name: "赵奶奶"})
	own := e.WechatAccount(t, &elder.ID)
	alarms, spender, revoked := e.WechatAccount(t, nil), e.WechatAccount(t, nil), e.WechatAccount(t, nil)
	e.ProxyLink(t, elder.ID, alarms, "ALARMS", "VIEW")
	e.ProxyLink(t, elder.ID, spender, "SPEND", "VIEW")
	e.RevokeProxyLink(t, e.ProxyLink(t, elder.ID, revoked, "ALARMS"))
	serial := uniq("BOX")
	mustDevice(t, e, op, serial, elder.ID)
	count := func(kind, rk string, to uuid.UUID) int { return e.Notifications(t, elder.ID, kind, rk, to) }

	// An intake the database refuses (a trigger standing in for any
	// failure after the notice's CTE ran) leaves no notice behind.
	failing := uniq("FAIL")
	for _, q := range []string{
		`CREATE OR REPLACE FUNCTION test_refuse_call() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN IF NEW.external_call_id LIKE 'FAIL%' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$`,
		`CREATE TRIGGER test_refuse_call AFTER INSERT ON emergency_calls FOR EACH ROW EXECUTE FUNCTION test_refuse_call()`,
	} {
		if err := e.DB.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	r := receive(t, e, tel, map[string]any{"externalCallId": failing, "deviceSerial": serial, "kind": "ALARM_BUTTON"})
	if err := e.DB.Exec("DROP TRIGGER test_refuse_call ON emergency_calls").Error; err != nil {
		t.Fatal(err)
	}
	if r.ErrorCode() != "INTERNAL" {
		t.Fatalf("the refused intake answered: %s", r.Raw)
	}
	if n := count("", "", uuid.Nil); n != 0 {
		t.Fatalf("a failed intake queued %d notices", n)
	}

	ext := uniq("EXT")
	id := mustReceive(t, e, tel, map[string]any{"externalCallId": ext, "deviceSerial": serial, "kind": "ALARM_BUTTON"})
	for _, c := range []struct {
		rk   string
		to   uuid.UUID
		want int
	}{{"WECHAT", alarms, 1}, {"WECHAT", spender, 0}, {"WECHAT", revoked, 0}, {"WECHAT", own, 0}, {"SMS_CONTACT", elder.ID, 1}, {"SMS_RESIDENT", elder.ID, 0}} {
		if n := count("ALARM_RECEIVED", c.rk, c.to); n != c.want {
			t.Errorf("ALARM_RECEIVED %s %s: %d, want %d", c.rk, c.to, n, c.want)
		}
	}
	var callID string
	testenv.MustScan(t, e.DB, "SELECT payload->>'callId' FROM notifications WHERE resident_id = ? AND recipient_id = ?",
		testenv.Args(elder.ID, alarms), &callID)
	if _, cid, _ := relay.Parse(id); callID != cid.String() {
		t.Errorf("the notice names call %s, want %s", callID, id)
	}
	// The same call id again, and a repeat alarm on the open call: no
	// second notice.
	mustReceive(t, e, tel, map[string]any{"externalCallId": ext, "deviceSerial": serial, "kind": "ALARM_BUTTON"})
	mustReceive(t, e, tel, map[string]any{"externalCallId": uniq("EXT"), "deviceSerial": serial, "kind": "ALARM_BUTTON"})
	if n := count("ALARM_RECEIVED", "", uuid.Nil); n != 2 {
		t.Fatalf("%d ALARM_RECEIVED after a replay and a repeat alarm, want 2", n)
	}

	answer(t, e, op, id)
	if n := count("", "", uuid.Nil); n != 2 {
		t.Fatalf("answering queued a notice: %d rows", n)
	}
	dispatch(t, e, op, id, "COMMUNITY_WORKER")
	closeCall(t, e, op, id, "FALL")
	for _, k := range []string{"ALARM_DISPATCHED", "ALARM_CLOSED"} {
		if a, c := count(k, "WECHAT", alarms), count(k, "SMS_CONTACT", elder.ID); a != 1 || c != 1 || count(k, "", uuid.Nil) != 2 {
			t.Errorf("%s: proxy %d, contact %d, total %d; want 1, 1, 2", k, a, c, count(k, "", uuid.Nil))
		}
	}
}
