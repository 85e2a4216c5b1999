package homecare

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// NewOrder is the input of CreateOrder. ResidentID defaults to the
// resident of a mini-program viewer; ProviderID to a provider viewer's own.
type NewOrder struct {
	ResidentID    *uuid.UUID
	ProviderID    *uuid.UUID
	ItemID        uuid.UUID
	Quantity      int
	ScheduledDate civil.Date
}

// validPosition checks a reported position.
func validPosition(p Position, field string) error {
	if math.IsNaN(p.Latitude) || math.IsNaN(p.Longitude) || p.Latitude < -90 || p.Latitude > 90 || p.Longitude < -180 || p.Longitude > 180 {
		return problem.New(problem.Invalid, "经纬度无效", "input", field)
	}
	if p.AccuracyMeters != nil && (math.IsNaN(*p.AccuracyMeters) || *p.AccuracyMeters < 0 || *p.AccuracyMeters > 100_000) {
		return problem.New(problem.Invalid, "定位精度无效", "input", field)
	}
	return nil
}

// CreateOrder creates a service order: by a clerk or case worker at a
// counter, by the resident (or a proxy) in the mini-program, or by the
// provider. The amount is the price list's unit price times the quantity,
// never typed; the program's per-resident caps are checked under a lock
// of the resident's orders.
func (s *Service) CreateOrder(ctx context.Context, in NewOrder) (*Order, error) {
	v, err := policy.Require(ctx, policy.CreateServiceOrder)
	if err != nil {
		return nil, err
	}
	sc := policy.ScopeOf(v, policy.CreateServiceOrder)
	if in.ResidentID == nil && v.ResidentID != nil && v.Kind == auth.SubjectWechat {
		in.ResidentID = v.ResidentID
	}
	if in.ProviderID == nil && sc.Reach == policy.Own {
		in.ProviderID = &sc.ProviderID
	}
	if in.ResidentID == nil {
		return nil, problem.New(problem.Invalid, "请指定服务对象", "input", "residentId")
	}
	if in.ProviderID == nil {
		return nil, problem.New(problem.Invalid, "请指定服务机构", "input", "providerId")
	}
	if sc.Reach == policy.Own && *in.ProviderID != sc.ProviderID {
		return nil, problem.Forbidden("a provider creates orders for itself only")
	}
	if in.Quantity < 1 || in.Quantity > 100 {
		return nil, problem.New(problem.Invalid, "数量须在1至100之间", "input", "quantity")
	}
	today := s.today()
	if in.ScheduledDate.IsZero() || in.ScheduledDate.Before(today.AddDays(-1)) || in.ScheduledDate.After(today.AddDays(90)) {
		return nil, problem.New(problem.Invalid, "预约日期须在昨天至90天内", "input", "scheduledDate")
	}
	rid, pid := *in.ResidentID, *in.ProviderID
	var out *Order
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		f, err := factsOf(ctx, tx, rid)
		if err != nil {
			return err
		}
		if f == nil {
			return problem.New(problem.NotFound, "居民不存在", "input", "residentId")
		}
		ok, err := policy.On(v, policy.CreateServiceOrder, policy.Subject{ID: rid, OrgPath: f.OrgPath})
		if err != nil {
			return err
		}
		if !ok && sc.Reach != policy.Own {
			if ok, err = s.mayConfirmFor(ctx, v, policy.CreateServiceOrder, rid); err != nil {
				return err
			}
			if !ok {
				return policy.OutOfJurisdiction("input", "residentId")
			}
		}
		if !f.Living {
			return problem.New(problem.NotEligible, "该居民已故", "input", "residentId")
		}
		var items []itemRow
		if err := tx.Raw(`SELECT i.* FROM care_price_items i JOIN care_provider_items p ON p.item_id = i.id AND p.provider_id = ?
			WHERE i.id = ? AND i.active`, pid, in.ItemID).Scan(&items).Error; err != nil {
			return database.Classify(err)
		}
		if len(items) == 0 {
			return problem.New(problem.CategoryNotAllowed, "该机构不提供此服务项目", "input", "itemId")
		}
		it := items[0]
		// One resident's orders are created one at a time, so two
		// concurrent orders cannot both pass a cap.
		if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 21))", "care:"+rid.String()).Error; err != nil {
			return database.Classify(err)
		}
		if err := s.checkCaps(ctx, tx, rid, &it, in.ScheduledDate); err != nil {
			return err
		}
		r := orderRow{ID: newID(), ProviderID: pid, ProgramID: it.ProgramID, ResidentID: rid, ItemID: it.ID, Category: it.Category,
			Quantity: in.Quantity, AmountFen: it.UnitPriceFen * int64(in.Quantity), ScheduledDate: in.ScheduledDate,
			Status: string(Requested), CreatedByKind: string(v.Kind), CreatedBy: v.ID, CreatedAt: s.now()}
		if err := tx.Create(&r).Error; err != nil {
			return database.Classify(err)
		}
		out = r.order()
		detail := map[string]any{"amountFen": r.AmountFen}
		if sc.Reach != policy.Own {
			acting, err := s.actingDetail(ctx, v, rid)
			if err != nil {
				return err
			}
			for k, x := range acting {
				detail[k] = x
			}
		}
		if err := audit.Record(ctx, tx, audit.ActionCreateServiceOrder, audit.EntityServiceOrder, &r.ID, detail); err != nil {
			return err
		}
		return s.attach(ctx, tx, []*Order{out})
	})
	return out, err
}

