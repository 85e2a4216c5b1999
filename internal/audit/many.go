package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/auth"
)

// RecordMany appends one entry per entity id for the viewer in ctx, in a
// single statement (e.g. every full ID number one request read). detail
// must not hold personal data.
func RecordMany(ctx context.Context, tx *gorm.DB, action Action, entity Entity, ids []uuid.UUID, detail map[string]any) error {
	if len(ids) == 0 {
		return nil
	}
	var raw []byte
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		raw = b
	}
	v := auth.ViewerFrom(ctx)
	now := time.Now().UTC()
	rows := make([]row, len(ids))
	for i := range ids {
		r := row{ID: uuid.Must(uuid.NewV7()), At: now, Action: string(action), Entity: string(entity), EntityID: &ids[i], RequestID: auth.RequestID(ctx), Detail: raw, ActorKind: "SYSTEM"}
		if v != nil {
			r.ActorID, r.ActorKind = v.ID, string(v.Kind)
		}
		rows[i] = r
	}
	if err := tx.WithContext(ctx).Create(&rows).Error; err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}
