package voucher

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"sort"
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

type drawRow struct {
	RedemptionID uuid.UUID
	VoucherID    uuid.UUID
	AmountFen    int64
}

func (drawRow) TableName() string { return "redemption_draws" }

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
// Order of work, all in one transaction: the idempotency row is inserted
// first (a concurrent send of the same key blocks on it and then replays
// the winner's result); then the token is read from Redis (not consumed),
// the provider, program, settlement and balance are checked, the vouchers
// are locked in id order and drawn earliest expiry first. The token is
// consumed by the redemption row itself, whose token hash is unique: it
// commits or rolls back with the payment, so a crash at any point leaves
// either a paid redemption whose key replays it, or nothing at all and a
// token still usable for the retry. Redis is told after the commit.
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
	var (
		out      *RedeemResult
		replayed bool
	)
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		replayed = false
		ins := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&keyRow{ProviderID: pid, IdempotencyKey: in.IdempotencyKey,
			RequestHash: hash, CreatedAt: s.now()})
		if ins.Error != nil {
			return database.Classify(fmt.Errorf("voucher: idempotency key: %w", ins.Error))
		}
		if ins.RowsAffected == 0 {
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
		tv, err := s.peekToken(ctx, in.Token)
		if err != nil {
			return err
		}
		r, remaining, err := s.redeemTx(ctx, tx, pid, tv, in)
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

type lockedVoucher struct {
	ID         uuid.UUID
	BalanceFen int64
	ValidFrom  civil.Date
	ValidUntil civil.Date
	Settled    bool
}

// redeemTx does the redemption's work after the idempotency row, in as few
// round trips as it can, because the hot resident's voucher rows stay
// locked from the FOR UPDATE to the commit: everything that does not need
// the lock (provider, program, settlement lock, audit) comes before it,
// and after it only one statement writes the redemption, the draws, the
// voucher balances, the ledger entries and the key's result.
func (s *Service) redeemTx(ctx context.Context, tx *gorm.DB, pid uuid.UUID, tv *tokenValue, in RedeemInput) (*Redemption, int64, error) {
	month := civil.MonthOf(in.ServiceDate)
	var (
		provStatus         string
		provCats, progCats pq.StringArray
		found              bool
	)
	// The shared provider-month lock keeps a concurrent settlement
	// confirmation out until this commits (see checkNotSettled).
	row := tx.Raw(`SELECT p.status, p.categories, g.categories, pg_advisory_xact_lock_shared(hashtextextended(?, 20)) IS NOT NULL
		FROM providers p, voucher_programs g WHERE p.id = ? AND g.id = ?`, settleLockName(pid, month), pid, tv.ProgramID).Row()
	if err := row.Scan(&provStatus, &provCats, &progCats, &found); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, 0, database.Classify(err)
	}
	switch {
	case !found:
		return nil, 0, notFound("program", "input", "token")
	case provStatus != string(ProviderActive):
		return nil, 0, problem.Forbidden("the provider is suspended")
	case !Allows(toCategories(provCats), in.Category):
		return nil, 0, problem.New(problem.CategoryNotAllowed, "the provider is not contracted for this category", "input", "category")
	case !Allows(toCategories(progCats), in.Category):
		return nil, 0, problem.New(problem.CategoryNotAllowed, "the program does not pay for this category", "input", "category")
	}
	now := s.now()
	r := redemptionRow{ID: newID(), ProviderID: pid, ResidentID: tv.ResidentID, ProgramID: tv.ProgramID, Category: string(in.Category),
		AmountFen: in.AmountFen, ServiceDate: in.ServiceDate, Status: string(Completed), Note: in.Note, CreatedAt: now}
	if err := audit.Record(ctx, tx, "redeemVoucher", "Redemption", &r.ID, map[string]any{"amountFen": in.AmountFen}); err != nil {
		return nil, 0, err
	}

	// Every ACTIVE voucher of the program is locked (in id order, as every
	// writer locks them): those valid on the service date pay, and all of
	// them make the remaining balance. The settlement check reads after
	// the advisory lock was granted, so it sees a confirmation that
	// committed while this waited.
	var vs []lockedVoucher
	if err := tx.Raw(`SELECT id, balance_fen, valid_from, valid_until,
		EXISTS (SELECT 1 FROM settlements WHERE provider_id = ? AND month = ?) AS settled
		FROM vouchers WHERE resident_id = ? AND program_id = ? AND status = 'ACTIVE'
		ORDER BY id FOR UPDATE`, pid, month.String(), tv.ResidentID, tv.ProgramID).Scan(&vs).Error; err != nil {
		return nil, 0, database.Classify(err)
	}
	if len(vs) == 0 {
		if err := s.checkNotSettled(ctx, tx, pid, month, false); err != nil {
			return nil, 0, err
		}
	} else if vs[0].Settled {
		return nil, 0, settledError(month)
	}
	var all, total int64
	payers := vs[:0:0]
	for _, x := range vs {
		all += x.BalanceFen
		if !x.ValidFrom.After(in.ServiceDate) && !x.ValidUntil.Before(in.ServiceDate) {
			payers = append(payers, x)
			total += x.BalanceFen
		}
	}
	if total < in.AmountFen {
		return nil, 0, problem.New(problem.InsufficientBalance,
			fmt.Sprintf("余额不足: %d fen spendable on that date, %d fen requested", total, in.AmountFen), "input", "amountFen")
	}
	sort.SliceStable(payers, func(i, j int) bool { // earliest expiry first
		if c := payers[i].ValidUntil.Compare(payers[j].ValidUntil); c != 0 {
			return c < 0
		}
		return payers[i].ID.String() < payers[j].ID.String()
	})
	var (
		ids, entryIDs []uuid.UUID
		takes, afters []int64
		statuses      []string
	)
	left := in.AmountFen
	for _, x := range payers {
		if left == 0 {
			break
		}
		take := min(left, x.BalanceFen)
		if take == 0 {
			continue
		}
		left -= take
		after := x.BalanceFen - take
		status := Active
		if after == 0 {
			status = Exhausted
		}
		ids, entryIDs = append(ids, x.ID), append(entryIDs, newID())
		takes, afters, statuses = append(takes, take), append(afters, after), append(statuses, string(status))
	}
	remaining := all - in.AmountFen
	var wrote int
	err := tx.Raw(redeemWriteSQL, r.ID, pid, r.ResidentID, r.ProgramID, r.Category, r.AmountFen, r.ServiceDate, r.Note, now,
		tokenHash(in.Token), pq.Array(ids), pq.Array(takes), pq.Array(afters), pq.Array(statuses), pq.Array(entryIDs),
		remaining, in.IdempotencyKey).Row().Scan(&wrote)
	if err != nil {
		return nil, 0, database.Classify(fmt.Errorf("voucher: redemption: %w", err))
	}
	if wrote == 0 {
		// The token's hash is unique: a concurrent redemption with the same
		// token made this one wait and then committed first.
		return nil, 0, problem.New(problem.TokenUsed, "this code was already used; ask the resident for a new one", "input", "token")
	}
	return r.redemption(), remaining, nil
}