// checkCaps refuses an order that would take the resident over one of the
// program's caps for the item's category (orders not cancelled, counted
// by scheduled date in the period around date).
func (s *Service) checkCaps(ctx context.Context, tx *gorm.DB, rid uuid.UUID, it *itemRow, d civil.Date) error {
	var caps []struct {
		Period    string
		MaxVisits int
	}
	if err := tx.Raw("SELECT period, max_visits FROM care_caps WHERE program_id = ? AND category = ?", it.ProgramID, it.Category).
		Scan(&caps).Error; err != nil {
		return database.Classify(err)
	}
	for _, c := range caps {
		from, to := periodOf(Period(c.Period), d)
		var n int
		if err := tx.Raw(`SELECT count(*) FROM service_orders WHERE resident_id = ? AND program_id = ? AND category = ?
			AND status <> 'CANCELLED' AND scheduled_date BETWEEN ? AND ?`, rid, it.ProgramID, it.Category, from, to).Scan(&n).Error; err != nil {
			return database.Classify(err)
		}
		if n >= c.MaxVisits {
			return problem.New(problem.NotEligible, fmt.Sprintf("已达上限: 该类服务每%s最多%d次", periodWord[Period(c.Period)], c.MaxVisits),
				"input", "scheduledDate")
		}
	}
	return nil
}

var periodWord = map[Period]string{Day: "日", Week: "周", Month: "月"}

// periodOf is the first and last day of the period p around d (weeks from
// Monday).
func periodOf(p Period, d civil.Date) (civil.Date, civil.Date) {
	switch p {
	case Week:
		back := (int(d.Weekday()) + 6) % 7
		return d.AddDays(-back), d.AddDays(6 - back)
	case Month:
		m := civil.MonthOf(d)
		return m.First(), m.Last()
	}
	return d, d
}

// Assign gives an order to one of the provider's active workers (again
// before check-in to reassign).
func (s *Service) Assign(ctx context.Context, orderID, workerID uuid.UUID) (*Order, error) {
	v, err := policy.Require(ctx, policy.AssignServiceOrder)
	if err != nil {
		return nil, err
	}
	return s.step(ctx, v, policy.AssignServiceOrder, orderID, func(tx *gorm.DB, o *orderRow) error {
		if !Status(o.Status).CanBecome(Assigned) {
			return problem.New(problem.InvalidTransition, "工单当前状态不能派单", "input", "orderId")
		}
		u, err := s.users.UserTx(ctx, tx, workerID)
		if err != nil {
			return err
		}
		if u == nil || !isWorker(u) || u.ProviderID == nil || *u.ProviderID != o.ProviderID || !u.Active {
			return problem.New(problem.NotFound, "护理员不存在或已停用", "input", "workerId")
		}
		o.Status, o.WorkerID = string(Assigned), &workerID
		return s.save(ctx, tx, o, audit.ActionAssignServiceOrder, map[string]any{"worker": workerID})
	})
}

