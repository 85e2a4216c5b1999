package emergency_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/testenv"
)

func TestRegisterDevice(t *testing.T) {
	e := testenv.New(t)
	admin := e.Admin(t)
	chunxi := insertResident(t, e, testenv.ResidentSpec{Name: "张大爷"})                                // 春熙路街道
	niushi := insertResident(t, e, testenv.ResidentSpec{Name: "刘奶奶", CommunityCode: "510104023001"}) // 牛市口街道
	mustDevice(t, e, admin, uniq("DUP"), chunxi.ID)
	dup := uniq("DUP")
	mustDevice(t, e, admin, dup, chunxi.ID)

	cases := []struct {
		name, user, serial string
		resident           uuid.UUID
		wantErr, wantCode  string
	}{
		{"operator anywhere", "operator", uniq("OP"), niushi.ID, "", ""},
		{"case worker in jurisdiction", "caseworker", uniq("CW"), chunxi.ID, "", ""},
		{"case worker outside jurisdiction", "caseworker", uniq("CW"), niushi.ID, "FORBIDDEN", ""},
		{"clerk may not", "clerk", uniq("CL"), chunxi.ID, "FORBIDDEN", ""},
		{"telephony may not", "telephony", uniq("TEL"), chunxi.ID, "FORBIDDEN", ""},
		{"duplicate serial", "operator", dup, chunxi.ID, "", "DUPLICATE"},
		{"unknown resident", "operator", uniq("X"), uuid.Must(uuid.NewV7()), "", "NOT_FOUND"},
		{"blank serial", "operator", "  ", chunxi.ID, "", "INVALID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := registerDevice(t, e, e.As(t, c.user), c.serial, c.resident)
			if got := r.ErrorCode(); got != c.wantErr {
				t.Fatalf("error %q, want %q: %s", got, c.wantErr, r.Raw)
			}
			if c.wantErr != "" {
				return
			}
			if got := r.Str("registerEmergencyDevice.userErrors.0.code"); got != c.wantCode {
				t.Fatalf("user error %q, want %q: %s", got, c.wantCode, r.Raw)
			}
			var n int64
			testenv.MustScan(t, e.DB, "SELECT count(*) FROM emergency_devices WHERE serial = ?", testenv.Args(c.serial), &n)
			if c.wantCode == "" && (n != 1 || r.Str("registerEmergencyDevice.device.resident.name") == "") {
				t.Fatalf("device not stored with resident: n=%d %s", n, r.Raw)
			}
		})
	}
}

