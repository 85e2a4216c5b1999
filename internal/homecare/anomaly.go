package homecare

import (
	"context"
	"fmt"
	"math"
	"time"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
)

// Rule names an anomaly rule (the AnomalyRule enum of the schema).
type Rule string

// The anomaly rules.
const (
	// WorkerOverlap: the worker was checked in at another resident's home
	// during this visit.
	WorkerOverlap Rule = "WORKER_OVERLAP"
	// TooShort: checked out sooner than the item's minimum minutes.
	TooShort Rule = "TOO_SHORT"
	// CheckInFar: checked in far from the recorded home.
	CheckInFar Rule = "CHECK_IN_FAR"
	// DailyCapExceeded: more visits for the resident that day than the cap.
	DailyCapExceeded Rule = "DAILY_CAP_EXCEEDED"
	// CardFar: the card and PIN (or the SMS code) were sent from far from
	// the home.
	CardFar Rule = "CARD_FAR"
)

// stage is the step of a visit at which a rule is evaluated.
type stage int

const (
	atCheckIn stage = iota
	atCheckOut
	atCardConfirm
)

// visitFacts is what the rules look at. The step gathers it (the database
// parts in one place, gather) so that each rule is a pure function of it,
// tested on its own (anomaly_test.go).
type visitFacts struct {
	limits         Thresholds
	checkIn        *Stamp
	checkOut       *Stamp
	minimumMinutes int
	// distance and accuracy of the position of the step's report (check-in
	// or card), nil distance when no home is recorded.
	distanceM *float64
	accuracyM *float64
	// overlaps: the worker's other visits at other residents that overlap
	// this one. visitsThatDay: the resident's visits of the day (this one
	// included), counted against dayCap.
	overlaps      int
	visitsThatDay int
	dayCap        int
	// confirmedVia: how the elder confirmed (CARD or SMS_CODE), for the
	// confirmation's distance rule.
	confirmedVia string
}

// anomalyRule is one row of the rules table.
type anomalyRule struct {
	rule  Rule
	stage stage
	// check answers whether the rule fires, and a detail for the reviewer.
	check func(f *visitFacts) (bool, string)
}

// rules is the table: each rule, when it runs, and what it checks.
var rules = []anomalyRule{
	{CheckInFar, atCheckIn, func(f *visitFacts) (bool, string) { return far(f, "签到") }},
	{DailyCapExceeded, atCheckIn, func(f *visitFacts) (bool, string) {
		if f.dayCap > 0 && f.visitsThatDay > f.dayCap {
			return true, fmt.Sprintf("当日第%d次上门, 上限%d次", f.visitsThatDay, f.dayCap)
		}
		return false, ""
	}},
	{TooShort, atCheckOut, func(f *visitFacts) (bool, string) {
		if f.checkIn == nil || f.checkOut == nil {
			return false, ""
		}
		d := f.checkOut.At.Sub(f.checkIn.At)
		if min := time.Duration(f.minimumMinutes) * time.Minute; d < min {
			return true, fmt.Sprintf("服务%d分钟, 不足最短%d分钟", int(d.Minutes()), f.minimumMinutes)
		}
		return false, ""
	}},
	{WorkerOverlap, atCheckOut, func(f *visitFacts) (bool, string) {
		if f.overlaps > 0 {
			return true, fmt.Sprintf("服务期间该护理员另有%d单在其他居民家中签到", f.overlaps)
		}
		return false, ""
	}},
	{CardFar, atCardConfirm, func(f *visitFacts) (bool, string) {
		if f.confirmedVia == ViaSMSCode {
			return far(f, "短信确认码确认")
		}
		return far(f, "刷卡确认")
	}},
}

