package voucher

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/periodic"
)

// expiryLockKey is the advisory lock that keeps the expiry job on one instance.
const expiryLockKey = 7_020_001

// expireChunk is how many vouchers one chunk of the expiry job expires.
const expireChunk = 5000

// expireSQL expires one chunk of ACTIVE vouchers past their validity: the
// next $5 after the keyset position ($3, $4) in the order of the partial
// index vouchers_expiry_idx (valid_until, id), so a chunk reads only its
// own rows, however many chunks came before (ordering by id alone had every
// chunk sort all expired vouchers left, and step over the index entries of
// those expired before it). Rows a redemption holds are skipped (the next
// run of the job takes them). Each expired voucher gets an EXPIRE entry for
// what was left. It returns how many expired, how many the chunk read, and
// the chunk's last position.
const expireSQL = `
WITH v AS (
  SELECT id, balance_fen, valid_until FROM vouchers
  WHERE status = 'ACTIVE' AND valid_until < $1::date AND (valid_until, id) > ($3::date, $4::uuid)
  ORDER BY valid_until, id LIMIT $5 FOR UPDATE SKIP LOCKED
),
u AS (
  UPDATE vouchers SET status = 'EXPIRED', balance_fen = 0, updated_at = $2
  FROM v WHERE vouchers.id = v.id
  RETURNING vouchers.id, v.balance_fen AS old
),
l AS (
  INSERT INTO voucher_ledger (id, voucher_id, kind, amount_fen, balance_after_fen, at)
  SELECT uuid_v7(), u.id, 'EXPIRE', -u.old, 0, $2 FROM u WHERE u.old > 0
),
last AS (SELECT valid_until, id FROM v ORDER BY valid_until DESC, id DESC LIMIT 1)
SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM v),
  coalesce((SELECT valid_until FROM last), $3::date), coalesce((SELECT id FROM last), $4::uuid)`

// ExpireVouchers runs the expiry job once: under a session advisory lock
// (another instance running it makes this call a no-op), it expires every
// ACTIVE voucher whose validity ended before today in Asia/Shanghai
// (by the app clock), in chunks of expireChunk, each statement its own
// transaction (a crash loses at most the chunk under way, and the next run
// finds what is left). It returns how many vouchers expired.
func (s *Service) ExpireVouchers(ctx context.Context) (total int, err error) {
	_, err = database.Exclusively(ctx, s.db, expiryLockKey, func(conn *sql.Conn) error {
		today := civil.DateOf(s.now()).String()
		after, afterID := "0001-01-01", uuid.Nil
		for {
			var n, read int
			var until time.Time
			if err := conn.QueryRowContext(ctx, expireSQL, today, s.now(), after, afterID, expireChunk).Scan(&n, &read, &until, &afterID); err != nil {
				return database.Classify(fmt.Errorf("voucher: expire: %w", err))
			}
			after = until.Format(time.DateOnly)
			total += n
			if read < expireChunk {
				return nil
			}
		}
	})
	return total, err
}

// RunExpiry runs ExpireVouchers every interval (first after one interval)
// until ctx ends.
func (s *Service) RunExpiry(ctx context.Context, interval time.Duration) {
	periodic.Every(ctx, interval, false, nil, func(ctx context.Context) {
		if n, err := s.ExpireVouchers(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("voucher expiry failed", "err", err.Error())
		} else if n > 0 {
			s.log.Info("vouchers expired", "count", n)
		}
	})
}
