package application

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/resident"
)

// LifeEvents is the application domain's part of a death or a move out
// (resident.Consequence): the resident's open applications are withdrawn
// (WITHDRAW is allowed from every open status), each with an event whose
// note says why.
type LifeEvents struct{}

// CloseFor withdraws the open applications.
func (LifeEvents) CloseFor(ctx context.Context, tx *gorm.DB, ev resident.LifeEvent) (map[string]int64, error) {
	var open []struct {
		ID     uuid.UUID
		Status string
	}
	if err := tx.WithContext(ctx).Table("applications").Select("id, status").Clauses(clause.Locking{Strength: "UPDATE"}).
		Where("applicant_id = ? AND status IN ?", ev.ResidentID, OpenStatuses).Order("id").Find(&open).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("application: open of resident: %w", err))
	}
	if len(open) == 0 {
		return map[string]int64{"applicationsWithdrawn": 0}, nil
	}
	note := "居民已死亡，申请自动撤回 (the applicant died): " + ev.Detail
	if ev.Kind == resident.MoveOut {
		note = "居民已迁出本区，申请自动撤回 (the applicant moved out of the district): " + ev.Detail
	}
	actorKind, actorName := "SYSTEM", "系统"
	var actorID uuid.UUID
	if v := auth.ViewerFrom(ctx); v != nil {
		actorKind, actorID, actorName = string(v.Kind), v.ID, v.DisplayName
	}
	ids := make([]uuid.UUID, len(open))
	events := make([]eventRow, len(open))
	for i, a := range open {
		ids[i] = a.ID
		events[i] = eventRow{ID: uuid.Must(uuid.NewV7()), ApplicationID: a.ID, Action: string(Withdraw), FromStatus: a.Status,
			ToStatus: string(Withdrawn), ActorKind: actorKind, ActorID: actorID, ActorName: actorName, Note: &note, At: ev.RecordedAt,
			Visibility: string(VisibleToApplicant)} // the applicant is told why
	}
	if err := tx.WithContext(ctx).Exec("UPDATE applications SET status = ?, updated_at = ? WHERE id IN ?", Withdrawn, ev.RecordedAt, ids).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("application: withdraw: %w", err))
	}
	if err := tx.WithContext(ctx).Create(&events).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("application: withdraw events: %w", err))
	}
	return map[string]int64{"applicationsWithdrawn": int64(len(open))}, nil
}
