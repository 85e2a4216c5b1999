package emergency

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/resident"
)

// LifeEvents is the emergency domain's part of a death or a move out
// (resident.Consequence): the resident's devices are deactivated, so an
// alarm from one no longer finds the resident (intake falls back to the
// caller number), and an undone death reactivates those it deactivated.
type LifeEvents struct{}

// CloseFor deactivates the devices.
func (LifeEvents) CloseFor(ctx context.Context, tx *gorm.DB, ev resident.LifeEvent) (map[string]int64, error) {
	res := tx.WithContext(ctx).Exec(`UPDATE emergency_devices SET deactivated_at = ?, deactivated_by_event = ?
		WHERE resident_id = ? AND deactivated_at IS NULL`, ev.RecordedAt, ev.ID, ev.ResidentID)
	if res.Error != nil {
		return nil, database.Classify(fmt.Errorf("emergency: deactivate devices: %w", res.Error))
	}
	return map[string]int64{"devicesDeactivated": res.RowsAffected}, nil
}

// ReopenFor reactivates the devices the event deactivated.
func (LifeEvents) ReopenFor(ctx context.Context, tx *gorm.DB, ev resident.LifeEvent) (map[string]int64, error) {
	res := tx.WithContext(ctx).Exec(`UPDATE emergency_devices SET deactivated_at = NULL, deactivated_by_event = NULL
		WHERE deactivated_by_event = ?`, ev.ID)
	if res.Error != nil {
		return nil, database.Classify(fmt.Errorf("emergency: reactivate devices: %w", res.Error))
	}
	return map[string]int64{"devicesReactivated": res.RowsAffected}, nil
}
