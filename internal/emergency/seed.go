package emergency

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/seed"
)

// demoDeviceKinds are given to the first residents, one device each.
var demoDeviceKinds = []DeviceKind{ButtonBox, Wearable, FixedPhone}

// SeedDemoDevices binds a few demo devices (serials DEMO-0001…) to the
// first residents. Idempotent; does nothing without residents or outside
// demo mode.
func SeedDemoDevices(ctx context.Context, db *gorm.DB, opt seed.Options) error {
	if !opt.Demo {
		return nil
	}
	err := db.WithContext(ctx).Exec(`
		INSERT INTO emergency_devices (id, serial, kind, resident_id)
		SELECT uuid_v7(), 'DEMO-' || lpad(r.n::text, 4, '0'), (?::text[])[r.n], r.id
		  FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM resident_facts ORDER BY id LIMIT ?) r
		ON CONFLICT (serial) DO NOTHING`, kindsArray(), len(demoDeviceKinds)).Error
	if err != nil {
		return fmt.Errorf("emergency: seed devices: %w", err)
	}
	return nil
}

func kindsArray() string {
	s := "{"
	for i, k := range demoDeviceKinds {
		if i > 0 {
			s += ","
		}
		s += string(k)
	}
	return s + "}"
}
