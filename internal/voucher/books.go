package voucher

import (
	"context"
	"database/sql"
	"fmt"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
)

// Books is the district-wide state of the voucher books.
type Books struct {
	IssuedFen, SpentFen, RemainingFen, ExpiredFen, VoidedFen int64
	Redemptions, Keys                                        int64
}

// CheckBooks reconciles the voucher books and returns every violation of
// their invariants: each voucher's balance is the sum of its ledger and
// never negative; each entry's balance_after is the running sum; money in
// equals money out (issued = spent + remaining + expired + voided); each
// idempotency key names exactly one redemption and each redemption has
// exactly one key; each redemption's REDEEM entries took exactly its
// amount, and completed redemptions add up to what the ledger spent.
// An empty list means the books balance. Tests and the fault drills run
// it; an operator can run it against a restored backup.
//
// Its statements read one snapshot (a read-only REPEATABLE READ
// transaction), so it can run against a live database: read one by one, a
// redemption committed between counting the keys and counting the
// redemptions would look like a redemption without a key.
func CheckBooks(ctx context.Context, db *gorm.DB) (b Books, bad []string, err error) {
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var e error
		b, bad, e = checkBooks(ctx, tx)
		return e
	}, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	return b, bad, err
}

func checkBooks(ctx context.Context, db *gorm.DB) (Books, []string, error) {
	var (
		b    Books
		bad  []string
		errs []error
	)
	scan := func(dst []any, q string, args ...any) {
		if err := db.WithContext(ctx).Raw(q, args...).Row().Scan(dst...); err != nil {
			errs = append(errs, err)
		}
	}
	var n int64
	scan([]any{&n}, `SELECT count(*) FROM vouchers v
		WHERE v.balance_fen < 0 OR v.balance_fen <> (SELECT coalesce(sum(amount_fen), 0) FROM voucher_ledger l WHERE l.voucher_id = v.id)`)
	if n > 0 {
		bad = append(bad, fmt.Sprintf("%d vouchers whose balance is negative or differs from their ledger", n))
	}
	scan([]any{&n}, `SELECT count(*) FROM (
		SELECT balance_after_fen, sum(amount_fen) OVER (PARTITION BY voucher_id ORDER BY seq) AS running FROM voucher_ledger) x
		WHERE balance_after_fen <> running`)
	if n > 0 {
		bad = append(bad, fmt.Sprintf("%d ledger entries whose balance_after is not the running sum", n))
	}
	scan([]any{&b.IssuedFen, &b.SpentFen, &b.ExpiredFen, &b.VoidedFen}, `SELECT
		coalesce(sum(amount_fen) FILTER (WHERE kind = 'ISSUE'), 0),
		-coalesce(sum(amount_fen) FILTER (WHERE kind IN ('REDEEM', 'REVERSE')), 0),
		-coalesce(sum(amount_fen) FILTER (WHERE kind = 'EXPIRE'), 0),
		-coalesce(sum(amount_fen) FILTER (WHERE kind = 'VOID'), 0)
		FROM voucher_ledger`)
	scan([]any{&b.RemainingFen}, "SELECT coalesce(sum(balance_fen), 0) FROM vouchers")
	if b.IssuedFen != b.SpentFen+b.RemainingFen+b.ExpiredFen+b.VoidedFen {
		bad = append(bad, fmt.Sprintf("issued %d fen != spent %d + remaining %d + expired %d + voided %d",
			b.IssuedFen, b.SpentFen, b.RemainingFen, b.ExpiredFen, b.VoidedFen))
	}
	var distinct int64
	scan([]any{&b.Keys, &distinct}, "SELECT count(*), count(DISTINCT redemption_id) FROM redemption_keys")
	scan([]any{&b.Redemptions}, "SELECT count(*) FROM redemptions")
	if b.Keys != b.Redemptions || distinct != b.Redemptions {
		bad = append(bad, fmt.Sprintf("%d idempotency keys naming %d distinct redemptions, %d redemptions", b.Keys, distinct, b.Redemptions))
	}
	scan([]any{&n}, `SELECT count(*) FROM redemptions r LEFT JOIN (
		SELECT redemption_id, -sum(amount_fen) AS took FROM voucher_ledger WHERE kind = 'REDEEM' GROUP BY redemption_id) l
		ON l.redemption_id = r.id WHERE coalesce(l.took, 0) <> r.amount_fen`)
	if n > 0 {
		bad = append(bad, fmt.Sprintf("%d redemptions whose REDEEM ledger entries do not add up to their amount", n))
	}
	var completed int64
	scan([]any{&completed}, "SELECT coalesce(sum(amount_fen), 0) FROM redemptions WHERE status = 'COMPLETED'")
	if completed != b.SpentFen {
		bad = append(bad, fmt.Sprintf("completed redemptions %d fen, spent by the ledger %d fen", completed, b.SpentFen))
	}
	if len(errs) > 0 {
		return b, bad, database.Classify(errs[0])
	}
	return b, bad, nil
}