// Cancel cancels an order before it is paid (a reviewer's reversal of a
// held visit is ReviewVisit's).
func (s *Service) Cancel(ctx context.Context, orderID uuid.UUID, reason string) (*Order, error) {
	v, err := policy.Require(ctx, policy.CancelServiceOrder)
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if n := len([]rune(reason)); n < 1 || n > 500 {
		return nil, problem.New(problem.Invalid, "请填写1至500字的原因", "input", "reason")
	}
	return s.step(ctx, v, policy.CancelServiceOrder, orderID, func(tx *gorm.DB, o *orderRow) error {
		if st := Status(o.Status); !st.CanBecome(Cancelled) || st == Disputed || st == Confirmed {
			return problem.New(problem.InvalidTransition, "工单当前状态不能取消", "input", "orderId")
		}
		now := s.now()
		o.Status, o.CancelledAt, o.CancelReason = string(Cancelled), &now, &reason
		detail, err := s.actingDetail(ctx, v, o.ResidentID)
		if err != nil {
			return err
		}
		return s.save(ctx, tx, o, audit.ActionCancelServiceOrder, detail)
	})
}

// CheckIn records the worker's arrival: time, position, distance from the
// home; the check-in rules run.
func (s *Service) CheckIn(ctx context.Context, orderID uuid.UUID, p Position) (*Order, error) {
	v, err := policy.Require(ctx, policy.PerformVisit)
	if err != nil {
		return nil, err
	}
	if err := validPosition(p, "position"); err != nil {
		return nil, err
	}
	return s.step(ctx, v, policy.PerformVisit, orderID, func(tx *gorm.DB, o *orderRow) error {
		if Status(o.Status) != Assigned {
			return problem.New(problem.InvalidTransition, "工单当前状态不能签到", "input", "orderId")
		}
		h, err := home(ctx, tx, o)
		if err != nil {
			return err
		}
		now := s.now()
		day := civil.DateOf(now)
		o.Status, o.CheckInAt, o.CheckInLat, o.CheckInLng, o.CheckInAccuracy = string(CheckedIn), &now, &p.Latitude, &p.Longitude, p.AccuracyMeters
		o.CheckInDistanceM, o.ServiceDate = distanceFromHome(h, p), &day
		if err := s.save(ctx, tx, o, audit.ActionCheckInServiceOrder, nil); err != nil {
			return err
		}
		n, limit, err := s.dayCount(ctx, tx, o, day)
		if err != nil {
			return err
		}
		f := &visitFacts{limits: s.limits, distanceM: o.CheckInDistanceM, accuracyM: p.AccuracyMeters, visitsThatDay: n, dayCap: limit}
		return s.raise(ctx, tx, o, evaluate(atCheckIn, f))
	})
}

// CheckOut records the worker's departure; the check-out rules run.
func (s *Service) CheckOut(ctx context.Context, orderID uuid.UUID, p Position) (*Order, error) {
	v, err := policy.Require(ctx, policy.PerformVisit)
	if err != nil {
		return nil, err
	}
	if err := validPosition(p, "position"); err != nil {
		return nil, err
	}
	return s.step(ctx, v, policy.PerformVisit, orderID, func(tx *gorm.DB, o *orderRow) error {
		if Status(o.Status) != CheckedIn {
			return problem.New(problem.InvalidTransition, "工单当前状态不能签退", "input", "orderId")
		}
		h, err := home(ctx, tx, o)
		if err != nil {
			return err
		}
		now := s.now()
		if now.Before(*o.CheckInAt) {
			now = *o.CheckInAt
		}
		o.Status, o.CheckOutAt, o.CheckOutLat, o.CheckOutLng, o.CheckOutAccuracy = string(CheckedOut), &now, &p.Latitude, &p.Longitude, p.AccuracyMeters
		o.CheckOutDistanceM = distanceFromHome(h, p)
		if err := s.save(ctx, tx, o, audit.ActionCheckOutServiceOrder, nil); err != nil {
			return err
		}
		var minutes int
		if err := tx.Raw("SELECT minimum_minutes FROM care_price_items WHERE id = ?", o.ItemID).Scan(&minutes).Error; err != nil {
			return database.Classify(err)
		}
		n, err := overlapCount(ctx, tx, o, *o.CheckInAt, now)
		if err != nil {
			return err
		}
		row := o.order()
		f := &visitFacts{limits: s.limits, checkIn: row.CheckIn, checkOut: row.CheckOut, minimumMinutes: minutes, overlaps: n}
		return s.raise(ctx, tx, o, evaluate(atCheckOut, f))
	})
}

