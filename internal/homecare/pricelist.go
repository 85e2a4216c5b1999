package homecare

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/voucher"
)

// ItemInput is the input of UpsertItem: an item by program and code.
type ItemInput struct {
	ProgramID      uuid.UUID
	Code           string
	Name           string
	Category       voucher.Category
	Unit           string
	UnitPriceFen   int64
	MinimumMinutes int
	Active         bool
}

// ValidateItem checks an item's fields (also the fuzz target's subject).
func ValidateItem(in *ItemInput) problem.UserErrors {
	in.Code, in.Name, in.Unit = strings.TrimSpace(in.Code), strings.TrimSpace(in.Name), strings.TrimSpace(in.Unit)
	var errs problem.UserErrors
	if n := len(in.Code); n < 1 || n > 32 || strings.ContainsFunc(in.Code, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		errs = append(errs, problem.New(problem.Invalid, "编码须为1至32位大写字母、数字、-或_", "input", "code"))
	}
	if n := len([]rune(in.Name)); n < 1 || n > 64 {
		errs = append(errs, problem.New(problem.Invalid, "名称须为1至64个字符", "input", "name"))
	}
	if n := len([]rune(in.Unit)); n < 1 || n > 16 {
		errs = append(errs, problem.New(problem.Invalid, "计量单位须为1至16个字符", "input", "unit"))
	}
	if in.UnitPriceFen <= 0 || in.UnitPriceFen > 10_000_000 {
		errs = append(errs, problem.New(problem.Invalid, "单价须大于0且不超过10万元", "input", "unitPriceFen"))
	}
	if in.MinimumMinutes < 0 || in.MinimumMinutes > 1440 {
		errs = append(errs, problem.New(problem.Invalid, "最短服务时长须在0至1440分钟之间", "input", "minimumMinutes"))
	}
	if !slices.Contains(voucher.AllCategories, in.Category) {
		errs = append(errs, problem.New(problem.Invalid, "未知的服务类别", "input", "category"))
	}
	return errs
}

// programCategories reads what a program pays for; nil when there is no
// such program.
func programCategories(ctx context.Context, db *gorm.DB, id uuid.UUID) ([]string, error) {
	return categoriesOf(ctx, db, "SELECT categories FROM voucher_programs WHERE id = ?", id)
}

// categoriesOf reads one text[] row; nil when there is none.
func categoriesOf(ctx context.Context, db *gorm.DB, q string, id uuid.UUID) ([]string, error) {
	var cats pq.StringArray
	err := db.WithContext(ctx).Raw(q, id).Row().Scan(&cats)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, database.Classify(err)
	}
	if cats == nil {
		cats = pq.StringArray{}
	}
	return cats, nil
}

// UpsertItem creates or changes a program's price-list item (ADMIN). A
// changed price applies to orders created afterwards: an order keeps the
// amount it was created with.
func (s *Service) UpsertItem(ctx context.Context, in ItemInput) (*Item, error) {
	if _, err := policy.Require(ctx, policy.ManagePriceList); err != nil {
		return nil, err
	}
	if errs := ValidateItem(&in); len(errs) > 0 {
		return nil, errs
	}
	var out *Item
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		cats, err := programCategories(ctx, tx, in.ProgramID)
		if err != nil {
			return err
		}
		if cats == nil {
			return problem.New(problem.NotFound, "项目不存在", "input", "programId")
		}
		if !slices.Contains(cats, string(in.Category)) {
			return problem.New(problem.CategoryNotAllowed, "该项目不支付此类服务", "input", "category")
		}
		r := itemRow{ID: newID(), ProgramID: in.ProgramID, Code: in.Code, Name: in.Name, Category: string(in.Category), Unit: in.Unit,
			UnitPriceFen: in.UnitPriceFen, MinimumMinutes: in.MinimumMinutes, Active: in.Active, CreatedAt: s.now()}
		if err := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "program_id"}, {Name: "code"}},
			DoUpdates: clause.AssignmentColumns([]string{"name", "category", "unit", "unit_price_fen", "minimum_minutes", "active"}),
		}).Create(&r).Error; err != nil {
			return database.Classify(err)
		}
		if err := tx.Where("program_id = ? AND code = ?", in.ProgramID, in.Code).Take(&r).Error; err != nil {
			return database.Classify(err)
		}
		out = r.item()
		return audit.Record(ctx, tx, audit.ActionUpsertCarePriceItem, audit.EntityCarePriceItem, &r.ID, map[string]any{"unitPriceFen": r.UnitPriceFen})
	})
	return out, err
}

// Items lists a program's price list (any signed-in viewer: prices are
// public), active items first.
func (s *Service) Items(ctx context.Context, programID uuid.UUID) ([]*Item, error) {
	if auth.ViewerFrom(ctx) == nil {
		return nil, problem.ErrUnauthenticated
	}
	var rows []itemRow
	if err := s.db.WithContext(ctx).Where("program_id = ?", programID).Order("active DESC, code").Find(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	out := make([]*Item, len(rows))
	for i := range rows {
		out[i] = rows[i].item()
	}
	return out, nil
}

// Item returns one item (node lookups).
func (s *Service) Item(ctx context.Context, id uuid.UUID) (*Item, error) {
	if auth.ViewerFrom(ctx) == nil {
		return nil, problem.ErrUnauthenticated
	}
	var r itemRow
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, database.Classify(err)
	}
	return r.item(), nil
}

