package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// scratchDB creates an empty database for a migration test and drops it
// when the test ends.
func scratchDB(t *testing.T) *sql.DB {
	t.Helper()
	ctx := context.Background()
	admin, err := sql.Open("pgx", adminURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	name := "migrations_test_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dbURL(adminURL(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Log(err)
		}
	})
	return db
}

// TestAuditNamesRewrite: migration 00080 rewrites every old entity and
// action name to the GraphQL name, moves a session's entries to its
// subject, keeps what the old name said in the detail, leaves audit_log
// append-only, and its Down restores the old rows.
func TestAuditNamesRewrite(t *testing.T) {
	ctx := context.Background()
	db := scratchDB(t)
	p, err := goose.NewProvider(goose.DialectPostgres, db, files)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 79); err != nil {
		t.Fatal(err)
	}
	staff, wechat, session, target := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	type entry struct {
		actorKind, action, entity string
		entityID                  *uuid.UUID
		detail                    *string
	}
	str := func(s string) *string { return &s }
	old := []entry{
		{"USER", "login", "StaffUser", &staff, nil},
		{"USER", "refreshSession", "Session", &session, nil},
		{"WECHAT", "logout", "Session", &session, nil},
		{"USER", "activateUser", "StaffUser", &target, nil},
		{"USER", "deactivateUser", "StaffUser", &target, nil},
		{"WECHAT", "wechat.login", "WechatAccount", &wechat, nil},
		{"WECHAT", "wechat.bind_resident", "Resident", &target, nil},
		{"USER", "resident.register", "Resident", &target, nil},
		{"USER", "resident.update", "Resident", &target, str(`{"version": 2}`)},
		{"USER", "resident.lookup_by_id_number", "Resident", nil, str(`{"outcome": "none"}`)},
		{"USER", "resident.read_id_number", "Resident", &target, nil},
		{"USER", "emergency.device.register", "EmergencyDevice", &target, nil},
		{"USER", "emergency.device.heartbeat", "EmergencyDevice", &target, nil},
		{"USER", "emergency.call.receive", "EmergencyCall", &target, nil},
		{"USER", "emergency.call.repeat_alarm", "EmergencyCall", &target, str(`{"kind": "ALARM_BUTTON"}`)},
		{"USER", "emergency.call.answer", "EmergencyCall", &target, nil},
		{"USER", "emergency.call.dispatch", "EmergencyCall", &target, nil},
		{"USER", "emergency.call.close", "EmergencyCall", &target, nil},
		{"USER", "calendar.set_day", "calendar_day", nil, str(`{"date": "2026-10-01", "kind": "HOLIDAY"}`)},
		{"USER", "service_item.upsert", "service_item", &target, nil},
		{"USER", "application.submit", "application", &target, nil},
		{"USER", "application.request_supplement", "application", &target, str(`{"from": "SUBMITTED", "to": "SUPPLEMENT_REQUESTED"}`)},
		{"USER", "application.start_review", "application", &target, nil},
		{"USER", "readDisabilityCertificateNumber", "DisabilityCertificate", &target, nil},
		{"USER", "redeemVoucher", "Redemption", &target, nil},
	}
	ids := make([]uuid.UUID, len(old))
	for i, e := range old {
		ids[i] = uuid.Must(uuid.NewV7())
		actor := staff
		if e.actorKind == "WECHAT" {
			actor = wechat
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO audit_log (id, at, actor_id, actor_kind, action, entity, entity_id, detail)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)`, ids[i], time.Now(), actor, e.actorKind, e.action, e.entity, e.entityID, e.detail); err != nil {
			t.Fatal(err)
		}
	}
	read := func() []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			var action, entity string
			var entityID, detail sql.NullString
			if err := db.QueryRowContext(ctx, "SELECT action, entity, entity_id::text, detail::text FROM audit_log WHERE id = $1", id).
				Scan(&action, &entity, &entityID, &detail); err != nil {
				t.Fatal(err)
			}
			out[i] = fmt.Sprintf("%s %s %s %s", action, entity, entityID.String, detail.String)
		}
		return out
	}
	before := read()
	if _, err := p.UpTo(ctx, 80); err != nil {
		t.Fatal(err)
	}
	s, w, tg := staff.String(), wechat.String(), target.String()
	want := []string{
		"login StaffUser " + s + " ",
		"refreshSession StaffUser " + s + ` {"sessionId": "` + session.String() + `"}`,
		"logout WechatAccount " + w + ` {"sessionId": "` + session.String() + `"}`,
		"setStaffUserActive StaffUser " + tg + ` {"active": true}`,
		"setStaffUserActive StaffUser " + tg + ` {"active": false}`,
		"wechatLogin WechatAccount " + w + " ",
		"bindResident Resident " + tg + " ",
		"registerResident Resident " + tg + " ",
		"updateResident Resident " + tg + ` {"version": 2}`,
		`residentByIdNumber Resident  {"outcome": "none"}`,
		"idNumber Resident " + tg + " ",
		"registerEmergencyDevice EmergencyDevice " + tg + " ",
		"recordDeviceHeartbeat EmergencyDevice " + tg + " ",
		"receiveEmergencyCall EmergencyCall " + tg + " ",
		"receiveEmergencyCall EmergencyCall " + tg + ` {"kind": "ALARM_BUTTON", "repeatAlarm": true}`,
		"answerEmergencyCall EmergencyCall " + tg + " ",
		"dispatchEmergencyCall EmergencyCall " + tg + " ",
		"closeEmergencyCall EmergencyCall " + tg + " ",
		`setCalendarDay CalendarDay  {"date": "2026-10-01", "kind": "HOLIDAY"}`,
		"upsertServiceItem ServiceItem " + tg + " ",
		"submitApplication Application " + tg + " ",
		"transitionApplication Application " + tg + ` {"to": "SUPPLEMENT_REQUESTED", "from": "SUBMITTED", "action": "REQUEST_SUPPLEMENT"}`,
		"transitionApplication Application " + tg + ` {"action": "START_REVIEW"}`,
		"number DisabilityCertificate " + tg + " ",
		"redeemVoucher Redemption " + tg + " ",
	}
	got := read()
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s:\n got %s\nwant %s", old[i].action, got[i], want[i])
		}
	}
	if _, err := db.ExecContext(ctx, "UPDATE audit_log SET action = 'x'"); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("audit_log accepts an UPDATE after the migration: %v", err)
	}
	if _, err := p.DownTo(ctx, 79); err != nil {
		t.Fatal(err)
	}
	after := read()
	for i := range before {
		if after[i] != before[i] {
			t.Errorf("down %s:\n got %s\nwant %s", old[i].action, after[i], before[i])
		}
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM audit_log"); err == nil {
		t.Fatal("audit_log accepts a DELETE after the down migration")
	}
}
