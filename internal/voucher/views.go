package voucher

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
)

type voucherRow struct {
	ID           uuid.UUID
	ProgramID    uuid.UUID
	ResidentID   uuid.UUID
	Period       string
	FaceValueFen int64
	BalanceFen   int64
	Status       string
	ValidFrom    civil.Date
	ValidUntil   civil.Date
	CreatedAt    time.Time
}

func (voucherRow) TableName() string { return "vouchers" }

// voucherColumns are voucherRow's columns in its field order.
const voucherColumns = "id, program_id, resident_id, period, face_value_fen, balance_fen, status, valid_from, valid_until, created_at"

func (r *voucherRow) voucher() *Voucher {
	return &Voucher{ID: r.ID, ProgramID: r.ProgramID, ResidentID: r.ResidentID, Period: r.Period, FaceValueFen: r.FaceValueFen,
		BalanceFen: r.BalanceFen, Status: Status(r.Status), ValidFrom: r.ValidFrom, ValidUntil: r.ValidUntil, CreatedAt: r.CreatedAt}
}

type redemptionRow struct {
	ID            uuid.UUID
	ProviderID    uuid.UUID
	ResidentID    uuid.UUID
	ProgramID     uuid.UUID
	Category      string
	AmountFen     int64
	ServiceDate   civil.Date
	Status        string
	Note          *string
	CreatedAt     time.Time
	ReversedAt    *time.Time
	ReverseReason *string
	// BalanceAfterFen is the program balance the redemption left (what a
	// replay of its idempotency key answers); it is not part of Redemption.
	BalanceAfterFen *int64
	// ReversedBalanceAfterFen is what its reversal left spendable (what a
	// retried reverseRedemption answers).
	ReversedBalanceAfterFen *int64
}

func (redemptionRow) TableName() string { return "redemptions" }

func (r *redemptionRow) redemption() *Redemption {
	return &Redemption{ID: r.ID, ProviderID: r.ProviderID, ResidentID: r.ResidentID, ProgramID: r.ProgramID,
		Category: Category(r.Category), AmountFen: r.AmountFen, ServiceDate: r.ServiceDate, Status: RedemptionStatus(r.Status),
		Note: r.Note, CreatedAt: r.CreatedAt, ReversedAt: r.ReversedAt, ReverseReason: r.ReverseReason}
}

// VouchersByResidents loads every voucher of each resident the viewer may
// see, earliest expiry first (for the Resident.vouchers loader).
func (s *Service) VouchersByResidents(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]*Voucher, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	// Scanned by hand, with the ids as one uuid[] parameter: GORM's
	// reflective scan and per-id parameters were a twentieth of the CPU
	// of a residents page.
	q, err := s.scopeFor(ctx, v, policy.ReadVouchers, ids, "resident_id",
		s.db.WithContext(ctx).Model(&voucherRow{}).Select(voucherColumns).Where("resident_id = ANY(?)", database.UUIDs(ids)))
	if err != nil {
		return nil, err
	}
	rows, err := q.Order("valid_until, id").Rows()
	if err != nil {
		return nil, database.Classify(err)
	}
	defer rows.Close()
	out := make(map[uuid.UUID][]*Voucher, len(ids))
	for _, id := range ids {
		out[id] = []*Voucher{}
	}
	for rows.Next() {
		var r voucherRow
		if err := rows.Scan(&r.ID, &r.ProgramID, &r.ResidentID, &r.Period, &r.FaceValueFen, &r.BalanceFen, &r.Status,
			&r.ValidFrom, &r.ValidUntil, &r.CreatedAt); err != nil {
			return nil, database.Classify(fmt.Errorf("voucher: scan: %w", err))
		}
		out[r.ResidentID] = append(out[r.ResidentID], r.voucher())
	}
	if err := rows.Err(); err != nil {
		return nil, database.Classify(err)
	}
	return out, nil
}

// Filter keeps the vouchers of a program and/or status (nil: any).
func Filter(vs []*Voucher, programID *uuid.UUID, status *Status) []*Voucher {
	out := make([]*Voucher, 0, len(vs))
	for _, v := range vs {
		if (programID == nil || v.ProgramID == *programID) && (status == nil || v.Status == *status) {
			out = append(out, v)
		}
	}
	return out
}

// SpendableOn reports whether a redemption dated d could draw on v: ACTIVE
// and d inside its validity (the same window redeem.sql checks).
func (v *Voucher) SpendableOn(d civil.Date) bool {
	return v.Status == Active && !d.Before(v.ValidFrom) && !v.ValidUntil.Before(d)
}

// Balance is what a redemption dated on could spend: the vouchers
// SpendableOn that day, optionally of one program. Next month's vouchers,
// issued ahead and not yet valid, are not in it.
func Balance(vs []*Voucher, programID *uuid.UUID, on civil.Date) int64 {
	var n int64
	for _, v := range vs {
		if v.SpendableOn(on) && (programID == nil || v.ProgramID == *programID) {
			n += v.BalanceFen
		}
	}
	return n
}

// Today is the business date (Asia/Shanghai) on the service's clock.
func (s *Service) Today() civil.Date { return s.today() }

