package voucher

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

type keyRow struct {
	ProviderID     uuid.UUID
	IdempotencyKey string
	RequestHash    []byte
	RedemptionID   *uuid.UUID
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
// the whole redemption is one autocommit statement (redeemSQL): the
// idempotency row, the audit entry, the provider, program and settlement
// checks, the vouchers locked and drawn, the redemption and its ledger
// entries. A refusal raises an error in the statement, so it leaves
// nothing written. The token is consumed by the redemption row itself,
// whose token hash is unique: it commits or rolls back with the payment,
// so a crash at any point leaves either a paid redemption whose key
// replays it, or nothing at all and a token still usable for the retry.
// Redis is told after the commit.
func (s *Service) Redeem(ctx context.Context, in RedeemInput) (*RedeemResult, error) {
	v, err := policy.Require(ctx, policy.RedeemVoucher)
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
	// Reading the token does not consume it. A token no longer live may
	// still belong to the redemption this key replays, so its error waits
	// until the key was looked up.
	tv, err := s.peekToken(ctx, in.Token)
	if errors.Is(err, problem.ErrUnavailable) {
		return nil, err
	}
	if err != nil {
		out, rerr := s.replay(ctx, pid, in.IdempotencyKey, hash)
		if rerr != nil || out != nil {
			return out, rerr
		}
		return nil, err
	}
	var out *RedeemResult
	err = database.Retry(ctx, func() error {
		var e error
		out, e = s.redeemOnce(ctx, pid, tv, in, hash)
		return e
	})
	if err != nil {
		return nil, err
	}
	if out == nil { // the key existed: answer what it answered
		out, err = s.replay(ctx, pid, in.IdempotencyKey, hash)
		if err == nil && out == nil {
			err = fmt.Errorf("voucher: redeem: the key %q conflicted but is not there", in.IdempotencyKey)
		}
		return out, err
	}
	s.markUsed(in.Token)
	return out, nil
}

// redeemOnce runs redeemSQL; it returns nil and no error when the key
// existed already (the caller replays it).
func (s *Service) redeemOnce(ctx context.Context, pid uuid.UUID, tv *tokenValue, in RedeemInput, hash []byte) (*RedeemResult, error) {
	now, month := s.now(), civil.MonthOf(in.ServiceDate)
	r := redemptionRow{ID: newID(), ProviderID: pid, ResidentID: tv.ResidentID, ProgramID: tv.ProgramID, Category: string(in.Category),
		AmountFen: in.AmountFen, ServiceDate: in.ServiceDate, Status: string(Completed), Note: in.Note, CreatedAt: now}
	st := audit.NewStamp(ctx)
	var (
		outcome string
		total   int64
	)
	// Straight to the pool, not through GORM's statement builder (as
	// emergency intake does): its building and the SQL it renders for its
	// logger cost a few percent of the server's CPU per redemption.
	err := database.SQL(s.db).QueryRowContext(ctx, redeemSQL,
		pid, in.IdempotencyKey, hash, now, r.ProgramID, settleLockName(pid, month),
		st.ID, st.At, st.ActorID, st.ActorKind, r.ID, st.RequestID,
		r.AmountFen, r.ResidentID, r.Category, r.ServiceDate, r.Note, tokenHash(in.Token), month.String()).
		Scan(&outcome, &total)
	if err != nil {
		return nil, refusal(err, month, in.AmountFen)
	}
	if outcome == "replay" {
		return nil, nil
	}
	remaining := total - in.AmountFen
	r.BalanceAfterFen = &remaining
	return &RedeemResult{Redemption: r.redemption(), RemainingFen: remaining}, nil
}

// refusedState is the SQLSTATE redemption_refused raises (migration 00067).
const refusedState = "VR001"

// refusal turns the error redemption_refused raised into the user error it
// stands for; any other error is returned as it is.
func refusal(err error, month civil.Month, amount int64) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != refusedState {
		return database.Classify(fmt.Errorf("voucher: redemption: %w", err))
	}
	switch pgErr.Message {
	case "NO_PROVIDER":
		return problem.Forbidden("not a provider account")
	case "SUSPENDED":
		return problem.Forbidden("the provider is suspended")
	case "PROVIDER_CATEGORY":
		return problem.New(problem.CategoryNotAllowed, "the provider is not contracted for this category", "input", "category")
	case "PROGRAM_CATEGORY":
		return problem.New(problem.CategoryNotAllowed, "the program does not pay for this category", "input", "category")
	case "SETTLED":
		return settledError(month)
	case "INSUFFICIENT":
		return problem.New(problem.InsufficientBalance,
			fmt.Sprintf("余额不足: %s fen spendable on that date, %d fen requested", pgErr.Detail, amount), "input", "amountFen")
	case "TOKEN_USED":
		// The token's hash is unique: a concurrent redemption with the same
		// token made this one wait and then committed first.
		return problem.New(problem.TokenUsed, "this code was already used; ask the resident for a new one", "input", "token")
	}
	return fmt.Errorf("voucher: redemption refused for an unknown reason %q", pgErr.Message)
}

