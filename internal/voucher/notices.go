package voucher

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/notify"
	"github.com/jinjiang/residents/internal/periodic"
)

// The notices of the voucher domain: vouchers issued (in each issuance
// chunk's transaction), expiring within seven days (a chunked job), and a
// receipt for every redemption (written by the redemption statement
// itself: redeem.sql's n, receiptSQL).

// notifyIssued queues, inside an issuance chunk's transaction, the notice
// to the residents of (after, last] who got the period's voucher in it.
func notifyIssued(ctx context.Context, tx *gorm.DB, program uuid.UUID, period string, after uuid.UUID, last *uuid.UUID, now time.Time) error {
	if last == nil {
		return nil
	}
	var ids []uuid.UUID
	if err := tx.WithContext(ctx).Raw(`SELECT resident_id FROM vouchers WHERE program_id = ? AND period = ?
		AND resident_id > ? AND resident_id <= ? AND created_at = ?`, program, period, after, *last, now).Scan(&ids).Error; err != nil {
		return database.Classify(fmt.Errorf("voucher: issued notices: %w", err))
	}
	return notify.ForResidents(ctx, tx, notify.VouchersIssued, ids, map[string]any{"programId": program, "period": period}, now)
}

// ExpiryNoticeDays is how far ahead holders are told of an expiry.
const ExpiryNoticeDays = 7

// expiryNoticeChunk is how many vouchers one notice transaction takes.
const expiryNoticeChunk = 1000

// NoticeExpiring queues, chunk by chunk (each one transaction), a notice
// for every active voucher with a balance that expires within
// ExpiryNoticeDays and was not noticed yet; it answers how many vouchers
// it noticed. Instances running it at once take disjoint chunks.
func (s *Service) NoticeExpiring(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.noticeExpiringChunk(ctx)
		total += n
		if err != nil || n < expiryNoticeChunk {
			return total, err
		}
	}
}

func (s *Service) noticeExpiringChunk(ctx context.Context) (int, error) {
	now := s.now()
	today := civil.DateOf(now)
	n := 0
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		var rows []struct {
			ResidentID uuid.UUID
			ValidUntil time.Time
		}
		err := tx.WithContext(ctx).Raw(`
WITH c AS (
  SELECT id FROM vouchers
   WHERE status = 'ACTIVE' AND expiry_noticed_at IS NULL AND balance_fen > 0
     AND valid_until >= ?::date AND valid_until < ?::date
   ORDER BY valid_until, id LIMIT ? FOR UPDATE SKIP LOCKED
)
UPDATE vouchers v SET expiry_noticed_at = ? FROM c WHERE v.id = c.id
RETURNING v.resident_id, v.valid_until`, today.String(), today.AddDays(ExpiryNoticeDays+1).String(), expiryNoticeChunk, now).Scan(&rows).Error
		if err != nil {
			return database.Classify(fmt.Errorf("voucher: expiring: %w", err))
		}
		n = len(rows)
		// One set-based enqueue per expiry date (monthly vouchers share one).
		byDay := map[string][]uuid.UUID{}
		for _, r := range rows {
			d := r.ValidUntil.Format("2006-01-02")
			byDay[d] = append(byDay[d], r.ResidentID)
		}
		for d, ids := range byDay {
			if err := notify.ForResidents(ctx, tx, notify.VouchersExpiring, dedupe(ids), map[string]any{"expiresOn": d}, now); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

func dedupe(ids []uuid.UUID) []uuid.UUID {
	seen := make(map[uuid.UUID]bool, len(ids))
	out := ids[:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// RunExpiryNotices runs NoticeExpiring every interval until ctx ends.
func (s *Service) RunExpiryNotices(ctx context.Context, interval time.Duration) {
	periodic.Every(ctx, interval, true, nil, func(ctx context.Context) {
		if n, err := s.NoticeExpiring(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("voucher expiry notices failed", "err", err.Error())
		} else if n > 0 {
			s.log.Info("voucher expiry notices queued", "vouchers", n)
		}
	})
}
