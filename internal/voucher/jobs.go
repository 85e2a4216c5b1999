package voucher

import (
	"context"
	"fmt"
	"time"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
)

// expiryLockKey is the advisory lock that keeps the expiry job on one instance.
const expiryLockKey = 7_020_001

// expireSQL expires one batch of ACTIVE vouchers past their validity,
// skipping rows a redemption holds (they are taken by the next batch), and
// writes an EXPIRE entry for what was left.
const expireSQL = `
WITH v AS (
  SELECT id, balance_fen FROM vouchers
  WHERE status = 'ACTIVE' AND valid_until < $1::date
  ORDER BY id LIMIT 5000 FOR UPDATE SKIP LOCKED
),
u AS (
  UPDATE vouchers SET status = 'EXPIRED', balance_fen = 0, updated_at = $2
  FROM v WHERE vouchers.id = v.id
  RETURNING vouchers.id, v.balance_fen AS old
),
l AS (
  INSERT INTO voucher_ledger (id, voucher_id, kind, amount_fen, balance_after_fen, at)
  SELECT uuid_v7(), u.id, 'EXPIRE', -u.old, 0, $2 FROM u WHERE u.old > 0
)
SELECT count(*) FROM u`

// ExpireVouchers runs the expiry job once: under a session advisory lock
// (another instance running it makes this call a no-op), it expires every
// ACTIVE voucher whose validity ended before today in Asia/Shanghai
// (by the app clock). It returns how many vouchers expired.
func (s *Service) ExpireVouchers(ctx context.Context) (int, error) {
	conn, err := database.SQL(s.db).Conn(ctx)
	if err != nil {
		return 0, database.Classify(err)
	}
	defer conn.Close()
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", expiryLockKey).Scan(&got); err != nil {
		return 0, database.Classify(err)
	}
	if !got {
		return 0, nil
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", expiryLockKey)
	today := civil.DateOf(s.now()).String()
	total := 0
	for {
		var n int
		if err := conn.QueryRowContext(ctx, expireSQL, today, s.now()).Scan(&n); err != nil {
			return total, database.Classify(fmt.Errorf("voucher: expire: %w", err))
		}
		total += n
		if n == 0 {
			return total, nil
		}
	}
}

// RunExpiry runs ExpireVouchers every interval (first after one interval)
// until ctx ends.
func (s *Service) RunExpiry(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := s.ExpireVouchers(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("voucher expiry failed", "err", err.Error())
		} else if n > 0 {
			s.log.Info("vouchers expired", "count", n)
		}
	}
}