// replay answers a request whose idempotency key exists with the
// redemption it made; nil and no error when the key is not there.
func (s *Service) replay(ctx context.Context, pid uuid.UUID, key string, hash []byte) (*RedeemResult, error) {
	var k keyRow
	err := s.db.WithContext(ctx).Where("provider_id = ? AND idempotency_key = ?", pid, key).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, database.Classify(err)
	}
	if !bytes.Equal(k.RequestHash, hash) || k.RedemptionID == nil {
		return nil, problem.New(problem.IdempotencyMismatch, "this idempotency key was used with a different request", "input", "idempotencyKey")
	}
	var r redemptionRow
	if err := s.db.WithContext(ctx).Where("id = ?", *k.RedemptionID).Take(&r).Error; err != nil {
		return nil, database.Classify(err)
	}
	return &RedeemResult{Redemption: r.redemption(), RemainingFen: deref(r.BalanceAfterFen)}, nil
}

// redeemSQL is a redemption in one statement; it answers "ok" and the
// program balance before it, or "replay" when the idempotency key existed
// (and then writes nothing), or raises redemption_refused with one of the
// names refusal maps back to user errors.
//
// Parameters: $1 provider, $2 idempotency key, $3 request hash, $4 now,
// $5 program, $6 the provider-month lock's name; $7–$10 the audit entry's
// id, time, actor id and actor kind, $11 the redemption id, $12 the
// request id; $13 amount, $14 resident, $15 category, $16 service date,
// $17 note, $18 token hash, $19 month.
//
// The order matters and each step depends on the one before, so Postgres
// runs them in this order:
//   - k: the idempotency row, first: a concurrent send of the same key
//     waits here for the other's commit, then finds the key taken (and
//     replays it). It names its redemption already; the foreign key is
//     checked when the statement ends.
//   - c: the provider, the program, and the shared provider-month lock
//     that keeps a settlement confirmation out until this commits.
//   - s: the settlement check, after the lock was granted, in a VOLATILE
//     function whose fresh snapshot sees a confirmation that committed
//     while this waited.
//   - v: every ACTIVE voucher of the resident's program, locked in id
//     order (as every writer locks them; one changed by a transaction that
//     committed meanwhile is re-read at its new version), and only when
//     the checks passed. p: those valid on the service date, drawn
//     earliest expiry first (before is what the earlier ones cover).
//   - r: the redemption, unless the balance is short; nothing if its token
//     hash is already taken.
//   - the voucher updates, the REDEEM ledger entries (which are the
//     redemption's draws: a reversal gives back exactly those) and the
//     audit entry run when the main query is done, only if it did not
//     raise.
const redeemSQL = `
WITH k AS (
  INSERT INTO redemption_keys (provider_id, idempotency_key, request_hash, created_at, redemption_id) VALUES ($1, $2, $3, $4, $11)
  ON CONFLICT DO NOTHING RETURNING 1
),
a AS (
  ` + audit.Insert + `
  SELECT $7, $8, $9, $10, 'redeemVoucher', 'Redemption', $11, $12, jsonb_build_object('amountFen', $13::bigint) FROM k
),
c AS MATERIALIZED (
  SELECT p.status = 'ACTIVE' AS active, $15::text = ANY (p.categories) AS provider_pays,
    coalesce($15::text = ANY (g.categories), false) AS program_pays,
    pg_advisory_xact_lock_shared(hashtextextended($6, 20)) IS NOT NULL AS locked
  FROM k, providers p LEFT JOIN voucher_programs g ON g.id = $5 WHERE p.id = $1
),
s AS MATERIALIZED (
  SELECT provider_month_settled($1, $19) AS settled FROM c WHERE c.locked
),
v AS (
  SELECT id, balance_fen, valid_from, valid_until FROM vouchers
  WHERE resident_id = $14 AND program_id = $5 AND status = 'ACTIVE'
    AND EXISTS (SELECT 1 FROM c, s WHERE c.active AND c.provider_pays AND c.program_pays AND NOT s.settled)
  ORDER BY id FOR UPDATE
),
p AS (
  SELECT id, balance_fen, sum(balance_fen) OVER (ORDER BY valid_until, id) - balance_fen AS before
  FROM v WHERE valid_from <= $16::date AND valid_until >= $16::date
),
t AS (
  SELECT (SELECT coalesce(sum(balance_fen), 0) FROM p) AS payable,
         (SELECT coalesce(sum(balance_fen), 0) FROM v) AS total
),
r AS (
  INSERT INTO redemptions (id, provider_id, resident_id, program_id, category, amount_fen, service_date, status, note, created_at, token_hash, balance_after_fen)
  SELECT $11, $1, $14, $5, $15, $13::bigint, $16::date, 'COMPLETED', $17, $4::timestamptz, $18, t.total - $13::bigint FROM t WHERE t.payable >= $13::bigint
  ON CONFLICT (token_hash) DO NOTHING
  RETURNING id
),
x AS MATERIALIZED (
  SELECT p.id, least(p.balance_fen, $13::bigint - p.before) AS take, p.balance_fen - least(p.balance_fen, $13::bigint - p.before) AS after, uuid_v7() AS entry_id
  FROM p, r WHERE p.before < $13::bigint AND p.balance_fen > 0
),
u AS (
  UPDATE vouchers SET balance_fen = x.after, status = CASE WHEN x.after = 0 THEN 'EXHAUSTED' ELSE 'ACTIVE' END, updated_at = $4::timestamptz
  FROM x WHERE vouchers.id = x.id
),
l AS (
  INSERT INTO voucher_ledger (id, voucher_id, kind, amount_fen, balance_after_fen, redemption_id, at)
  SELECT x.entry_id, x.id, 'REDEEM', -x.take, x.after, r.id, $4::timestamptz FROM x, r ORDER BY x.id
)
SELECT CASE
    WHEN NOT EXISTS (SELECT 1 FROM k) THEN 'replay'
    WHEN c.active IS NULL THEN redemption_refused('NO_PROVIDER', '')
    WHEN NOT c.active THEN redemption_refused('SUSPENDED', '')
    WHEN NOT c.provider_pays THEN redemption_refused('PROVIDER_CATEGORY', '')
    WHEN NOT c.program_pays THEN redemption_refused('PROGRAM_CATEGORY', '')
    WHEN s.settled THEN redemption_refused('SETTLED', '')
    WHEN t.payable < $13::bigint THEN redemption_refused('INSUFFICIENT', t.payable::text)
    WHEN NOT EXISTS (SELECT 1 FROM r) THEN redemption_refused('TOKEN_USED', '')
    ELSE 'ok' END,
  t.total
FROM t LEFT JOIN c ON true LEFT JOIN s ON true`

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
	// The same check as a redemption's (migration 00067), in a statement
	// of its own after the lock was granted.
	var settled bool
	if err := tx.Raw("SELECT provider_month_settled(?, ?)", pid, m.String()).Row().Scan(&settled); err != nil {
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
	v, err := policy.Require(ctx, policy.ReverseRedemption)
	if err != nil {
		return nil, err
	}
	scope := policy.ScopeOf(v, policy.ReverseRedemption)
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
		if !scope.All() {
			if !scope.OwnProvider(r.ProviderID) {
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
		if err := s.restoreDraws(ctx, tx, &r, now); err != nil {
			return err
		}
		if err := tx.Model(&redemptionRow{}).Where("id = ?", r.ID).Updates(map[string]any{
			"status": string(Reversed), "reversed_at": now, "reverse_reason": reason}).Error; err != nil {
			return database.Classify(err)
		}
		if err := audit.Record(ctx, tx, audit.ActionReverseRedemption, audit.EntityRedemption, &r.ID, nil); err != nil {
			return err
		}
		r.Status, r.ReversedAt, r.ReverseReason = string(Reversed), &now, &reason
		remaining, err := spendable(ctx, tx, r.ResidentID, r.ProgramID)
		out = &RedeemResult{Redemption: r.redemption(), RemainingFen: remaining}
		return err
	})
	return out, err
}

// restoreDraws gives back to each voucher what the redemption drew from it
// (its REDEEM ledger entries; the vouchers locked in id order). A voucher
// that expired meanwhile gets the amount back and at once an EXPIRE entry
// for it, so expired money never becomes spendable again.
func (s *Service) restoreDraws(ctx context.Context, tx *gorm.DB, r *redemptionRow, now time.Time) error {
	redemptionID := r.ID
	var rows []struct {
		ID         uuid.UUID
		BalanceFen int64
		Status     string
		AmountFen  int64
	}
	// Through the resident's vouchers of the program (a few) and each one's
	// ledger: voucher_ledger has no index on redemption_id, which only
	// reversals would read.
	if err := tx.Raw(`SELECT v.id, v.balance_fen, v.status, -l.amount_fen AS amount_fen FROM vouchers v
		JOIN voucher_ledger l ON l.voucher_id = v.id AND l.redemption_id = ? AND l.kind = 'REDEEM'
		WHERE v.resident_id = ? AND v.program_id = ?
		ORDER BY v.id FOR UPDATE OF v`, redemptionID, r.ResidentID, r.ProgramID).Scan(&rows).Error; err != nil {
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
