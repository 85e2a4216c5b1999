package emergency_test

import (
	"context"
	"testing"

	"github.com/jinjiang/residents/internal/emergency"
	"github.com/jinjiang/residents/internal/seed"
	"github.com/jinjiang/residents/internal/testenv"
)

func TestSeedDemoDevices(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	count := func() int64 {
		var n int64
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM emergency_devices WHERE serial LIKE 'DEMO-%'", nil, &n)
		return n
	}
	t.Run("outside demo mode nothing happens", func(t *testing.T) {
		insertResident(t, e, testenv.ResidentSpec{})
		before := count()
		if err := emergency.SeedDemoDevices(ctx, e.DB, seed.Options{}); err != nil || count() != before {
			t.Fatalf("err %v, devices %d", err, count())
		}
	})
	t.Run("idempotent with residents", func(t *testing.T) {
		insertResident(t, e, testenv.ResidentSpec{})
		insertResident(t, e, testenv.ResidentSpec{})
		for i := 0; i < 2; i++ {
			if err := emergency.SeedDemoDevices(ctx, e.DB, seed.Options{Demo: true}); err != nil {
				t.Fatal(err)
			}
			if count() != 3 {
				t.Fatalf("run %d: %d demo devices, want 3", i, count())
			}
		}
	})
}