// redeemWriteSQL writes a redemption in one statement: the redemption row
// (nothing else happens if its token hash is already taken), the vouchers'
// new balances, one draw and one REDEEM ledger entry per voucher drawn, and
// the idempotency key's result. It returns 1 when written.
const redeemWriteSQL = `
WITH r AS (
  INSERT INTO redemptions (id, provider_id, resident_id, program_id, category, amount_fen, service_date, status, note, created_at, token_hash)
  VALUES ($1, $2, $3, $4, $5, $6, $7, 'COMPLETED', $8, $9, $10)
  ON CONFLICT (token_hash) DO NOTHING
  RETURNING id
),
x AS (
  SELECT * FROM unnest($11::uuid[], $12::bigint[], $13::bigint[], $14::text[], $15::uuid[]) AS x(voucher_id, take, after, status, entry_id)
),
u AS (
  UPDATE vouchers v SET balance_fen = x.after, status = x.status, updated_at = $9
  FROM x, r WHERE v.id = x.voucher_id
),
d AS (
  INSERT INTO redemption_draws (redemption_id, voucher_id, amount_fen) SELECT r.id, x.voucher_id, x.take FROM x, r
),
l AS (
  INSERT INTO voucher_ledger (id, voucher_id, kind, amount_fen, balance_after_fen, redemption_id, at)
  SELECT x.entry_id, x.voucher_id, 'REDEEM', -x.take, x.after, r.id, $9 FROM x, r
),
k AS (
  UPDATE redemption_keys SET redemption_id = r.id, remaining_fen = $16 FROM r WHERE provider_id = $2 AND idempotency_key = $17
)
SELECT count(*) FROM r`

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