// LedgerByVouchers loads each voucher's entries in order (Voucher.ledger
// loader; the voucher itself was already authorized).
func (s *Service) LedgerByVouchers(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]*LedgerEntry, error) {
	var rows []ledgerRow
	if err := s.db.WithContext(ctx).Where("voucher_id = ANY(?)", database.UUIDs(ids)).Order("voucher_id, seq").Find(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	out := make(map[uuid.UUID][]*LedgerEntry, len(ids))
	for _, id := range ids {
		out[id] = []*LedgerEntry{}
	}
	for _, r := range rows {
		out[r.VoucherID] = append(out[r.VoucherID], &LedgerEntry{ID: r.ID, VoucherID: r.VoucherID, Kind: EntryKind(r.Kind),
			AmountFen: r.AmountFen, BalanceAfterFen: r.BalanceAfterFen, At: r.At, RedemptionID: r.RedemptionID})
	}
	return out, nil
}

// ResidentRedemptionsKey asks for the newest First redemptions of a resident.
type ResidentRedemptionsKey struct {
	ResidentID uuid.UUID
	First      int
}

// RedemptionsByResidents loads each resident's newest redemptions (one
// query per distinct First). A provider sees only its own.
func (s *Service) RedemptionsByResidents(ctx context.Context, keys []ResidentRedemptionsKey) (map[ResidentRedemptionsKey][]*Redemption, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	byFirst := map[int][]uuid.UUID{}
	out := make(map[ResidentRedemptionsKey][]*Redemption, len(keys))
	for _, k := range keys {
		byFirst[k.First] = append(byFirst[k.First], k.ResidentID)
		out[k] = []*Redemption{}
	}
	for first, ids := range byFirst {
		first = max(0, min(first, 100))
		inner := s.db.WithContext(ctx).Table("redemptions").
			Select("redemptions.*, row_number() OVER (PARTITION BY resident_id ORDER BY id DESC) AS rn").
			Where("resident_id = ANY(?)", database.UUIDs(ids))
		if v.Kind == auth.SubjectWechat {
			// The resident's own account, or a family proxy with VIEW.
			if inner, err = s.scopeFor(ctx, v, policy.ReadRedemptions, ids, "resident_id", inner); err != nil {
				return nil, err
			}
		} else {
			inner = redemptionScope(inner, v)
		}
		var rows []redemptionRow
		if err := s.db.WithContext(ctx).Table("(?) AS x", inner).Where("rn <= ?", first).Order("resident_id, id DESC").
			Find(&rows).Error; err != nil {
			return nil, database.Classify(err)
		}
		for i := range rows {
			k := ResidentRedemptionsKey{rows[i].ResidentID, first}
			out[k] = append(out[k], rows[i].redemption())
		}
	}
	return out, nil
}

// RedemptionsByIDs loads redemptions (LedgerEntry.redemption loader; the
// entry's voucher was already authorized).
func (s *Service) RedemptionsByIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*Redemption, error) {
	var rows []redemptionRow
	if err := s.db.WithContext(ctx).Where("id = ANY(?)", database.UUIDs(ids)).Find(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	out := make(map[uuid.UUID]*Redemption, len(rows))
	for i := range rows {
		out[rows[i].ID] = rows[i].redemption()
	}
	return out, nil
}

// Voucher returns one voucher the viewer may see (node lookups), else nil.
func (s *Service) Voucher(ctx context.Context, id uuid.UUID) (*Voucher, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	var rows []voucherRow
	if err := residentScope(s.db.WithContext(ctx).Where("id = ?", id), policy.ScopeOf(v, policy.ReadVouchers), "resident_id").Limit(1).Find(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return rows[0].voucher(), nil
}

// Redemption returns one redemption the viewer may see (node lookups):
// its provider, the resident, or staff covering the resident.
func (s *Service) Redemption(ctx context.Context, id uuid.UUID) (*Redemption, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	q := s.db.WithContext(ctx).Where("id = ?", id)
	q = redemptionScope(q, v)
	var rows []redemptionRow
	if err := q.Limit(1).Find(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return rows[0].redemption(), nil
}

// Wallet is one program's vouchers of a resident as the mini-program shows
// them on a given day.
type Wallet struct {
	ProgramID uuid.UUID
	// SpendableFen is what a redemption dated that day could spend.
	SpendableFen int64
	// NotYetValidFen is held in vouchers whose month has not begun (issued
	// ahead).
	NotYetValidFen int64
	// ExpiringThisMonthFen is the part of SpendableFen that expires by the
	// end of the day's month.
	ExpiringThisMonthFen int64
	// NextExpiry is the earliest last day among the spendable vouchers with
	// money left; nil when none.
	NextExpiry *civil.Date
}

// Wallets groups a resident's ACTIVE vouchers by program (in the order the
// programs first appear in vs), as on the day on.
func Wallets(vs []*Voucher, on civil.Date) []*Wallet {
	var out []*Wallet
	by := map[uuid.UUID]*Wallet{}
	monthEnd := civil.MonthOf(on).Last()
	for _, v := range vs {
		if v.Status != Active || v.ValidUntil.Before(on) {
			continue
		}
		w := by[v.ProgramID]
		if w == nil {
			w = &Wallet{ProgramID: v.ProgramID}
			by[v.ProgramID] = w
			out = append(out, w)
		}
		switch {
		case on.Before(v.ValidFrom):
			w.NotYetValidFen += v.BalanceFen
		default:
			w.SpendableFen += v.BalanceFen
			if !monthEnd.Before(v.ValidUntil) {
				w.ExpiringThisMonthFen += v.BalanceFen
			}
			if v.BalanceFen > 0 && (w.NextExpiry == nil || v.ValidUntil.Before(*w.NextExpiry)) {
				d := v.ValidUntil
				w.NextExpiry = &d
			}
		}
	}
	return out
}
