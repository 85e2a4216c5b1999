package homecare

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/resident"
	"github.com/jinjiang/residents/internal/voucher"
)

// Confirmation channels.
const (
	ViaCard     = "CARD"
	ViaResident = "RESIDENT"
	ViaSMSCode  = "SMS_CODE"
)

// ConfirmWithCard is the elder's confirmation at check-out: the worker's
// app sends the card number and the PIN the elder typed, and where the
// phone is. One transaction: the order and then the card are locked (in
// one statement, lockVisit), so guesses at one card are taken one at a
// time and no more than MaxPINAttempts of them are ever verified; the PIN
// is verified under the lock (argon2id at the PIN parameters, pin.go: a
// fraction of a millisecond). A wrong PIN is counted and committed (the
// fifth locks the card until a counter unlocks it); a right one confirms
// the visit and pays for it in the same transaction.
func (s *Service) ConfirmWithCard(ctx context.Context, orderID uuid.UUID, cardNumber, pin string, p Position) (*Order, error) {
	cardNumber = strings.TrimSpace(cardNumber)
	if len(cardNumber) != 12 {
		cardNumber = "" // looked up as no card at all
	}
	return s.confirmAtDoor(ctx, orderID, cardNumber, p, ViaCard, audit.ActionConfirmServiceOrderWithCard,
		func(tx *gorm.DB, lv *lockedVisit) (error, error) {
			if !ValidPIN(pin) || cardNumber == "" {
				return problem.New(problem.InvalidCredentials, "卡号或密码错误", "input", "pin"), nil
			}
			return s.checkCard(ctx, tx, &lv.Order, lv.card(), cardNumber, pin)
		})
}

// checkCard verifies card (nil: no card has that number) and the PIN for
// order o, inside the confirmation's transaction, the card locked with
// the order. It answers a refusal (with the wrong try counted, to be
// committed) or an error (to roll back).
func (s *Service) checkCard(ctx context.Context, tx *gorm.DB, o *orderRow, card *cardRow, number, pin string) (refusal, err error) {
	switch {
	case card == nil || card.Status == CardLost || card.Status == CardReplaced:
		return problem.New(problem.InvalidCredentials, "服务卡无效或已挂失", "input", "cardNumber"), nil
	case card.ResidentID != o.ResidentID:
		// Not this resident's card: no guess at its PIN, nothing counted.
		return problem.New(problem.InvalidCredentials, "此卡不属于该服务对象", "input", "cardNumber"), nil
	case card.Status == CardLocked || card.FailedAttempts >= MaxPINAttempts:
		return problem.New(problem.TooManyAttempts, "密码错误次数过多, 服务卡已锁定, 请到服务窗口解锁", "input", "cardNumber"), nil
	}
	ok, upgrade, err := s.verifyPIN(ctx, card.PinHash, pin)
	if err != nil {
		return nil, err // a busy pool (an old, heavy hash): rolled back, no try counted
	}
	if ok {
		if card.FailedAttempts > 0 || upgrade != "" {
			u := map[string]any{"failed_attempts": 0}
			if upgrade != "" {
				u["pin_hash"] = upgrade
			}
			if err := tx.Model(&cardRow{}).Where("id = ?", card.ID).Updates(u).Error; err != nil {
				return nil, database.Classify(err)
			}
		}
		return nil, nil
	}
	card.FailedAttempts++
	u := map[string]any{"failed_attempts": card.FailedAttempts}
	left := MaxPINAttempts - card.FailedAttempts
	msg := "密码错误, 还可尝试" + string(rune('0'+left)) + "次"
	if left <= 0 {
		u["status"] = CardLocked
		msg = "密码错误次数过多, 服务卡已锁定, 请到服务窗口解锁"
	}
	if err := tx.Model(&cardRow{}).Where("id = ?", card.ID).Updates(u).Error; err != nil {
		return nil, database.Classify(err)
	}
	if err := audit.Record(ctx, tx, audit.ActionConfirmServiceOrderWithCard, audit.EntityServiceOrder, &o.ID,
		map[string]any{"pinCorrect": false, "cardNumber": number}); err != nil {
		return nil, err
	}
	return problem.New(problem.InvalidCredentials, msg, "input", "pin"), nil
}

