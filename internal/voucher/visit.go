package voucher

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/problem"
)

// VisitPayment is a confirmed home-care visit's payment (internal/homecare):
// the visit's provider, resident, program, category, amount (from the
// price list) and service date.
type VisitPayment struct {
	OrderID     uuid.UUID
	ProviderID  uuid.UUID
	ResidentID  uuid.UUID
	ProgramID   uuid.UUID
	Category    Category
	AmountFen   int64
	ServiceDate civil.Date
}

// visitKey is the idempotency key and the token of a visit's payment: one
// per order, so a second payment of the same visit replays the first (the
// key) and can never draw again (the unique token hash).
func visitKey(order uuid.UUID) string { return "visit:" + order.String() }

// RedeemVisitTx pays for a visit inside the caller's transaction with the
// redemption engine's one statement (redeem.sql): the same provider,
// program, settlement and balance checks, the same draws earliest expiry
// first, the same ledger and audit entry. There is no token: the visit's
// confirmation (the elder's card and PIN, or the resident in the
// mini-program) stands for it, and the caller (internal/homecare) has
// checked it and who may confirm. Idempotent by order id: a second call
// answers the first redemption.
func (s *Service) RedeemVisitTx(ctx context.Context, tx *gorm.DB, in VisitPayment) (*Redemption, error) {
	key := visitKey(in.OrderID)
	rin := RedeemInput{Token: key, Category: in.Category, AmountFen: in.AmountFen, ServiceDate: in.ServiceDate, IdempotencyKey: key}
	hash := rin.hash()
	month := civil.MonthOf(in.ServiceDate)
	note := "上门服务 " + in.OrderID.String()
	r := redemptionRow{ID: newID(), ProviderID: in.ProviderID, ResidentID: in.ResidentID, ProgramID: in.ProgramID,
		Category: string(in.Category), AmountFen: in.AmountFen, ServiceDate: in.ServiceDate, Status: string(CreatedRedemption),
		Note: &note, CreatedAt: s.now()}
	st := audit.NewStamp(ctx)
	var (
		outcome string
		total   int64
	)
	err := tx.Statement.ConnPool.QueryRowContext(ctx, redeemStmt.sql,
		redeemStmt.bind(redeemArgs(&r, key, hash, tokenHash(key), st, month, s.today()))...).Scan(&outcome, &total)
	if err != nil {
		return nil, refusal(err, month, in.AmountFen)
	}
	if outcome == "replay" {
		var k keyRow
		if err := tx.WithContext(ctx).Where("provider_id = ? AND idempotency_key = ?", in.ProviderID, key).Take(&k).Error; err != nil {
			return nil, database.Classify(fmt.Errorf("voucher: visit replay: %w", err))
		}
		var prev redemptionRow
		if err := tx.WithContext(ctx).Where("id = ?", *k.RedemptionID).Take(&prev).Error; err != nil {
			return nil, database.Classify(err)
		}
		return prev.redemption(), nil
	}
	return r.redemption(), nil
}

// ReverseVisitTx reverses a visit's redemption inside the caller's
// transaction (an upheld dispute, a visit a reviewer reversed): exactly
// what it drew goes back, never twice, never in a confirmed month. The
// caller (internal/homecare) has checked who may.
func (s *Service) ReverseVisitTx(ctx context.Context, tx *gorm.DB, id uuid.UUID, reason string) error {
	reason = strings.TrimSpace(reason)
	var r redemptionRow
	if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&r).Error; err != nil {
		return database.Classify(err)
	}
	if !RedemptionStatus(r.Status).CanBecome(Reversed) {
		return problem.New(problem.InvalidTransition, "该笔核销已冲正", "input", "orderId")
	}
	if err := s.checkNotSettled(ctx, tx, r.ProviderID, civil.MonthOf(r.ServiceDate), false); err != nil {
		return err
	}
	now := s.now()
	if err := s.restoreDraws(ctx, tx, &r, now); err != nil {
		return err
	}
	if err := tx.Model(&redemptionRow{}).Where("id = ?", r.ID).Updates(map[string]any{
		"status": string(Reversed), "reversed_at": now, "reverse_reason": reason}).Error; err != nil {
		return database.Classify(err)
	}
	return audit.Record(ctx, tx, audit.ActionReverseRedemption, audit.EntityRedemption, &r.ID, map[string]any{"visit": true})
}

// SettlementHold answers how many visits of a provider's month are held
// (open anomaly flags, open disputes): a month with any cannot be
// confirmed. internal/homecare implements it; the app wires it.
type SettlementHold func(ctx context.Context, tx *gorm.DB, providerID uuid.UUID, m civil.Month) (int, error)

// SetSettlementHold installs the hold ConfirmSettlement asks.
func (s *Service) SetSettlementHold(h SettlementHold) { s.hold = h }
