package voucher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// TokenPreview is what a provider sees of a live token before charging it.
type TokenPreview struct {
	ResidentID uuid.UUID
	ProgramID  uuid.UUID
	// SpendableFen is what a redemption dated today could spend.
	SpendableFen int64
	// Categories are those both the program and the provider pay for.
	Categories []Category
	ExpiresAt  time.Time
	MaxFen     *int64
}

// PreviewToken reads a live token for a provider about to charge it,
// without consuming it: whose it is (the caller shows name and masked ID
// number only), what a redemption today could spend and on what. A used or
// expired token gets the same user errors as a redemption would.
func (s *Service) PreviewToken(ctx context.Context, token string) (*TokenPreview, error) {
	v, err := policy.Require(ctx, policy.RedeemVoucher)
	if err != nil {
		return nil, err
	}
	if v.ProviderID == nil {
		return nil, problem.Forbidden("not a provider account")
	}
	if len(token) == 0 || len(token) > 128 {
		return nil, problem.New(problem.TokenExpired, "this code is not valid", "token")
	}
	tv, err := s.peekToken(ctx, token)
	if err != nil {
		if ues, ok := problem.AsUserErrors(err); ok {
			for _, ue := range ues {
				ue.Field = []string{"token"}
			}
		}
		return nil, err
	}
	out := &TokenPreview{ResidentID: tv.ResidentID, ProgramID: tv.ProgramID, MaxFen: tv.MaxFen, Categories: []Category{}}
	if tv.Expires > 0 {
		out.ExpiresAt = time.Unix(tv.Expires, 0)
	} else if ttl, err := s.rdb.PTTL(ctx, s.tokenKey(token)).Result(); err == nil && ttl > 0 {
		out.ExpiresAt = s.now().Add(ttl).Truncate(time.Second)
	}
	db := s.db.WithContext(ctx)
	var providerCats, programCats pq.StringArray
	if err := db.Raw("SELECT categories FROM providers WHERE id = ?", *v.ProviderID).Row().Scan(&providerCats); err != nil {
		return nil, database.Classify(fmt.Errorf("voucher: preview: %w", err))
	}
	if err := db.Raw("SELECT categories FROM voucher_programs WHERE id = ?", tv.ProgramID).Row().Scan(&programCats); err != nil {
		return nil, database.Classify(fmt.Errorf("voucher: preview: %w", err))
	}
	for _, c := range programCats {
		if slices.Contains(providerCats, c) {
			out.Categories = append(out.Categories, Category(c))
		}
	}
	if out.SpendableFen, err = spendable(ctx, db, tv.ResidentID, tv.ProgramID, s.today()); err != nil {
		return nil, err
	}
	return out, nil
}

// WatchTokenUse follows a token the viewer holds (its resident, on the
// phone that shows it) until a redemption consumes it: the channel gets
// that redemption and closes; it closes without one when the token lapses
// or ctx ends. Every instance sees every redemption: the redemption row
// (unique token hash) is polled every `every`, one index lookup.
func (s *Service) WatchTokenUse(ctx context.Context, token string, every time.Duration) (<-chan *Redemption, error) {
	v, err := policy.Require(ctx, policy.ReadRedemptions)
	if err != nil {
		return nil, err
	}
	if len(token) == 0 || len(token) > 128 {
		return nil, problem.BadInput("this code is not valid")
	}
	tv, err := s.peekToken(ctx, token)
	if err != nil {
		return nil, problem.BadInput("this code is not valid")
	}
	var path string
	if err := s.db.WithContext(ctx).Raw("SELECT org_path FROM resident_facts WHERE id = ?", tv.ResidentID).Row().Scan(&path); err != nil {
		return nil, database.Classify(err)
	}
	if ok, err := policy.On(v, policy.ReadRedemptions, policy.Subject{ID: tv.ResidentID, OrgPath: path}); err != nil || !ok {
		if err == nil {
			err = problem.Forbidden("you may not see this resident")
		}
		return nil, err
	}
	until := time.Unix(tv.Expires, 0)
	if tv.Expires == 0 {
		until = s.now().Add(TokenTTL)
	}
	hash := tokenHash(token)
	out := make(chan *Redemption, 1)
	go func() {
		defer close(out)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			var r redemptionRow
			err := s.db.WithContext(ctx).Where("token_hash = ?", hash).Take(&r).Error
			switch {
			case err == nil:
				select {
				case out <- r.redemption():
				case <-ctx.Done():
				}
				return
			case !errors.Is(err, gorm.ErrRecordNotFound) && ctx.Err() == nil:
				s.log.WarnContext(ctx, "voucher: watching a token", "err", err.Error())
			}
			// A redemption may commit a moment after the token's last
			// second: one more look after it lapsed.
			if s.now().After(until.Add(every)) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return out, nil
}