// confirmAtDoor is a worker's confirmation of a visit with something the
// elder holds (card and PIN, or the SMS code), in one transaction: the
// order locked with its home, flag counts, sheet and the card numbered
// card if any (one statement), the worker's right to it, check (which
// answers a refusal to commit, such as a wrong PIN counted, or an error
// to roll back), the confirmation rule (the position's distance from the
// home), and the payment. A visit confirmed already is answered as it is
// (a retry).
func (s *Service) confirmAtDoor(ctx context.Context, orderID uuid.UUID, card string, p Position, via string, action audit.Action,
	check func(tx *gorm.DB, lv *lockedVisit) (refusal, err error)) (*Order, error) {
	v, err := policy.Require(ctx, policy.PerformVisit)
	if err != nil {
		return nil, err
	}
	if err := validPosition(p, "position"); err != nil {
		return nil, err
	}
	var out *Order
	var refused error
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		refused = nil // a retried transaction answers as its last attempt
		lv, err := lockVisit(ctx, tx, orderID, card)
		if err != nil {
			return err
		}
		// The order first: a worker learns nothing about cards or codes
		// through an order that is not theirs.
		if lv == nil {
			return notFound("orderId")
		}
		o := &lv.Order
		if ok, err := s.reaches(ctx, tx, v, policy.PerformVisit, o); err != nil || !ok {
			if err == nil {
				err = notFound("orderId")
			}
			return err
		}
		switch Status(o.Status) {
		case Confirmed, Redeemed:
			out = o.order()
			return s.attach(ctx, tx, []*Order{out})
		case CheckedOut:
		default:
			return problem.New(problem.InvalidTransition, "签退后才能确认", "input", "orderId")
		}
		if refused, err = check(tx, lv); err != nil || refused != nil {
			return err // a refusal commits what check counted
		}
		var h *homeRow
		if lv.HomeLat != nil && lv.HomeLng != nil {
			h = &homeRow{Latitude: *lv.HomeLat, Longitude: *lv.HomeLng}
		}
		d := distanceFromHome(h, p)
		fired := evaluate(atCardConfirm, &visitFacts{limits: s.limits, distanceM: d, accuracyM: p.AccuracyMeters, confirmedVia: via})
		if err := s.raise(ctx, tx, o, fired); err != nil {
			return err
		}
		o.ConfirmDistanceM = d
		held := lv.OpenFlags + len(fired)
		now := s.now()
		o.Status, o.ConfirmedAt, o.ConfirmedVia = string(Confirmed), &now, &via
		if held == 0 {
			if err := s.pay(ctx, tx, o); err != nil {
				return err
			}
		}
		if err := saveConfirmation(ctx, tx, o, action, map[string]any{"via": via, "held": held > 0}); err != nil {
			return err
		}
		out = o.order()
		if lv.Flags+len(fired) > 0 {
			return s.attach(ctx, tx, []*Order{out})
		}
		// A visit that never had a flag and (being just confirmed) has no
		// dispute needs only its sheet, read with the lock.
		out.Sheet = lv.Sheet.sheet(s.today())
		return nil
	})
	if err != nil {
		return nil, err
	}
	if refused != nil {
		return nil, refused
	}
	return out, nil
}

// lockedVisit is an order locked for update with its resident's recorded
// home, its flag counts, its resident's sheet and, when asked for, the
// service card of a number, locked too.
type lockedVisit struct {
	Order     orderRow `gorm:"embedded"`
	HomeLat   *float64
	HomeLng   *float64
	Flags     int
	OpenFlags int
	Sheet     sheetRow `gorm:"embedded;embeddedPrefix:sheet_"`
	// The card's columns, all nil when no card has the number asked for.
	CardID             *uuid.UUID
	CardResidentID     *uuid.UUID
	CardPinHash        *string
	CardStatus         *string
	CardFailedAttempts *int
}

// card is the card lockVisit read, nil when there was none.
func (lv *lockedVisit) card() *cardRow {
	if lv.CardID == nil {
		return nil
	}
	return &cardRow{ID: *lv.CardID, ResidentID: *lv.CardResidentID, PinHash: *lv.CardPinHash, Status: *lv.CardStatus,
		FailedAttempts: *lv.CardFailedAttempts}
}

