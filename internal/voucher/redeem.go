package voucher

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/problem"
)

type keyRow struct {
	ProviderID     uuid.UUID
	IdempotencyKey string
	RequestHash    []byte
	RedemptionID   *uuid.UUID
	RemainingFen   *int64
	CreatedAt      time.Time
}

func (keyRow) TableName() string { return "redemption_keys" }

type ledgerRow struct {
	ID              uuid.UUID
	VoucherID       uuid.UUID
	Kind            string
	AmountFen       int64
	BalanceAfterFen int64
	RedemptionID    *uuid.UUID
	At              time.Time
}

func (ledgerRow) TableName() string { return "voucher_ledger" }

// RedeemInput is a provider's redemption request.
type RedeemInput struct {
	Token          string
	Category       Category
	AmountFen      int64
	ServiceDate    civil.Date
	IdempotencyKey string
	Note           *string
}

func (in *RedeemInput) hash() []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s\x00", in.Token, in.Category, in.AmountFen, in.ServiceDate)
	if in.Note != nil {
		fmt.Fprintf(h, "n%s", *in.Note)
	}
	return h.Sum(nil)
}

// Redeem pays for a service with the resident's vouchers (PROVIDER).
//
// The token is read from Redis first (reading does not consume it). Then
// one transaction: the idempotency row (a concurrent send of the same key
// blocks on it and then replays the winner's result) and the audit entry,
// with the provider, program and settlement-lock checks; and one statement
// that locks the vouchers, checks settlement and balance and writes the
// redemption (see redeemTx). The token is consumed by the redemption row
// itself, whose token hash is unique: it commits or rolls back with the
// payment, so a crash at any point leaves either a paid redemption whose
// key replays it, or nothing at all and a token still usable for the
// retry. Redis is told after the commit.
func (s *Service) Redeem(ctx context.Context, in RedeemInput) (*RedeemResult, error) {
	v, err := auth.RequireViewer(ctx, auth.Provider)
	if err != nil {
		return nil, err
	}
	if v.ProviderID == nil {
		return nil, problem.Forbidden("not a provider account")
	}
	pid := *v.ProviderID
	in.IdempotencyKey = strings.TrimSpace(in.IdempotencyKey)
	var errs problem.UserErrors
	if in.AmountFen <= 0 {
		errs = append(errs, problem.New(problem.Invalid, "amount must be positive", "input", "amountFen"))
	}
	if in.ServiceDate.IsZero() || in.ServiceDate.After(s.today()) {
		errs = append(errs, problem.New(problem.Invalid, "the service date cannot be in the future", "input", "serviceDate"))
	}
	if n := len(in.IdempotencyKey); n < 1 || n > 128 {
		errs = append(errs, problem.New(problem.Invalid, "idempotencyKey must be 1 to 128 characters", "input", "idempotencyKey"))
	}
	if in.Note != nil && len([]rune(*in.Note)) > 500 {
		errs = append(errs, problem.New(problem.Invalid, "note must be at most 500 characters", "input", "note"))
	}
	if len(in.Token) == 0 || len(in.Token) > 128 {
		errs = append(errs, problem.New(problem.TokenExpired, "this code is not valid", "input", "token"))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	hash := in.hash()
	// The token is read before the transaction (reading does not consume
	// it); if it is no longer live the key may still replay a redemption
	// that used it, so its error waits until the key was checked.
	tv, tokenErr := s.peekToken(ctx, in.Token)
	if errors.Is(tokenErr, problem.ErrUnavailable) {
		return nil, tokenErr
	}
	var (
		out      *RedeemResult
		replayed bool
	)
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		replayed = false
		var programID *uuid.UUID
		if tv != nil {
			programID = &tv.ProgramID
		}
		month := civil.MonthOf(in.ServiceDate)
		var (
			fresh, locked      bool
			provStatus         string
			provCats, progCats pq.StringArray
		)
		// The two statements of a redemption go to the transaction under
		// GORM directly (as emergency intake's do): GORM's statement
		// building and SQL rendering for its logger cost a few percent of
		// the server's CPU per redemption.
		//
		// One round trip: the idempotency row first (a concurrent send of
		// the same key waits here, then replays the winner's result), the
		// provider and the program, and the shared provider-month lock that
		// keeps a settlement confirmation out until this commits.
		// The redemption's id is chosen here so that its audit entry can
		// be written by the same statement (rolled back with everything
		// else if the redemption is then refused).
		redemptionID, st := newID(), audit.NewStamp(ctx)
		err := tx.Statement.ConnPool.QueryRowContext(ctx, keyAndChecksSQL, pid, in.IdempotencyKey, hash, s.now(), programID,
			settleLockName(pid, month), st.ID, st.At, st.ActorID, st.ActorKind, redemptionID, st.RequestID, in.AmountFen).
			Scan(&fresh, &provStatus, &provCats, &progCats, &locked)
		if errors.Is(err, sql.ErrNoRows) {
			return problem.Forbidden("not a provider account")
		}
		if err != nil {
			return database.Classify(fmt.Errorf("voucher: redeem: %w", err))
		}
		if !fresh {
			var k keyRow
			if err := tx.Where("provider_id = ? AND idempotency_key = ?", pid, in.IdempotencyKey).Take(&k).Error; err != nil {
				return database.Classify(err)
			}
			if !bytes.Equal(k.RequestHash, hash) || k.RedemptionID == nil {
				return problem.New(problem.IdempotencyMismatch, "this idempotency key was used with a different request", "input", "idempotencyKey")
			}
			r, err := redemptionByID(ctx, tx, *k.RedemptionID)
			out, replayed = &RedeemResult{Redemption: r, RemainingFen: deref(k.RemainingFen)}, true
			return err
		}
		switch {
		case tokenErr != nil:
			return tokenErr
		case provStatus != string(ProviderActive):
			return problem.Forbidden("the provider is suspended")
		case !Allows(toCategories(provCats), in.Category):
			return problem.New(problem.CategoryNotAllowed, "the provider is not contracted for this category", "input", "category")
		case !Allows(toCategories(progCats), in.Category):
			return problem.New(problem.CategoryNotAllowed, "the program does not pay for this category", "input", "category")
		}
		r, remaining, err := s.redeemTx(ctx, tx, redemptionID, pid, tv, in)
		if err != nil {
			return err
		}
		out = &RedeemResult{Redemption: r, RemainingFen: remaining}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !replayed {
		s.markUsed(in.Token)
	}
	return out, nil
}

// keyAndChecksSQL inserts the idempotency row and, when the key is new,
// the redemption's audit entry ($7–$12: the entry's id, time, actor id,
// actor kind, the redemption id and the request id; $13 the amount), and
// reads what the redemption is checked against; fresh is false when the
// key existed.
const keyAndChecksSQL = `
WITH k AS (
  INSERT INTO redemption_keys (provider_id, idempotency_key, request_hash, created_at) VALUES ($1, $2, $3, $4)
  ON CONFLICT DO NOTHING RETURNING 1
), a AS (
  ` + audit.Insert + `
  SELECT $7, $8, $9, $10, 'redeemVoucher', 'Redemption', $11, $12, jsonb_build_object('amountFen', $13::bigint) FROM k
)
SELECT EXISTS (SELECT 1 FROM k), p.status, p.categories, coalesce(g.categories, '{}'),
  pg_advisory_xact_lock_shared(hashtextextended($6, 20)) IS NOT NULL
FROM providers p LEFT JOIN voucher_programs g ON g.id = $5 WHERE p.id = $1`

// redeemTx writes the redemption with the given id (the key statement has
// already written its audit entry): one statement locks the resident's
// vouchers, checks settlement and balance, and writes everything, so the
// hot resident's voucher rows stay locked for that statement and the
// commit only.
func (s *Service) redeemTx(ctx context.Context, tx *gorm.DB, id, pid uuid.UUID, tv *tokenValue, in RedeemInput) (*Redemption, int64, error) {
	now := s.now()
	month := civil.MonthOf(in.ServiceDate)
	r := redemptionRow{ID: id, ProviderID: pid, ResidentID: tv.ResidentID, ProgramID: tv.ProgramID, Category: string(in.Category),
		AmountFen: in.AmountFen, ServiceDate: in.ServiceDate, Status: string(Completed), Note: in.Note, CreatedAt: now}
	var (
		wrote          int
		payable, total int64
		settled        bool
	)
	err := tx.Statement.ConnPool.QueryRowContext(ctx, redeemSQL, r.ID, pid, r.ResidentID, r.ProgramID, r.Category, r.AmountFen,
		r.ServiceDate, r.Note, now, tokenHash(in.Token), month.String(), in.IdempotencyKey).Scan(&wrote, &payable, &total, &settled)
	if err != nil {
		return nil, 0, database.Classify(fmt.Errorf("voucher: redemption: %w", err))
	}
	switch {
	case settled:
		return nil, 0, settledError(month)
	case payable < in.AmountFen:
		return nil, 0, problem.New(problem.InsufficientBalance,
			fmt.Sprintf("余额不足: %d fen spendable on that date, %d fen requested", payable, in.AmountFen), "input", "amountFen")
	case wrote == 0:
		// The token's hash is unique: a concurrent redemption with the same
		// token made this one wait and then committed first.
		return nil, 0, problem.New(problem.TokenUsed, "this code was already used; ask the resident for a new one", "input", "token")
	}
	return r.redemption(), total - in.AmountFen, nil
}

// redeemSQL is a redemption in one statement. v locks every ACTIVE voucher
// of the resident's program (in id order, as every writer locks them; a
// voucher changed by a transaction that committed while this waited is
// re-read at its new version). p are those valid on the service date,
// drawn earliest expiry first: before is what the earlier ones cover. The
// settlement check runs after the advisory lock was granted (an earlier
// statement), so it sees a confirmation that committed meanwhile. Nothing
// is written unless the month is open and the balance suffices, and
// nothing but the redemption row if its token hash is already taken. It
// returns whether the redemption was written, the payable and the whole
// balance before it, and whether the month is settled.
const redeemSQL = `
WITH v AS (
  SELECT id, balance_fen, valid_from, valid_until FROM vouchers
  WHERE resident_id = $3 AND program_id = $4 AND status = 'ACTIVE'
  ORDER BY id FOR UPDATE
),
p AS (
  SELECT id, balance_fen, sum(balance_fen) OVER (ORDER BY valid_until, id) - balance_fen AS before
  FROM v WHERE valid_from <= $7::date AND valid_until >= $7::date
),
t AS (
  SELECT (SELECT coalesce(sum(balance_fen), 0) FROM p) AS payable,
         (SELECT coalesce(sum(balance_fen), 0) FROM v) AS total,
         EXISTS (SELECT 1 FROM settlements WHERE provider_id = $2 AND month = $11) AS settled
),
r AS (
  INSERT INTO redemptions (id, provider_id, resident_id, program_id, category, amount_fen, service_date, status, note, created_at, token_hash)
  SELECT $1, $2, $3, $4, $5, $6::bigint, $7::date, 'COMPLETED', $8, $9::timestamptz, $10 FROM t WHERE NOT t.settled AND t.payable >= $6::bigint
  ON CONFLICT (token_hash) DO NOTHING
  RETURNING id
),
x AS MATERIALIZED (
  SELECT p.id, least(p.balance_fen, $6::bigint - p.before) AS take, p.balance_fen - least(p.balance_fen, $6::bigint - p.before) AS after, uuid_v7() AS entry_id
  FROM p, r WHERE p.before < $6::bigint AND p.balance_fen > 0
),
u AS (
  UPDATE vouchers SET balance_fen = x.after, status = CASE WHEN x.after = 0 THEN 'EXHAUSTED' ELSE 'ACTIVE' END, updated_at = $9::timestamptz
  FROM x WHERE vouchers.id = x.id
),
d AS (
  INSERT INTO redemption_draws (redemption_id, voucher_id, amount_fen) SELECT r.id, x.id, x.take FROM x, r
),
l AS (
  INSERT INTO voucher_ledger (id, voucher_id, kind, amount_fen, balance_after_fen, redemption_id, at)
  SELECT x.entry_id, x.id, 'REDEEM', -x.take, x.after, r.id, $9::timestamptz FROM x, r ORDER BY x.id
),
k AS (
  UPDATE redemption_keys SET redemption_id = r.id, remaining_fen = t.total - $6::bigint FROM r, t WHERE provider_id = $2 AND idempotency_key = $12
)
SELECT (SELECT count(*) FROM r), t.payable, t.total, t.settled FROM t`

// spendable is the resident's balance over ACTIVE vouchers of a program.
func spendable(ctx context.Context, tx *gorm.DB, residentID, programID uuid.UUID) (int64, error) {
	var n int64
	err := tx.WithContext(ctx).Raw("SELECT coalesce(sum(balance_fen), 0) FROM vouchers WHERE resident_id = ? AND program_id = ? AND status = 'ACTIVE'",
		residentID, programID).Row().Scan(&n)
	return n, database.Classify(err)
}

// checkNotSettled takes the provider-month lock (shared for redemptions and
// reversals, exclusive for confirmation) and refuses a confirmed month.
func (s *Service) checkNotSettled(ctx context.Context, tx *gorm.DB, pid uuid.UUID, m civil.Month, exclusive bool) error {
	fn := "pg_advisory_xact_lock_shared"
	if exclusive {
		fn = "pg_advisory_xact_lock"
	}
	if err := tx.Exec("SELECT "+fn+"(hashtextextended(?, 20))", settleLockName(pid, m)).Error; err != nil {
		return database.Classify(err)
	}
	var settled bool
	if err := tx.Raw("SELECT EXISTS (SELECT 1 FROM settlements WHERE provider_id = ? AND month = ?)", pid, m.String()).
		Row().Scan(&settled); err != nil {
		return database.Classify(err)
	}
	if settled {
		return settledError(m)
	}
	return nil
}

// settleLockName names the advisory lock of a provider's month.
func settleLockName(pid uuid.UUID, m civil.Month) string {
	return "settle:" + pid.String() + ":" + m.String()
}

func settledError(m civil.Month) error {
	return problem.New(problem.Settled, "结算已确认: the provider's month "+m.String()+" is settled and frozen", "input", "serviceDate")
}

// ReverseRedemption restores exactly what a redemption drew: the provider
// that made it within seven days, ADMIN at any time; never twice, never in
// a confirmed month.
func (s *Service) ReverseRedemption(ctx context.Context, id uuid.UUID, reason string) (*RedeemResult, error) {
	v, err := auth.RequireViewer(ctx, auth.Provider, auth.Admin)
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if n := len([]rune(reason)); n < 1 || n > 500 {
		return nil, problem.New(problem.Invalid, "a reason of 1 to 500 characters is required", "input", "reason")
	}
	var out *RedeemResult
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		var r redemptionRow
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&r).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return notFound("redemption", "input", "redemptionId")
			}
			return database.Classify(err)
		}
		now := s.now()
		if !v.Has(auth.Admin) {
			if v.ProviderID == nil || *v.ProviderID != r.ProviderID {
				return notFound("redemption", "input", "redemptionId")
			}
			if now.Sub(r.CreatedAt) > ReversalWindow {
				return problem.New(problem.InvalidTransition, "a provider may reverse its redemptions within 7 days only", "input", "redemptionId")
			}
		}
		if r.Status != string(Completed) {
			return problem.New(problem.InvalidTransition, "the redemption is already reversed", "input", "redemptionId")
		}
		if err := s.checkNotSettled(ctx, tx, r.ProviderID, civil.MonthOf(r.ServiceDate), false); err != nil {
			return err
		}
		if err := s.restoreDraws(ctx, tx, r.ID, now); err != nil {
			return err
		}
		if err := tx.Model(&redemptionRow{}).Where("id = ?", r.ID).Updates(map[string]any{
			"status": string(Reversed), "reversed_at": now, "reverse_reason": reason}).Error; err != nil {
			return database.Classify(err)
		}
		if err := audit.Record(ctx, tx, "reverseRedemption", "Redemption", &r.ID, nil); err != nil {
			return err
		}
		r.Status, r.ReversedAt, r.ReverseReason = string(Reversed), &now, &reason
		remaining, err := spendable(ctx, tx, r.ResidentID, r.ProgramID)
		out = &RedeemResult{Redemption: r.redemption(), RemainingFen: remaining}
		return err
	})
	return out, err
}

