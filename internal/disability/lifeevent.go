package disability

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/resident"
)

// LifeEvents is the disability domain's part of a death or a move out
// (resident.Consequence): the resident's open services (REQUESTED,
// SCHEDULED: both may become CANCELLED, serviceMoves) are cancelled.
type LifeEvents struct{}

// CloseFor cancels the open services.
func (LifeEvents) CloseFor(ctx context.Context, tx *gorm.DB, ev resident.LifeEvent) (map[string]int64, error) {
	res := tx.WithContext(ctx).Exec(`UPDATE disability_services SET status = ?, updated_at = ?
		WHERE resident_id = ? AND status IN (?, ?)`, Cancelled, ev.RecordedAt, ev.ResidentID, Requested, Scheduled)
	if res.Error != nil {
		return nil, database.Classify(fmt.Errorf("disability: cancel services: %w", res.Error))
	}
	return map[string]int64{"disabilityServicesCancelled": res.RowsAffected}, nil
}