// lockVisit reads order id for update with its home, flag counts and
// sheet in one statement, and with the service card numbered card ("":
// none) locked after the order, as every card confirmation locks them;
// nil when there is no such order. Reading the card with the order saves
// the confirmation a round trip; what the card says is looked at only
// once the worker's right to the order is checked.
func lockVisit(ctx context.Context, tx *gorm.DB, id uuid.UUID, card string) (*lockedVisit, error) {
	var rows []lockedVisit
	err := tx.WithContext(ctx).Raw(`SELECT o.*, h.latitude AS home_lat, h.longitude AS home_lng,
		(SELECT count(*) FROM service_order_flags g WHERE g.order_id = o.id) AS flags,
		(SELECT count(*) FROM service_order_flags g WHERE g.order_id = o.id AND g.status = 'OPEN') AS open_flags,
		r.id AS sheet_id, r.name AS sheet_name, r.id_number_masked AS sheet_id_number_masked, r.phone_masked AS sheet_phone_masked,
		r.address AS sheet_address, r.birth_date AS sheet_birth_date, r.org_path AS sheet_org_path,
		c.id AS card_id, c.resident_id AS card_resident_id, c.pin_hash AS card_pin_hash, c.status AS card_status,
		c.failed_attempts AS card_failed_attempts
		FROM service_orders o LEFT JOIN care_homes h ON h.resident_id = o.resident_id
		LEFT JOIN LATERAL (`+resident.VisitSheetSQL("ARRAY[o.resident_id]")+`) r ON true
		LEFT JOIN LATERAL (SELECT id, resident_id, pin_hash, status, failed_attempts FROM service_cards
			WHERE card_number = ? FOR UPDATE) c ON true
		WHERE o.id = ? FOR UPDATE OF o`, card, id).Scan(&rows).Error
	if err != nil {
		return nil, database.Classify(err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// saveConfirmation writes a door confirmation's columns of the order and
// its audit entry in one statement (a hot path: the audit row rides in
// the update's WITH, as voucher's redemption does).
func saveConfirmation(ctx context.Context, tx *gorm.DB, o *orderRow, action audit.Action, detail map[string]any) error {
	b, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	st := audit.NewStamp(ctx)
	err = tx.WithContext(ctx).Exec(`WITH a AS (`+audit.Insert+` VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb))
		UPDATE service_orders SET status = ?, confirmed_at = ?, confirmed_via = ?, confirm_distance_m = ?, redemption_id = ? WHERE id = ?`,
		st.ID, st.At, st.ActorID, st.ActorKind, string(action), string(audit.EntityServiceOrder), o.ID, st.RequestID, string(b),
		o.Status, o.ConfirmedAt, o.ConfirmedVia, o.ConfirmDistanceM, o.RedemptionID, o.ID).Error
	return database.Classify(err)
}

// ConfirmByResident is the resident's own confirmation in the mini-program,
// or a family proxy's whose link holds SPEND (policy.ActFor): the audit
// entry then names the proxy's account (its actor) and the resident it
// acted for, with the link.
func (s *Service) ConfirmByResident(ctx context.Context, orderID uuid.UUID) (*Order, error) {
	v := auth.ViewerFrom(ctx)
	if v == nil {
		return nil, problem.ErrUnauthenticated
	}
	return s.step(ctx, v, policy.ConfirmVisit, orderID, func(tx *gorm.DB, o *orderRow) error {
		detail, err := s.actingDetail(ctx, v, o.ResidentID)
		if err != nil {
			return err
		}
		return s.confirm(ctx, tx, o, ViaResident, audit.ActionConfirmServiceOrder, detail)
	})
}

// confirm confirms a checked-out visit (locked by the caller) and pays for
// it unless a flag holds it. A visit confirmed already is answered as it
// is: two confirmations racing give one payment (the order's row lock
// orders them, and the payment is idempotent by order id besides).
func (s *Service) confirm(ctx context.Context, tx *gorm.DB, o *orderRow, via string, action audit.Action, detail map[string]any) error {
	switch Status(o.Status) {
	case Confirmed, Redeemed:
		return nil
	case CheckedOut:
	default:
		return problem.New(problem.InvalidTransition, "签退后才能确认", "input", "orderId")
	}
	held, err := openFlags(ctx, tx, o.ID)
	if err != nil {
		return err
	}
	return s.confirmHeld(ctx, tx, o, via, action, held, detail)
}

// confirmHeld is confirm once the number of open flags is known.
func (s *Service) confirmHeld(ctx context.Context, tx *gorm.DB, o *orderRow, via string, action audit.Action, held int, detail map[string]any) error {
	now := s.now()
	o.Status, o.ConfirmedAt, o.ConfirmedVia = string(Confirmed), &now, &via
	if held == 0 {
		if err := s.pay(ctx, tx, o); err != nil {
			return err
		}
	}
	if detail == nil {
		detail = map[string]any{}
	}
	detail["via"], detail["held"] = via, held > 0
	return s.save(ctx, tx, o, action, detail)
}

// actingDetail is the audit detail of a mini-program viewer acting for
// resident r: nil for the resident's own account or staff, the resident
// and the proxy link for a family proxy (policy.Acting.Detail), so the
// entry names both identities.
func (s *Service) actingDetail(ctx context.Context, v *auth.Viewer, r uuid.UUID) (map[string]any, error) {
	if v.Kind != auth.SubjectWechat || policy.IsSelf(v, r) {
		return nil, nil
	}
	a, err := policy.ActFor(ctx, s.proxies, r, policy.ScopeSpend)
	if err != nil {
		return nil, err
	}
	return a.Detail(nil), nil
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