// restoreDraws gives back each draw to its voucher (locked in id order). A
// voucher that expired meanwhile gets the amount back and at once an
// EXPIRE entry for it, so expired money never becomes spendable again.
func (s *Service) restoreDraws(ctx context.Context, tx *gorm.DB, redemptionID uuid.UUID, now time.Time) error {
	var rows []struct {
		ID         uuid.UUID
		BalanceFen int64
		Status     string
		AmountFen  int64
	}
	if err := tx.Raw(`SELECT v.id, v.balance_fen, v.status, d.amount_fen FROM vouchers v
		JOIN redemption_draws d ON d.voucher_id = v.id AND d.redemption_id = ?
		ORDER BY v.id FOR UPDATE OF v`, redemptionID).Scan(&rows).Error; err != nil {
		return database.Classify(err)
	}
	var entries []ledgerRow
	for _, x := range rows {
		back := x.BalanceFen + x.AmountFen
		entries = append(entries, ledgerRow{ID: newID(), VoucherID: x.ID, Kind: string(Reverse), AmountFen: x.AmountFen,
			BalanceAfterFen: back, RedemptionID: &redemptionID, At: now})
		if x.Status == string(Expired) || x.Status == string(Voided) {
			kind := Expire
			if x.Status == string(Voided) {
				kind = Void
			}
			entries = append(entries, ledgerRow{ID: newID(), VoucherID: x.ID, Kind: string(kind), AmountFen: -x.AmountFen,
				BalanceAfterFen: x.BalanceFen, RedemptionID: &redemptionID, At: now})
			continue
		}
		if err := tx.Exec("UPDATE vouchers SET balance_fen = ?, status = 'ACTIVE', updated_at = ? WHERE id = ?", back, now, x.ID).Error; err != nil {
			return database.Classify(err)
		}
	}
	if len(entries) == 0 {
		return nil
	}
	return database.Classify(tx.Create(&entries).Error)
}