func TestHeartbeatAndSilentDevices(t *testing.T) {
	e := testenv.New(t)
	base := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	e.Clock.Set(base)
	op, tel := e.As(t, "operator"), e.As(t, "telephony")
	res := insertResident(t, e, testenv.ResidentSpec{})
	far := insertResident(t, e, testenv.ResidentSpec{CommunityCode: "510104023001"})
	alive, silent, never, farNever := uniq("ALIVE"), uniq("SILENT"), uniq("NEVER"), uniq("FAR")
	for _, s := range []string{alive, silent, never} {
		mustDevice(t, e, op, s, res.ID)
	}
	mustDevice(t, e, op, farNever, far.ID)

	const hb = `mutation($in: DeviceHeartbeatInput!){ recordDeviceHeartbeat(input: $in){
		device { serial lastHeartbeatAt batteryPercent } userErrors { code field } } }`
	beat := func(tok, serial string, battery any, at time.Time) *testenv.Response {
		return e.Do(t, tok, hb, map[string]any{"in": map[string]any{"serial": serial, "batteryPercent": battery, "at": at.Format(time.RFC3339)}})
	}
	t.Run("records battery and time", func(t *testing.T) {
		r := beat(tel, alive, 80, base.Add(-time.Hour))
		if r.Get("recordDeviceHeartbeat.device.batteryPercent") != float64(80) || r.Str("recordDeviceHeartbeat.device.lastHeartbeatAt") == "" {
			t.Fatalf("%s", r.Raw)
		}
		beat(tel, silent, 15, base.Add(-48*time.Hour))
	})
	t.Run("an older heartbeat does not move time back", func(t *testing.T) {
		r := beat(tel, alive, 70, base.Add(-5*time.Hour))
		got, _ := time.Parse(time.RFC3339, r.Str("recordDeviceHeartbeat.device.lastHeartbeatAt"))
		if !got.Equal(base.Add(-time.Hour)) {
			t.Fatalf("last heartbeat %v: %s", got, r.Raw)
		}
	})
	t.Run("battery is optional", func(t *testing.T) {
		r := e.Do(t, tel, hb, map[string]any{"in": map[string]any{"serial": alive}})
		if r.Get("recordDeviceHeartbeat.device.batteryPercent") != float64(80) || r.Str("recordDeviceHeartbeat.userErrors.0.code") != "" {
			t.Fatalf("%s", r.Raw)
		}
		e.MustDo(t, tel, hb, map[string]any{"in": map[string]any{"serial": alive, "at": base.Add(-time.Hour).Format(time.RFC3339)}})
	})
	t.Run("a heartbeat from the future is INVALID", func(t *testing.T) {
		r := beat(tel, alive, 50, base.Add(time.Hour))
		if r.Str("recordDeviceHeartbeat.userErrors.0.code") != "INVALID" {
			t.Fatalf("%s", r.Raw)
		}
	})
	for _, c := range []struct {
		name, tok, serial string
		battery           any
		wantErr, wantCode string
	}{
		{"battery above 100", tel, alive, 101, "", "INVALID"},
		{"battery below 0", tel, alive, -1, "", "INVALID"},
		{"unknown serial", tel, "NO-SUCH-DEVICE", 50, "", "NOT_FOUND"},
		{"operator may not", op, alive, 50, "FORBIDDEN", "FORBIDDEN"}, // the refusal is also in the payload
	} {
		t.Run(c.name, func(t *testing.T) {
			r := beat(c.tok, c.serial, c.battery, base)
			if r.ErrorCode() != c.wantErr || r.Str("recordDeviceHeartbeat.userErrors.0.code") != c.wantCode {
				t.Fatalf("want %q/%q: %s", c.wantErr, c.wantCode, r.Raw)
			}
		})
	}

	const q = `query($s: Time!){ silentEmergencyDevices(since: $s){ serial } }`
	serials := func(r *testenv.Response) map[string]bool {
		out := map[string]bool{}
		list, _ := r.Get("silentEmergencyDevices").([]any)
		for _, x := range list {
			out[x.(map[string]any)["serial"].(string)] = true
		}
		return out
	}
	since := map[string]any{"s": base.Add(-24 * time.Hour).Format(time.RFC3339)}
	t.Run("operator sees silent and never-heard devices district-wide", func(t *testing.T) {
		got := serials(e.MustDo(t, op, q, since))
		if !got[silent] || !got[never] || !got[farNever] || got[alive] {
			t.Fatalf("silent devices %v", got)
		}
	})
	t.Run("case worker sees their subtree only", func(t *testing.T) {
		got := serials(e.MustDo(t, e.As(t, "caseworker"), q, since))
		if !got[silent] || !got[never] || got[farNever] || got[alive] {
			t.Fatalf("silent devices %v", got)
		}
	})
	t.Run("clerk and telephony are forbidden", func(t *testing.T) {
		for _, u := range []string{"clerk", "telephony"} {
			if c := e.Do(t, e.As(t, u), q, since).ErrorCode(); c != "FORBIDDEN" {
				t.Fatalf("%s: %s", u, c)
			}
		}
	})
	t.Run("resident lists their devices through the call card", func(t *testing.T) {
		id := mustReceive(t, e, tel, map[string]any{"externalCallId": uniq("HB"), "deviceSerial": never, "kind": "ALARM_BUTTON"})
		r := e.MustDo(t, op, `query($id: ID!){ node(id: $id){ ... on EmergencyCall { resident { emergencyDevices { serial batteryPercent } } } } }`,
			map[string]any{"id": id})
		have := map[string]bool{}
		list, _ := r.Get("node.resident.emergencyDevices").([]any)
		for _, x := range list {
			have[x.(map[string]any)["serial"].(string)] = true
		}
		if !have[alive] || !have[silent] || !have[never] || have[farNever] {
			t.Fatalf("resident's devices: %s", r.Raw)
		}
	})
}