// far fires when the report's distance from the home exceeds FarMeters
// plus the phone's reported accuracy (capped, so a phone cannot excuse
// itself by reporting a huge radius).
func far(f *visitFacts, what string) (bool, string) {
	if f.distanceM == nil {
		return false, ""
	}
	slack := 0.0
	if f.accuracyM != nil {
		slack = math.Min(math.Max(*f.accuracyM, 0), f.limits.MaxAccuracyMeters)
	}
	if *f.distanceM > f.limits.FarMeters+slack {
		return true, fmt.Sprintf("%s位置距住址%.0f米", what, *f.distanceM)
	}
	return false, ""
}

// evaluate runs the rules of stage st and answers those that fired.
func evaluate(st stage, f *visitFacts) map[Rule]string {
	out := map[Rule]string{}
	for _, r := range rules {
		if r.stage != st {
			continue
		}
		if hit, detail := r.check(f); hit {
			out[r.rule] = detail
		}
	}
	return out
}

// raise records fired rules as OPEN flags on the order (a rule fires at
// most once per order).
func (s *Service) raise(ctx context.Context, tx *gorm.DB, o *orderRow, fired map[Rule]string) error {
	for _, r := range rules { // table order, so flags come out in a stable order
		detail, ok := fired[r.rule]
		if !ok {
			continue
		}
		if err := tx.Exec(`INSERT INTO service_order_flags (id, order_id, rule, detail, status, raised_at) VALUES (?, ?, ?, ?, 'OPEN', ?)
			ON CONFLICT (order_id, rule) DO NOTHING`, newID(), o.ID, string(r.rule), detail, s.now()).Error; err != nil {
			return database.Classify(err)
		}
	}
	return nil
}

// dayCount counts the resident's visits checked in on day d (this one
// included) and the cap that applies: the program's DAY cap of the
// category when set (counting that category), else DailyVisits over all.
func (s *Service) dayCount(ctx context.Context, tx *gorm.DB, o *orderRow, d civil.Date) (count, limit int, err error) {
	var caps []int
	if err := tx.Raw("SELECT max_visits FROM care_caps WHERE program_id = ? AND category = ? AND period = 'DAY'",
		o.ProgramID, o.Category).Scan(&caps).Error; err != nil {
		return 0, 0, database.Classify(err)
	}
	q := "SELECT count(*) FROM service_orders WHERE resident_id = ? AND service_date = ? AND status <> 'CANCELLED'"
	args := []any{o.ResidentID, d}
	limit = s.limits.DailyVisits
	if len(caps) == 1 {
		q += " AND category = ?"
		args = append(args, o.Category)
		limit = caps[0]
	}
	var n int
	if err := tx.Raw(q, args...).Scan(&n).Error; err != nil {
		return 0, 0, database.Classify(err)
	}
	return n, limit, nil
}

// overlapCount counts the worker's other visits, at other residents,
// whose time at the home overlaps [in, out].
func overlapCount(ctx context.Context, tx *gorm.DB, o *orderRow, in, out time.Time) (int, error) {
	var n int
	err := tx.Raw(`SELECT count(*) FROM service_orders WHERE worker_id = ? AND id <> ? AND resident_id <> ?
		AND check_in_at IS NOT NULL AND check_in_at < ? AND coalesce(check_out_at, ?) > ? AND status <> 'CANCELLED'`,
		o.WorkerID, o.ID, o.ResidentID, out, out, in).Scan(&n).Error
	return n, database.Classify(err)
}

// home reads the resident's recorded home; nil when none.
func home(ctx context.Context, tx *gorm.DB, o *orderRow) (*homeRow, error) {
	var h []homeRow
	if err := tx.Where("resident_id = ?", o.ResidentID).Find(&h).Error; err != nil {
		return nil, database.Classify(err)
	}
	if len(h) == 0 {
		return nil, nil
	}
	return &h[0], nil
}

// distanceFromHome is p's distance from the home, nil without a home.
func distanceFromHome(h *homeRow, p Position) *float64 {
	if h == nil {
		return nil
	}
	d := math.Round(distanceMeters(h.Latitude, h.Longitude, p.Latitude, p.Longitude)*10) / 10
	return &d
}