// ItemsByIDs loads items by id (for the order's item field).
func (s *Service) ItemsByIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*Item, error) {
	var rows []itemRow
	if err := s.db.WithContext(ctx).Where("id = ANY(?)", database.UUIDs(ids)).Find(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	out := make(map[uuid.UUID]*Item, len(rows))
	for i := range rows {
		out[rows[i].ID] = rows[i].item()
	}
	return out, nil
}

// SetOffered replaces the set of items the viewer's provider offers. Each
// item's category must be one the provider is contracted for.
func (s *Service) SetOffered(ctx context.Context, itemIDs []uuid.UUID) ([]*Item, error) {
	_, pid, err := viewerProvider(ctx, policy.OfferCareItems)
	if err != nil {
		return nil, err
	}
	if len(itemIDs) > 500 {
		return nil, problem.New(problem.Invalid, "最多500项", "itemIds")
	}
	var out []*Item
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		cats, err := categoriesOf(ctx, tx, "SELECT categories FROM providers WHERE id = ?", pid)
		if err != nil {
			return err
		}
		if cats == nil {
			return problem.Forbidden("not a provider account")
		}
		var rows []itemRow
		if err := tx.Where("id = ANY(?)", database.UUIDs(itemIDs)).Order("code").Find(&rows).Error; err != nil {
			return database.Classify(err)
		}
		uniq := map[uuid.UUID]bool{}
		for _, id := range itemIDs {
			uniq[id] = true
		}
		if len(rows) != len(uniq) {
			return problem.New(problem.NotFound, "服务项目不存在", "itemIds")
		}
		for _, r := range rows {
			if !slices.Contains(cats, r.Category) {
				return problem.New(problem.CategoryNotAllowed, "本机构未签约提供「"+r.Name+"」所属的服务类别", "itemIds")
			}
		}
		if err := tx.Exec("DELETE FROM care_provider_items WHERE provider_id = ?", pid).Error; err != nil {
			return database.Classify(err)
		}
		for _, r := range rows {
			if err := tx.Exec("INSERT INTO care_provider_items (provider_id, item_id) VALUES (?, ?)", pid, r.ID).Error; err != nil {
				return database.Classify(err)
			}
			out = append(out, r.item())
		}
		return audit.Record(ctx, tx, audit.ActionSetCareItemsOffered, audit.EntityProvider, &pid, map[string]any{"items": len(rows)})
	})
	return out, err
}

// Offered lists the items a provider offers (any signed-in viewer).
func (s *Service) Offered(ctx context.Context, providerID uuid.UUID) ([]*Item, error) {
	if auth.ViewerFrom(ctx) == nil {
		return nil, problem.ErrUnauthenticated
	}
	var rows []itemRow
	if err := s.db.WithContext(ctx).Raw(`SELECT i.* FROM care_price_items i JOIN care_provider_items p ON p.item_id = i.id
		WHERE p.provider_id = ? ORDER BY i.code`, providerID).Scan(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	out := make([]*Item, len(rows))
	for i := range rows {
		out[i] = rows[i].item()
	}
	return out, nil
}

// SetCap sets a program's per-resident cap of a category and period
// (ADMIN); maxVisits nil removes it.
func (s *Service) SetCap(ctx context.Context, programID uuid.UUID, cat voucher.Category, p Period, maxVisits *int) ([]*Cap, error) {
	if _, err := policy.Require(ctx, policy.ManagePriceList); err != nil {
		return nil, err
	}
	if p != Day && p != Week && p != Month {
		return nil, problem.New(problem.Invalid, "未知的周期", "input", "period")
	}
	if maxVisits != nil && (*maxVisits < 1 || *maxVisits > 1000) {
		return nil, problem.New(problem.Invalid, "次数上限须在1至1000之间", "input", "maxVisits")
	}
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		cats, err := programCategories(ctx, tx, programID)
		if err != nil {
			return err
		}
		if cats == nil {
			return problem.New(problem.NotFound, "项目不存在", "input", "programId")
		}
		if maxVisits == nil {
			err = tx.Exec("DELETE FROM care_caps WHERE program_id = ? AND category = ? AND period = ?", programID, string(cat), string(p)).Error
		} else {
			err = tx.Exec(`INSERT INTO care_caps (program_id, category, period, max_visits) VALUES (?, ?, ?, ?)
				ON CONFLICT (program_id, category, period) DO UPDATE SET max_visits = EXCLUDED.max_visits`,
				programID, string(cat), string(p), *maxVisits).Error
		}
		if err != nil {
			return database.Classify(err)
		}
		return audit.Record(ctx, tx, audit.ActionSetCareCap, audit.EntityVoucherProgram, &programID,
			map[string]any{"category": cat, "period": p, "maxVisits": maxVisits})
	})
	if err != nil {
		return nil, err
	}
	return s.Caps(ctx, programID)
}

// Caps lists a program's per-resident caps.
func (s *Service) Caps(ctx context.Context, programID uuid.UUID) ([]*Cap, error) {
	var rows []struct {
		Category  string
		Period    string
		MaxVisits int
	}
	if err := s.db.WithContext(ctx).Raw("SELECT category, period, max_visits FROM care_caps WHERE program_id = ? ORDER BY category, period",
		programID).Scan(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	out := make([]*Cap, len(rows))
	for i, r := range rows {
		out[i] = &Cap{ProgramID: programID, Category: voucher.Category(r.Category), Period: Period(r.Period), MaxVisits: r.MaxVisits}
	}
	return out, nil
}
