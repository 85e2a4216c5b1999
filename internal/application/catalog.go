package application

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

var codePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// validateItem checks an item input and returns every problem at once.
func validateItem(in *ItemInput) error {
	var errs problem.UserErrors
	in.Code, in.Name = strings.TrimSpace(in.Code), strings.TrimSpace(in.Name)
	if !codePattern.MatchString(in.Code) {
		errs = append(errs, problem.New(problem.Invalid, "code must be 1-32 letters, digits, '-' or '_'", "code"))
	}
	if n := utf8.RuneCountInString(in.Name); n < 1 || n > 64 {
		errs = append(errs, problem.New(problem.Invalid, "name must be 1-64 characters", "name"))
	}
	if in.TimeLimitWorkingDays < 1 || in.TimeLimitWorkingDays > 365 {
		errs = append(errs, problem.New(problem.Invalid, "time limit must be 1-365 working days", "timeLimitWorkingDays"))
	}
	if p := in.PromisedLimitWorkingDays; p != nil && (*p < 1 || *p > in.TimeLimitWorkingDays) {
		errs = append(errs, problem.New(problem.Invalid, "承诺时限须为 1 个工作日至法定时限之间", "input", "promisedLimitWorkingDays"))
	}
	if in.ExtensionWorkingDays < 0 || in.ExtensionWorkingDays > 365 {
		errs = append(errs, problem.New(problem.Invalid, "extension must be 0-365 working days", "extensionWorkingDays"))
	}
	seen := map[string]bool{}
	for i := range in.Materials {
		m := &in.Materials[i]
		m.Name = strings.TrimSpace(m.Name)
		switch {
		case m.Name == "" || utf8.RuneCountInString(m.Name) > 64:
			errs = append(errs, problem.New(problem.Invalid, "material names must be 1-64 characters", "materials"))
		case seen[m.Name]:
			errs = append(errs, problem.New(problem.Duplicate, "material "+m.Name+" is listed twice", "materials"))
		}
		seen[m.Name] = true
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// UpsertItem creates the item with in.Code, or updates it (ADMIN).
func (s *Service) UpsertItem(ctx context.Context, in ItemInput) (*Item, error) {
	if _, err := policy.Require(ctx, policy.ManageCatalog); err != nil {
		return nil, err
	}
	if err := validateItem(&in); err != nil {
		return nil, err
	}
	if in.Materials == nil {
		in.Materials = []Material{}
	}
	var out *Item
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if in.DepartmentID != nil {
			u, err := s.org.Unit(ctx, *in.DepartmentID)
			if err != nil {
				return fmt.Errorf("application: department: %w", err)
			}
			if u == nil {
				return problem.New(problem.NotFound, "the department is not an org unit", "departmentId")
			}
		}
		mats, _ := json.Marshal(in.Materials)
		row := itemRow{Code: in.Code, Name: in.Name, DepartmentID: in.DepartmentID, TimeLimitWorkingDays: in.TimeLimitWorkingDays,
			PromisedLimitWorkingDays: in.PromisedLimitWorkingDays, ExtensionWorkingDays: in.ExtensionWorkingDays, Materials: mats, DistrictWide: in.DistrictWide,
			VoucherProgramID: in.VoucherProgramID, UpdatedAt: s.now()}
		id, err := upsertItemRow(ctx, tx, row)
		if err != nil {
			return err
		}
		row.ID = id
		if out, err = row.item(); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.ActionUpsertServiceItem, audit.EntityServiceItem, &id, map[string]any{"code": in.Code})
	})
	if err != nil {
		return nil, database.Classify(err)
	}
	return out, nil
}

// upsertItemRow writes row by code and returns the item's id (a fresh one
// on create, the existing one on update).
func upsertItemRow(ctx context.Context, tx *gorm.DB, row itemRow) (uuid.UUID, error) {
	var id uuid.UUID
	err := tx.WithContext(ctx).Raw(`
		INSERT INTO service_items (id, code, name, department_id, time_limit_working_days, promised_limit_working_days,
		                           extension_working_days, materials, district_wide, voucher_program_id, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, department_id = EXCLUDED.department_id,
		  time_limit_working_days = EXCLUDED.time_limit_working_days,
		  promised_limit_working_days = EXCLUDED.promised_limit_working_days,
		  extension_working_days = EXCLUDED.extension_working_days,
		  materials = EXCLUDED.materials, district_wide = EXCLUDED.district_wide,
		  voucher_program_id = EXCLUDED.voucher_program_id, updated_at = EXCLUDED.updated_at
		RETURNING id`,
		uuid.Must(uuid.NewV7()), row.Code, row.Name, row.DepartmentID, row.TimeLimitWorkingDays, row.PromisedLimitWorkingDays, row.ExtensionWorkingDays,
		string(row.Materials), row.DistrictWide, row.VoucherProgramID, row.UpdatedAt).Row().Scan(&id)
	if c, ok := database.IsForeignKeyViolation(err); ok && c == "service_items_voucher_program_fk" {
		return uuid.Nil, problem.New(problem.NotFound, "voucher program not found", "input", "voucherProgramId")
	}
	if err != nil {
		return uuid.Nil, database.Classify(fmt.Errorf("application: upsert item: %w", err))
	}
	return id, nil
}

// Items lists the catalog in code order (any signed-in viewer).
func (s *Service) Items(ctx context.Context) ([]*Item, error) {
	if err := auth.Require(ctx); err != nil {
		return nil, err
	}
	var rows []itemRow
	if err := s.db.WithContext(ctx).Order("code").Limit(1000).Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("application: items: %w", err))
	}
	out := make([]*Item, 0, len(rows))
	for _, r := range rows {
		it, err := r.item()
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// itemByCode reads one item inside tx; NOT_FOUND when there is none.
func itemByCode(ctx context.Context, tx *gorm.DB, code string) (*Item, error) {
	var r itemRow
	err := tx.WithContext(ctx).Where("code = ?", code).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, problem.New(problem.NotFound, "no service item with this code", "itemCode")
	}
	if err != nil {
		return nil, fmt.Errorf("application: item: %w", err)
	}
	return r.item()
}

// Item returns one catalog item, or nil (any signed-in viewer).
func (s *Service) Item(ctx context.Context, id uuid.UUID) (*Item, error) {
	if err := auth.Require(ctx); err != nil {
		return nil, err
	}
	m, err := s.ItemsByIDs(ctx, []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	return m[id], nil
}
