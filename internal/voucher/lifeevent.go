package voucher

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/resident"
)

// LifeEvents is the voucher domain's part of a death or a move out
// (resident.Consequence): the resident's remaining vouchers are voided,
// each with a VOID ledger entry for what was left (so issued = spent +
// remaining + expired + voided still holds, CheckBooks), and their
// enrollments end (moved to voucher_enrollments_ended, named by the event).
// An undone death re-enrolls; the voided vouchers stay voided.
type LifeEvents struct{ s *Service }

// LifeEvents returns the consequence to register with the registry.
func (s *Service) LifeEvents() LifeEvents { return LifeEvents{s} }

// voidSQL voids every ACTIVE voucher of the resident. The vouchers are
// locked in id order, like a redemption locks those it draws, so a
// redemption under way finishes first (and the void takes what it left)
// or waits and then finds nothing spendable.
const voidSQL = `
WITH v AS (
  SELECT id, balance_fen FROM vouchers WHERE resident_id = @resident AND status = 'ACTIVE' ORDER BY id FOR UPDATE
),
u AS (
  UPDATE vouchers SET status = 'VOIDED', balance_fen = 0, updated_at = @now
  FROM v WHERE vouchers.id = v.id
  RETURNING vouchers.id, v.balance_fen AS old
),
l AS (
  INSERT INTO voucher_ledger (id, voucher_id, kind, amount_fen, balance_after_fen, at)
  SELECT uuid_v7(), u.id, 'VOID', -u.old, 0, @now FROM u WHERE u.old > 0
)
SELECT (SELECT count(*) FROM u), (SELECT coalesce(sum(old), 0) FROM u)`

// endEnrollmentsSQL moves the resident's enrollments to the ended ones.
const endEnrollmentsSQL = `
WITH d AS (DELETE FROM voucher_enrollments WHERE resident_id = @resident RETURNING program_id, enrolled_at)
INSERT INTO voucher_enrollments_ended (program_id, resident_id, enrolled_at, ended_at, life_event_id)
SELECT program_id, @resident, enrolled_at, @now, @event FROM d`

// reenrollSQL moves back the enrollments an event ended.
const reenrollSQL = `
WITH d AS (DELETE FROM voucher_enrollments_ended WHERE life_event_id = @event RETURNING program_id, resident_id, enrolled_at)
INSERT INTO voucher_enrollments (program_id, resident_id, enrolled_at)
SELECT program_id, resident_id, enrolled_at FROM d ON CONFLICT DO NOTHING`

// CloseFor voids the vouchers and ends the enrollments.
func (l LifeEvents) CloseFor(ctx context.Context, tx *gorm.DB, ev resident.LifeEvent) (map[string]int64, error) {
	args := map[string]any{"resident": ev.ResidentID, "now": ev.RecordedAt, "event": ev.ID}
	var n, fen int64
	if err := tx.WithContext(ctx).Raw(voidSQL, args).Row().Scan(&n, &fen); err != nil {
		return nil, database.Classify(fmt.Errorf("voucher: void: %w", err))
	}
	res := tx.WithContext(ctx).Exec(endEnrollmentsSQL, args)
	if res.Error != nil {
		return nil, database.Classify(fmt.Errorf("voucher: end enrollments: %w", res.Error))
	}
	return map[string]int64{"vouchersVoided": n, "voidedFen": fen, "enrollmentsEnded": res.RowsAffected}, nil
}

// ReopenFor re-enrolls the resident where the event ended enrollments.
func (l LifeEvents) ReopenFor(ctx context.Context, tx *gorm.DB, ev resident.LifeEvent) (map[string]int64, error) {
	res := tx.WithContext(ctx).Exec(reenrollSQL, map[string]any{"event": ev.ID})
	if res.Error != nil {
		return nil, database.Classify(fmt.Errorf("voucher: re-enroll: %w", res.Error))
	}
	return map[string]int64{"enrollmentsRestored": res.RowsAffected}, nil
}
