package emergency_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/emergency"
	"github.com/jinjiang/residents/internal/page"
	"github.com/jinjiang/residents/internal/testenv"
)

// TestResidentSeesOwnCallsAndDevices checks the service rule behind
// Resident.emergencyCalls / emergencyDevices for a WeChat viewer bound to a
// resident (the Viewer.resident path belongs to the resident domain).
func TestResidentSeesOwnCallsAndDevices(t *testing.T) {
	e := testenv.New(t)
	op := e.As(t, "operator")
	me := insertResident(t, e, testenv.ResidentSpec{})
	other := insertResident(t, e, testenv.ResidentSpec{})
	mine, theirs := uniq("MINE"), uniq("THEIRS")
	mustDevice(t, e, op, mine, me.ID)
	mustDevice(t, e, op, theirs, other.ID)
	tel := e.As(t, "telephony")
	mustReceive(t, e, tel, map[string]any{"externalCallId": uniq("R"), "deviceSerial": mine, "kind": "ALARM_BUTTON"})
	mustReceive(t, e, tel, map[string]any{"externalCallId": uniq("R"), "deviceSerial": theirs, "kind": "ALARM_BUTTON"})

	ctx := auth.WithViewer(context.Background(), &auth.Viewer{Kind: auth.SubjectWechat, ID: uuid.Must(uuid.NewV7()),
		Roles: []auth.Role{auth.Resident}, ResidentID: &me.ID})
	svc := e.App.Emergency
	p, _ := page.New(nil, nil)

	res, err := svc.Calls(ctx, emergency.Filter{ResidentID: &me.ID}, p)
	if err != nil || res.TotalCount != 1 || *res.Items[0].ResidentID != me.ID {
		t.Fatalf("own calls: %+v %v", res, err)
	}
	if _, err := svc.Calls(ctx, emergency.Filter{ResidentID: &other.ID}, p); err == nil {
		t.Fatal("resident read someone else's calls")
	}
	if _, err := svc.Calls(ctx, emergency.Filter{}, p); err == nil {
		t.Fatal("resident listed all calls")
	}
	devs, err := svc.DevicesByResidents(ctx, []uuid.UUID{me.ID, other.ID})
	if err != nil || len(devs[me.ID]) != 1 || devs[me.ID][0].Serial != mine || len(devs[other.ID]) != 0 {
		t.Fatalf("devices: %+v %v", devs, err)
	}
}
