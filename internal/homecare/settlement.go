package homecare

import (
	"context"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// Hold counts a provider's visits of month m that keep the month from
// being confirmed: an open anomaly flag, or an open dispute. The voucher
// domain asks it inside the confirmation's transaction
// (voucher.SetSettlementHold).
func (s *Service) Hold(ctx context.Context, tx *gorm.DB, providerID uuid.UUID, m civil.Month) (int, error) {
	var n int
	err := tx.WithContext(ctx).Raw(`SELECT count(*) FROM service_orders o WHERE o.provider_id = ?
		AND coalesce(o.service_date, o.scheduled_date) BETWEEN ? AND ?
		AND (o.status = 'DISPUTED' OR EXISTS (SELECT 1 FROM service_order_flags g WHERE g.order_id = o.id AND g.status = 'OPEN'))`,
		providerID, m.First(), m.Last()).Scan(&n).Error
	return n, database.Classify(err)
}

// SettlementVisits lists a provider's visits of a month that were
// confirmed (paid, held for review, disputed, or reversed), with their
// flags and disputes: the settlement's lines, each pointing at its visit.
func (s *Service) SettlementVisits(ctx context.Context, providerID uuid.UUID, month string) ([]*Order, error) {
	v, err := policy.Require(ctx, policy.ReadSettlements)
	if err != nil {
		return nil, err
	}
	if !policy.ScopeOf(v, policy.ReadSettlements).OwnProvider(providerID) {
		return nil, problem.Forbidden("a provider sees only its own settlement")
	}
	m, err := civil.ParseMonth(month)
	if err != nil {
		return nil, problem.BadInput("month must be YYYY-MM")
	}
	var rows []orderRow
	if err := s.db.WithContext(ctx).Where("provider_id = ? AND service_date BETWEEN ? AND ? AND confirmed_at IS NOT NULL",
		providerID, m.First(), m.Last()).Order("service_date, id").Limit(5000).Find(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	out := make([]*Order, len(rows))
	for i := range rows {
		out[i] = rows[i].order()
	}
	return out, s.attach(ctx, s.db, out)
}
