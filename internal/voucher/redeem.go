package voucher

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/notify"
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
	if tv.MaxFen != nil && in.AmountFen > *tv.MaxFen {
		return nil, problem.New(problem.Invalid, fmt.Sprintf(
			"金额超过此核销码允许的上限 %[1]d 分 (the amount is above this code's maximum of %[1]d fen)", *tv.MaxFen), "input", "amountFen")
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
		AmountFen: in.AmountFen, ServiceDate: in.ServiceDate, Status: string(CreatedRedemption), Note: in.Note, CreatedAt: now}
	st := audit.NewStamp(ctx)
	var (
		outcome   string
		remaining int64
	)
	// Straight to the pool, not through GORM's statement builder (as
	// emergency intake does): its building and the SQL it renders for its
	// logger cost a few percent of the server's CPU per redemption.
	err := database.SQL(s.db).QueryRowContext(ctx, redeemStmt.sql,
		redeemStmt.bind(redeemArgs(&r, in.IdempotencyKey, hash, tokenHash(in.Token), st, month, s.today()))...).
		Scan(&outcome, &remaining)
	if err != nil {
		return nil, refusal(err, month, in.AmountFen)
	}
	if outcome == "replay" {
		return nil, nil
	}
	r.BalanceAfterFen = &remaining
	return &RedeemResult{Redemption: r.redemption(), RemainingFen: remaining}, nil
}

// refusedState is the SQLSTATE redemption_refused raises (migration 00067).
const refusedState = "VR001"

// refusalName is why redeemSQL refused a redemption: the message
// redemption_refused raises. The statement gets each name as a parameter,
// so these constants are the only place the names are spelled.
type refusalName string

// The refusals redeemSQL raises.
const (
	refusedNoProvider       refusalName = "NO_PROVIDER"
	refusedSuspended        refusalName = "SUSPENDED"
	refusedProviderCategory refusalName = "PROVIDER_CATEGORY"
	refusedProgramCategory  refusalName = "PROGRAM_CATEGORY"
	refusedSettled          refusalName = "SETTLED"
	refusedInsufficient     refusalName = "INSUFFICIENT"
	refusedTokenUsed        refusalName = "TOKEN_USED"
)

