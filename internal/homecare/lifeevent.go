package homecare

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/resident"
)

// LifeEvents is the home-care domain's part of a death or a move out
// (resident.Consequence): the resident's orders not yet confirmed
// (requested, assigned, or visited but never confirmed by the elder) are
// cancelled, the event being the reason. A confirmed or paid visit stays:
// it happened, and its money moved through the ledger. An undone death
// does not bring the orders back; the counter books them again.
type LifeEvents struct{}

// CloseFor cancels the resident's open orders.
func (LifeEvents) CloseFor(ctx context.Context, tx *gorm.DB, ev resident.LifeEvent) (map[string]int64, error) {
	reason := "居民迁出，工单自动取消"
	if ev.Kind == resident.Death {
		reason = "居民死亡，工单自动取消"
	}
	res := tx.WithContext(ctx).Exec(`UPDATE service_orders SET status = ?, cancelled_at = ?, cancel_reason = ?
		WHERE resident_id = ? AND status IN (?, ?, ?, ?)`, string(Cancelled), ev.RecordedAt, reason, ev.ResidentID,
		string(Requested), string(Assigned), string(CheckedIn), string(CheckedOut))
	if res.Error != nil {
		return nil, database.Classify(fmt.Errorf("homecare: cancel orders: %w", res.Error))
	}
	return map[string]int64{"serviceOrdersCancelled": res.RowsAffected}, nil
}
