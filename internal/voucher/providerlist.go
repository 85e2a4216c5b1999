package voucher

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/page"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// RedemptionFilter narrows a provider's list of its redemptions; nil
// conditions hold for every redemption.
type RedemptionFilter struct {
	// From and To bound the service date, both inclusive.
	From, To  *civil.Date
	Status    *RedemptionStatus
	ProgramID *uuid.UUID
}

// MaxSettlementMonths bounds Provider.settlements(from, to).
const MaxSettlementMonths = 36

// ProviderRedemptions lists a provider's redemptions, newest service date
// first and newest first within a day, by keyset over (service_date, id)
// on redemptions_provider_list_idx: a page costs the same on the provider's
// millionth redemption as on its first. The provider itself, and the roles
// that read every provider's settlements.
func (s *Service) ProviderRedemptions(ctx context.Context, providerID uuid.UUID, f RedemptionFilter, p page.Request) (page.Result[*Redemption], error) {
	if err := s.mayReadProvider(ctx, providerID); err != nil {
		return page.Result[*Redemption]{}, err
	}
	if f.From != nil && f.To != nil && f.To.Before(*f.From) {
		return page.Result[*Redemption]{}, problem.BadInput("to is before from")
	}
	q := s.db.WithContext(ctx).Model(&redemptionRow{}).Where("provider_id = ?", providerID)
	if f.From != nil {
		q = q.Where("service_date >= ?", *f.From)
	}
	if f.To != nil {
		q = q.Where("service_date <= ?", *f.To)
	}
	if f.Status != nil {
		q = q.Where("status = ?", string(*f.Status))
	}
	if f.ProgramID != nil {
		q = q.Where("program_id = ?", *f.ProgramID)
	}
	if p.After != nil {
		// The cursor row's own position, from the primary key; a cursor of
		// another provider's redemption matches nothing.
		q = q.Where("(service_date, id) < (SELECT service_date, id FROM redemptions WHERE id = ? AND provider_id = ?)", *p.After, providerID)
	}
	var rows []redemptionRow
	if err := q.Order("service_date DESC, id DESC").Limit(p.First + 1).Find(&rows).Error; err != nil {
		return page.Result[*Redemption]{}, database.Classify(err)
	}
	out := make([]*Redemption, len(rows))
	for i := range rows {
		out[i] = rows[i].redemption()
	}
	return page.Trim(p, out), nil
}

// ProviderSettlements is a provider's settlement of each month from from
// to to (YYYY-MM, inclusive, at most MaxSettlementMonths), oldest first;
// to is this month when empty, from the 11 months before to.
func (s *Service) ProviderSettlements(ctx context.Context, providerID uuid.UUID, from, to string) ([]*Settlement, error) {
	if err := s.mayReadProvider(ctx, providerID); err != nil {
		return nil, err
	}
	if to == "" {
		to = civil.MonthOf(s.today()).String()
	}
	b, errB := civil.ParseMonth(to)
	if from == "" && errB == nil {
		from = b.AddMonths(-11).String()
	}
	a, errA := civil.ParseMonth(from)
	switch {
	case errA != nil || errB != nil:
		return nil, problem.BadInput("month must be YYYY-MM")
	case b.First().Before(a.First()):
		return nil, problem.BadInput("to is before from")
	case !b.First().Before(a.AddMonths(MaxSettlementMonths).First()):
		return nil, problem.BadInput("at most 36 months at once")
	}
	var out []*Settlement
	db := s.db.WithContext(ctx)
	for m := a; !b.First().Before(m.First()); m = m.AddMonths(1) {
		st, err := s.settlement(ctx, db, providerID, m)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// mayReadProvider: a provider reads its own redemptions and settlements;
// ADMIN and AUDITOR every provider's.
func (s *Service) mayReadProvider(ctx context.Context, providerID uuid.UUID) error {
	v, err := policy.Require(ctx, policy.ReadSettlements)
	if err != nil {
		return err
	}
	if !policy.ScopeOf(v, policy.ReadSettlements).OwnProvider(providerID) {
		return problem.Forbidden("a provider sees only its own settlement")
	}
	return nil
}

// IdempotencyKeys loads the key each redemption was made with, for the
// viewer allowed to read the provider's own list (others get none).
func (s *Service) IdempotencyKeys(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*string, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]*string, len(ids))
	sc := policy.ScopeOf(v, policy.ReadSettlements)
	if sc.Reach == policy.None {
		return out, nil
	}
	q := s.db.WithContext(ctx).Table("redemption_keys").Select("redemption_id, idempotency_key").
		Where("redemption_id = ANY(?)", database.UUIDs(ids))
	if !sc.All() {
		q = q.Where("provider_id = ?", sc.ProviderID)
	}
	var rows []struct {
		RedemptionID   uuid.UUID
		IdempotencyKey string
	}
	if err := q.Scan(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	for _, r := range rows {
		out[r.RedemptionID] = &r.IdempotencyKey
	}
	return out, nil
}

// ReversibleUntil is when the provider that made r can no longer reverse
// it (ADMIN may later, until the month is settled); nil once reversed.
func (r *Redemption) ReversibleUntil() *time.Time {
	if r.Status != Completed {
		return nil
	}
	t := r.CreatedAt.Add(ReversalWindow)
	return &t
}

// ViewerCanReverse says whether reverseRedemption by v would be let
// through by the policy now: the action and its reach (policy), the
// redemption's state and the provider's window; a confirmed month (SETTLED)
// is read from the database.
func (s *Service) ViewerCanReverse(ctx context.Context, r *Redemption) (bool, error) {
	v := auth.ViewerFrom(ctx)
	sc := policy.ScopeOf(v, policy.ReverseRedemption)
	if !sc.OwnProvider(r.ProviderID) || r.Status != Completed {
		return false, nil
	}
	if !sc.All() && s.now().Sub(r.CreatedAt) > ReversalWindow {
		return false, nil
	}
	var settled bool
	err := s.db.WithContext(ctx).Raw("SELECT provider_month_settled(?, ?)", r.ProviderID, civil.MonthOf(r.ServiceDate).String()).Row().Scan(&settled)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	return !settled, database.Classify(err)
}

// First is the first day of the settlement's month.
func (st *Settlement) First() civil.Date {
	m, _ := civil.ParseMonth(st.Month)
	return m.First()
}

// Last is the last day of the settlement's month.
func (st *Settlement) Last() civil.Date {
	m, _ := civil.ParseMonth(st.Month)
	return m.Last()
}
