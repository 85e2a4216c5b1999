package homecare

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/voucher"
)

// Confirmation channels.
const (
	ViaCard     = "CARD"
	ViaResident = "RESIDENT"
)

// ConfirmWithCard is the elder's confirmation at check-out: the worker's
// app sends the card number and the PIN the elder typed, and where the
// phone is. A PIN attempt is reserved before the PIN is verified (argon2id
// in the app's hashing pool), so guessing in parallel gets no more than
// MaxPINAttempts tries; the fifth wrong PIN locks the card until a counter
// unlocks it. A right PIN confirms the visit and pays for it.
func (s *Service) ConfirmWithCard(ctx context.Context, orderID uuid.UUID, cardNumber, pin string, p Position) (*Order, error) {
	v, err := policy.Require(ctx, policy.PerformVisit)
	if err != nil {
		return nil, err
	}
	if err := validPosition(p, "position"); err != nil {
		return nil, err
	}
	cardNumber = strings.TrimSpace(cardNumber)
	// The order first: a worker learns nothing about cards through an
	// order that is not theirs.
	o, err := s.Order(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if o == nil || o.WorkerID == nil || *o.WorkerID != v.ID {
		return nil, notFound("orderId")
	}
	if st := o.Status; st == Confirmed || st == Redeemed {
		return o, nil // confirmed already (a retry): nothing to check again
	}
	if o.Status != CheckedOut {
		return nil, problem.New(problem.InvalidTransition, "签退后才能确认", "input", "orderId")
	}
	if !ValidPIN(pin) || len(cardNumber) != 12 {
		return nil, problem.New(problem.InvalidCredentials, "卡号或密码错误", "input", "pin")
	}
	card, err := s.takeAttempt(ctx, cardNumber)
	if err != nil {
		return nil, err
	}
	if card.ResidentID != o.ResidentID {
		// Not this resident's card: give the attempt back, it was no guess
		// at this card's PIN.
		if err := database.Classify(s.db.WithContext(ctx).Exec(
			"UPDATE service_cards SET failed_attempts = greatest(failed_attempts - 1, 0) WHERE id = ?", card.ID).Error); err != nil {
			return nil, err
		}
		return nil, problem.New(problem.InvalidCredentials, "此卡不属于该服务对象", "input", "cardNumber")
	}
	ok, err := s.hashes.Verify(ctx, card.PinHash, pin)
	if err != nil {
		// A busy hashing pool keeps the reserved attempt (it counts, as a
		// guess would) and locks the card at the limit all the same.
		if serr := s.settleAttempt(ctx, card.ID, false); serr != nil {
			return nil, serr
		}
		return nil, err
	}
	if err := s.settleAttempt(ctx, card.ID, ok); err != nil {
		return nil, err
	}
	if !ok {
		left := MaxPINAttempts - card.FailedAttempts
		msg := "密码错误, 还可尝试" + string(rune('0'+left)) + "次"
		if left <= 0 {
			msg = "密码错误次数过多, 服务卡已锁定, 请到服务窗口解锁"
		}
		if err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
			return audit.Record(ctx, tx, audit.ActionConfirmServiceOrderWithCard, audit.EntityServiceOrder, &orderID,
				map[string]any{"pinCorrect": false, "cardNumber": cardNumber})
		}); err != nil {
			return nil, err
		}
		return nil, problem.New(problem.InvalidCredentials, msg, "input", "pin")
	}
	return s.step(ctx, v, policy.PerformVisit, orderID, func(tx *gorm.DB, o *orderRow) error {
		h, err := home(ctx, tx, o)
		if err != nil {
			return err
		}
		d := distanceFromHome(h, p)
		if err := s.raise(ctx, tx, o, evaluate(atCardConfirm, &visitFacts{limits: s.limits, distanceM: d, accuracyM: p.AccuracyMeters})); err != nil {
			return err
		}
		o.ConfirmDistanceM = d
		return s.confirm(ctx, tx, o, ViaCard, audit.ActionConfirmServiceOrderWithCard)
	})
}

// ConfirmByResident is the resident's own confirmation in the
// mini-program (or a proxy's, once mayConfirmFor knows proxies).
func (s *Service) ConfirmByResident(ctx context.Context, orderID uuid.UUID) (*Order, error) {
	v := auth.ViewerFrom(ctx)
	if v == nil {
		return nil, problem.ErrUnauthenticated
	}
	return s.step(ctx, v, policy.ConfirmVisit, orderID, func(tx *gorm.DB, o *orderRow) error {
		return s.confirm(ctx, tx, o, ViaResident, audit.ActionConfirmServiceOrder)
	})
}

// confirm confirms a checked-out visit (locked by the caller) and pays for
// it unless a flag holds it. A visit confirmed already is answered as it
// is: two confirmations racing give one payment (the order's row lock
// orders them, and the payment is idempotent by order id besides).
func (s *Service) confirm(ctx context.Context, tx *gorm.DB, o *orderRow, via string, action audit.Action) error {
	switch Status(o.Status) {
	case Confirmed, Redeemed:
		return nil
	case CheckedOut:
	default:
		return problem.New(problem.InvalidTransition, "签退后才能确认", "input", "orderId")
	}
	now := s.now()
	o.Status, o.ConfirmedAt, o.ConfirmedVia = string(Confirmed), &now, &via
	held, err := openFlags(ctx, tx, o.ID)
	if err != nil {
		return err
	}
	if held == 0 {
		if err := s.pay(ctx, tx, o); err != nil {
			return err
		}
	}
	return s.save(ctx, tx, o, action, map[string]any{"via": via, "held": held > 0})
}

// pay redeems the visit through the voucher engine and marks it REDEEMED.
func (s *Service) pay(ctx context.Context, tx *gorm.DB, o *orderRow) error {
	r, err := s.payments.RedeemVisitTx(ctx, tx, voucher.VisitPayment{OrderID: o.ID, ProviderID: o.ProviderID, ResidentID: o.ResidentID,
		ProgramID: o.ProgramID, Category: voucher.Category(o.Category), AmountFen: o.AmountFen, ServiceDate: *o.ServiceDate})
	if err != nil {
		return err
	}
	o.Status, o.RedemptionID = string(Redeemed), &r.ID
	return nil
}

func openFlags(ctx context.Context, tx *gorm.DB, id uuid.UUID) (int, error) {
	var n int
	err := tx.WithContext(ctx).Raw("SELECT count(*) FROM service_order_flags WHERE order_id = ? AND status = 'OPEN'", id).Scan(&n).Error
	return n, database.Classify(err)
}