// step runs one change of an order in a transaction: the order locked and
// checked against a, fn's change, then the order reloaded with its sheet,
// flags and dispute.
func (s *Service) step(ctx context.Context, v *auth.Viewer, a policy.Action, id uuid.UUID, fn func(tx *gorm.DB, o *orderRow) error) (*Order, error) {
	var out *Order
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		o, err := s.requireOn(ctx, tx, v, a, id, "orderId")
		if err != nil {
			return err
		}
		if err := fn(tx, o); err != nil {
			return err
		}
		out = o.order()
		return s.attach(ctx, tx, []*Order{out})
	})
	return out, err
}

// save writes an order's row and its audit entry.
func (s *Service) save(ctx context.Context, tx *gorm.DB, o *orderRow, action audit.Action, detail map[string]any) error {
	if err := tx.Save(o).Error; err != nil {
		return database.Classify(err)
	}
	return audit.Record(ctx, tx, action, audit.EntityServiceOrder, &o.ID, detail)
}

// Filter narrows Orders.
type Filter struct {
	Status *Status
	// Held: only orders with an open flag or an open dispute (the review
	// queue).
	Held  bool
	First int
}

// Orders lists the orders the viewer may read, newest first: a worker's
// own assignments, a provider's orders, a resident's own, staff's by
// jurisdiction.
func (s *Service) Orders(ctx context.Context, f Filter) ([]*Order, error) {
	v := auth.ViewerFrom(ctx)
	where, args, err := readFilter(v)
	if err != nil {
		return nil, err
	}
	if f.Held {
		if !policy.Allowed(v, policy.ReviewVisits) {
			return nil, problem.Forbidden("your role does not allow this")
		}
		sc := policy.ScopeOf(v, policy.ReviewVisits)
		w, a := sc.Where("", "o.resident_id")
		where, args = w, a
		where += ` AND (EXISTS (SELECT 1 FROM service_order_flags g WHERE g.order_id = o.id AND g.status = 'OPEN')
			OR EXISTS (SELECT 1 FROM service_order_disputes d WHERE d.order_id = o.id AND d.status = 'OPEN'))`
	}
	q := s.db.WithContext(ctx).Table("service_orders o").Where(where, args...)
	if f.Status != nil {
		q = q.Where("o.status = ?", string(*f.Status))
	}
	if f.First <= 0 || f.First > 100 {
		f.First = 50
	}
	var rows []orderRow
	if err := q.Order("o.id DESC").Limit(f.First).Select("o.*").Scan(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	out := make([]*Order, len(rows))
	for i := range rows {
		out[i] = rows[i].order()
	}
	return out, s.attach(ctx, s.db, out)
}

// Order returns one order the viewer may read (nil otherwise).
func (s *Service) Order(ctx context.Context, id uuid.UUID) (*Order, error) {
	v := auth.ViewerFrom(ctx)
	where, args, err := readFilter(v)
	if err != nil {
		return nil, err
	}
	var rows []orderRow
	if err := s.db.WithContext(ctx).Table("service_orders o").Where("o.id = ?", id).Where(where, args...).Select("o.*").
		Scan(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	if len(rows) == 0 {
		if policy.Allowed(v, policy.ReviewVisits) {
			return s.reviewable(ctx, v, id)
		}
		return nil, nil
	}
	out := rows[0].order()
	return out, s.attach(ctx, s.db, []*Order{out})
}

// reviewable is an order a reviewer may read through its review scope.
func (s *Service) reviewable(ctx context.Context, v *auth.Viewer, id uuid.UUID) (*Order, error) {
	o, err := lockOrderRead(ctx, s.db, id)
	if err != nil || o == nil {
		return nil, err
	}
	ok, err := s.reaches(ctx, s.db, v, policy.ReviewVisits, o)
	if err != nil || !ok {
		return nil, err
	}
	out := o.order()
	return out, s.attach(ctx, s.db, []*Order{out})
}

func lockOrderRead(ctx context.Context, db *gorm.DB, id uuid.UUID) (*orderRow, error) {
	var rows []orderRow
	if err := db.WithContext(ctx).Where("id = ?", id).Find(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

var _ = time.Now