// refusal turns the error redemption_refused raised into the user error it
// stands for; any other error is returned as it is.
func refusal(err error, month civil.Month, amount int64) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != refusedState {
		return database.Classify(fmt.Errorf("voucher: redemption: %w", err))
	}
	switch refusalName(pgErr.Message) {
	case refusedNoProvider:
		return problem.Forbidden("not a provider account")
	case refusedSuspended:
		return problem.Forbidden("the provider is suspended")
	case refusedProviderCategory:
		return problem.New(problem.CategoryNotAllowed, "the provider is not contracted for this category", "input", "category")
	case refusedProgramCategory:
		return problem.New(problem.CategoryNotAllowed, "the program does not pay for this category", "input", "category")
	case refusedSettled:
		return settledError(month)
	case refusedInsufficient:
		return problem.New(problem.InsufficientBalance,
			fmt.Sprintf("余额不足：该日可用 %[1]s 分，申请 %[2]d 分 (not enough balance: %[1]s fen spendable on that date, %[2]d fen requested)", pgErr.Detail, amount), "input", "amountFen")
	case refusedTokenUsed:
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

// redeemSQL is a redemption in one statement (redeem.sql, which says what
// each step does and why in that order), with audit.Insert and the
// receipts' outbox insert spliced in.
var redeemSQL = strings.NewReplacer("{{audit.Insert}}", audit.Insert, "{{notify.Receipt}}", receiptSQL).Replace(redeemStatement)

// receiptSQL queues a redemption's receipts inside redeem.sql: for the
// resident of the redemption r wrote (none when it wrote none), with the
// payload the mini-program and the SMS show.
var receiptSQL = notify.InsertSQL(notify.RedemptionReceipt, "SELECT @resident::uuid AS id FROM r",
	"jsonb_build_object('redemptionId', @redemption::uuid, 'amountFen', @amount::bigint, 'category', @category::text, "+
		"'providerId', @provider::uuid, 'at', @now::timestamptz)", "@now::timestamptz")

//go:embed redeem.sql
var redeemStatement string

// redeemStmt is redeemSQL rewritten to positional parameters once, by
// pgx's own named-argument rewriting: done on every call it lexes the
// whole statement, about 0.1 ms of CPU per redemption.
var redeemStmt = rewriteNamed(redeemSQL, redeemArgs(&redemptionRow{}, "", nil, nil, audit.Stamp{}, civil.Month{}, civil.Date{}))

// namedStatement is a statement with named parameters rewritten to
// positional ones: sql, and the name bound to each position.
type namedStatement struct {
	sql   string
	names []string
}

// rewriteNamed rewrites sql with pgx's StrictNamedArgs, which fails unless
// args names exactly the parameters sql uses; so does rewriteNamed, by
// panicking while the package initializes (the names are constants of the
// code, not input).
func rewriteNamed(sql string, args pgx.StrictNamedArgs) namedStatement {
	byName := pgx.StrictNamedArgs{}
	for name := range args {
		byName[name] = name
	}
	out, order, err := byName.RewriteQuery(context.Background(), nil, sql, nil)
	if err != nil {
		panic(fmt.Sprintf("voucher: the statement and its arguments disagree: %v", err))
	}
	st := namedStatement{sql: out, names: make([]string, len(order))}
	for i, n := range order {
		st.names[i] = n.(string)
	}
	return st
}

// bind puts args, which must name the same parameters as the statement was
// rewritten with, in the statement's positions.
func (st namedStatement) bind(args pgx.StrictNamedArgs) []any {
	out := make([]any, len(st.names))
	for i, n := range st.names {
		out[i] = args[n]
	}
	return out
}

// redeemArgs names redeem.sql's parameters. Strict: a name the statement
// uses and this leaves out, or one it adds that the statement does not
// use, stops the package from initializing (redeemStmt) instead of binding
// NULL.
func redeemArgs(r *redemptionRow, key string, hash, tokenHash []byte, st audit.Stamp, month civil.Month, today civil.Date) pgx.StrictNamedArgs {
	return pgx.StrictNamedArgs{
		"provider":        r.ProviderID,
		"idempotency_key": key,
		"request_hash":    hash,
		"now":             r.CreatedAt,
		"program":         r.ProgramID,
		"settle_lock":     settleLockName(r.ProviderID, month),
		"audit_id":        st.ID,
		"audit_at":        st.At,
		"actor_id":        st.ActorID,
		"actor_kind":      st.ActorKind,
		"audit_action":    string(audit.ActionRedeemVoucher),
		"audit_entity":    string(audit.EntityRedemption),
		"request_id":      st.RequestID,
		"redemption":      r.ID,
		"amount":          r.AmountFen,
		"resident":        r.ResidentID,
		"category":        r.Category,
		"service_date":    r.ServiceDate,
		"note":            r.Note,
		"token_hash":      tokenHash,
		"month":           month.String(),
		"today":           today,

		"refused_no_provider":       string(refusedNoProvider),
		"refused_suspended":         string(refusedSuspended),
		"refused_provider_category": string(refusedProviderCategory),
		"refused_program_category":  string(refusedProgramCategory),
		"refused_settled":           string(refusedSettled),
		"refused_insufficient":      string(refusedInsufficient),
		"refused_token_used":        string(refusedTokenUsed),
	}
}

// spendable is what a redemption of the program dated on could spend: the
// resident's ACTIVE vouchers valid that day (Balance's meaning; next
// month's vouchers, issued ahead, are not in it).
func spendable(ctx context.Context, tx *gorm.DB, residentID, programID uuid.UUID, on civil.Date) (int64, error) {
	var n int64
	err := tx.WithContext(ctx).Raw(`SELECT coalesce(sum(balance_fen), 0) FROM vouchers
		WHERE resident_id = ? AND program_id = ? AND status = 'ACTIVE' AND valid_from <= ? AND valid_until >= ?`,
		residentID, programID, on, on).Row().Scan(&n)
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
	return problem.New(problem.Settled, "结算已确认：该服务商 "+m.String()+" 月的核销已冻结 (the provider's month "+m.String()+" is settled and frozen)", "input", "serviceDate")
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
		if !scope.OwnProvider(r.ProviderID) {
			return notFound("redemption", "input", "redemptionId")
		}
		if r.Status == string(Reversed) && r.ReverseReason != nil && *r.ReverseReason == reason {
			// A retry (the answer to the first was lost): the first result,
			// nothing written again.
			out = &RedeemResult{Redemption: r.redemption()}
			if r.ReversedBalanceAfterFen != nil {
				out.RemainingFen = *r.ReversedBalanceAfterFen
				return nil
			}
			var err error
			out.RemainingFen, err = spendable(ctx, tx, r.ResidentID, r.ProgramID, s.today())
			return err
		}
		if !scope.All() {
			if now.Sub(r.CreatedAt) > ReversalWindow {
				return problem.New(problem.InvalidTransition, "a provider may reverse its redemptions within 7 days only", "input", "redemptionId")
			}
		}
		if !RedemptionStatus(r.Status).CanBecome(Reversed) {
			return problem.New(problem.InvalidTransition, "the redemption is already reversed", "input", "redemptionId")
		}
		if err := s.checkNotSettled(ctx, tx, r.ProviderID, civil.MonthOf(r.ServiceDate), false); err != nil {
			return err
		}
		if err := s.restoreDraws(ctx, tx, &r, now); err != nil {
			return err
		}
		remaining, err := spendable(ctx, tx, r.ResidentID, r.ProgramID, s.today())
		if err != nil {
			return err
		}
		if err := tx.Model(&redemptionRow{}).Where("id = ?", r.ID).Updates(map[string]any{
			"status": string(Reversed), "reversed_at": now, "reverse_reason": reason, "reversed_balance_after_fen": remaining}).Error; err != nil {
			return database.Classify(err)
		}
		if err := audit.Record(ctx, tx, audit.ActionReverseRedemption, audit.EntityRedemption, &r.ID, nil); err != nil {
			return err
		}
		r.Status, r.ReversedAt, r.ReverseReason = string(Reversed), &now, &reason
		out = &RedeemResult{Redemption: r.redemption(), RemainingFen: remaining}
		return nil
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
		from := Status(x.Status)
		if !from.CanBecome(Active) {
			kind, final := writeOff[from]
			if !final {
				return fmt.Errorf("voucher: reverse: voucher %s is %s, which neither becomes ACTIVE nor writes money off", x.ID, from)
			}
			entries = append(entries, ledgerRow{ID: newID(), VoucherID: x.ID, Kind: string(kind), AmountFen: -x.AmountFen,
				BalanceAfterFen: x.BalanceFen, RedemptionID: &redemptionID, At: now})
			continue
		}
		if err := tx.Exec("UPDATE vouchers SET balance_fen = ?, status = ?, updated_at = ? WHERE id = ?", back, string(Active), now, x.ID).Error; err != nil {
			return database.Classify(err)
		}
	}
	if len(entries) == 0 {
		return nil
	}
	return database.Classify(tx.Create(&entries).Error)
}
