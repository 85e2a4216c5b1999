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
)

func reasonOK(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if n := len([]rune(reason)); n < 1 || n > 500 {
		return "", problem.New(problem.Invalid, "请填写1至500字的理由", "input", "reason")
	}
	return reason, nil
}

// Review decides a held visit (a CASE_WORKER of the resident's street, or
// ADMIN): clear its open flags (a confirmed visit is then paid), or
// reverse it (the order is cancelled and never paid; one paid already is
// reversed).
func (s *Service) Review(ctx context.Context, orderID uuid.UUID, clear bool, reason string) (*Order, error) {
	v, err := policy.Require(ctx, policy.ReviewVisits)
	if err != nil {
		return nil, err
	}
	if reason, err = reasonOK(reason); err != nil {
		return nil, err
	}
	return s.step(ctx, v, policy.ReviewVisits, orderID, func(tx *gorm.DB, o *orderRow) error {
		status := "CLEARED"
		if !clear {
			status = "REVERSED"
		}
		res := tx.Exec("UPDATE service_order_flags SET status = ?, resolved_at = ?, resolved_by = ?, resolution = ? WHERE order_id = ? AND status = 'OPEN'",
			status, s.now(), v.ID, reason, o.ID)
		if res.Error != nil {
			return database.Classify(res.Error)
		}
		if res.RowsAffected == 0 {
			return problem.New(problem.InvalidTransition, "该工单没有待复核的异常", "input", "orderId")
		}
		if clear {
			if Status(o.Status) == Confirmed {
				if err := s.pay(ctx, tx, o); err != nil {
					return err
				}
			}
			return s.save(ctx, tx, o, audit.ActionReviewServiceOrder, map[string]any{"clear": true})
		}
		if o.RedemptionID != nil && Status(o.Status) != Cancelled {
			if err := s.payments.ReverseVisitTx(ctx, tx, *o.RedemptionID, "复核冲正: "+reason); err != nil {
				return err
			}
		}
		now := s.now()
		o.Status, o.CancelledAt, o.CancelReason = string(Cancelled), &now, &reason
		return s.save(ctx, tx, o, audit.ActionReviewServiceOrder, map[string]any{"clear": false})
	})
}

// Dispute is the resident's (or a proxy's) dispute of a paid visit,
// within DisputeWindow of its confirmation. The visit's month cannot be
// settled while the dispute is open.
func (s *Service) Dispute(ctx context.Context, orderID uuid.UUID, reason string) (*Order, error) {
	v := auth.ViewerFrom(ctx)
	if v == nil {
		return nil, problem.ErrUnauthenticated
	}
	reason, err := reasonOK(reason)
	if err != nil {
		return nil, err
	}
	return s.step(ctx, v, policy.DisputeVisit, orderID, func(tx *gorm.DB, o *orderRow) error {
		if Status(o.Status) != Redeemed {
			return problem.New(problem.InvalidTransition, "只能对已核销的服务提出异议", "input", "orderId")
		}
		if o.ConfirmedAt == nil || s.now().Sub(*o.ConfirmedAt) > DisputeWindow {
			return problem.New(problem.InvalidTransition, "已超过30天异议期", "input", "orderId")
		}
		err := tx.Create(&disputeRow{ID: newID(), OrderID: o.ID, Reason: reason, Status: "OPEN", RaisedAt: s.now(), RaisedBy: v.ID}).Error
		if _, dup := database.IsUniqueViolation(err); dup {
			return problem.New(problem.Duplicate, "该服务已提出过异议", "input", "orderId")
		}
		if err != nil {
			return database.Classify(err)
		}
		o.Status = string(Disputed)
		detail, err := s.actingDetail(ctx, v, o.ResidentID)
		if err != nil {
			return err
		}
		return s.save(ctx, tx, o, audit.ActionDisputeServiceOrder, detail)
	})
}

// ResolveDispute upholds a dispute (the payment is reversed: what it drew
// goes back to the vouchers, and the order is cancelled) or dismisses it
// with a reason (the visit stays paid). Both sides see the outcome on the
// order.
func (s *Service) ResolveDispute(ctx context.Context, orderID uuid.UUID, uphold bool, reason string) (*Order, error) {
	v, err := policy.Require(ctx, policy.ResolveVisitDispute)
	if err != nil {
		return nil, err
	}
	if reason, err = reasonOK(reason); err != nil {
		return nil, err
	}
	return s.step(ctx, v, policy.ResolveVisitDispute, orderID, func(tx *gorm.DB, o *orderRow) error {
		if Status(o.Status) != Disputed {
			return problem.New(problem.InvalidTransition, "该工单没有待处理的异议", "input", "orderId")
		}
		status := "DISMISSED"
		if uphold {
			status = "UPHELD"
		}
		if err := tx.Exec("UPDATE service_order_disputes SET status = ?, resolved_at = ?, resolved_by = ?, resolution = ? WHERE order_id = ? AND status = 'OPEN'",
			status, s.now(), v.ID, reason, o.ID).Error; err != nil {
			return database.Classify(err)
		}
		if uphold {
			if err := s.payments.ReverseVisitTx(ctx, tx, *o.RedemptionID, "异议成立: "+reason); err != nil {
				return err
			}
			now := s.now()
			o.Status, o.CancelledAt, o.CancelReason = string(Cancelled), &now, &reason
		} else {
			o.Status = string(Redeemed)
		}
		return s.save(ctx, tx, o, audit.ActionResolveServiceOrderDispute, map[string]any{"uphold": uphold})
	})
}
