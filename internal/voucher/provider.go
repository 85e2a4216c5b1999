package voucher

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/creditcode"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

type providerRow struct {
	ID         uuid.UUID
	Name       string
	CreditCode string
	Categories pq.StringArray `gorm:"type:text[]"`
	Status     string
	CreatedAt  time.Time
}

func (providerRow) TableName() string { return "providers" }

func (r *providerRow) provider() *Provider {
	return &Provider{ID: r.ID, Name: r.Name, CreditCode: r.CreditCode, Categories: toCategories(r.Categories),
		Status: ProviderStatus(r.Status), CreatedAt: r.CreatedAt}
}

func toCategories(a pq.StringArray) []Category {
	out := make([]Category, len(a))
	for i, c := range a {
		out[i] = Category(c)
	}
	return out
}

func fromCategories(cs []Category) pq.StringArray {
	out := make(pq.StringArray, 0, len(cs))
	seen := map[Category]bool{}
	for _, c := range cs {
		if !seen[c] {
			out, seen[c] = append(out, string(c)), true
		}
	}
	return out
}

// NewProvider is the input of RegisterProvider.
type NewProvider struct {
	Name       string
	CreditCode string
	Categories []Category
	Username   string
	Password   string
}

// ProviderRoles are the roles of a provider's own login (RegisterProvider,
// the demo providers).
var ProviderRoles = []auth.Role{auth.Provider}

// RegisterProvider registers a provider and its first PROVIDER user in one
// transaction (ADMIN).
func (s *Service) RegisterProvider(ctx context.Context, in NewProvider) (*Provider, error) {
	if _, err := policy.Require(ctx, policy.ManageProviders); err != nil {
		return nil, err
	}
	var errs problem.UserErrors
	in.Name = strings.TrimSpace(in.Name)
	if n := len([]rune(in.Name)); n < 1 || n > 128 {
		errs = append(errs, problem.New(problem.Invalid, "name must be 1 to 128 characters", "input", "name"))
	}
	code, err := creditcode.Parse(strings.ToUpper(strings.TrimSpace(in.CreditCode)))
	if err != nil {
		errs = append(errs, problem.New(problem.Invalid, "统一社会信用代码校验失败 (invalid unified social credit code)", "input", "creditCode"))
	}
	if len(in.Categories) == 0 {
		errs = append(errs, problem.New(problem.Invalid, "at least one service category is required", "input", "categories"))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	row := providerRow{ID: newID(), Name: in.Name, CreditCode: code, Categories: fromCategories(in.Categories),
		Status: string(ProviderActive), CreatedAt: s.now()}
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			if _, ok := database.IsUniqueViolation(err); ok {
				return problem.New(problem.Duplicate, "a provider with this credit code is already registered", "input", "creditCode")
			}
			return database.Classify(fmt.Errorf("voucher: register provider: %w", err))
		}
		_, err := s.users.CreateUserTx(ctx, tx, auth.NewUser{Username: in.Username, Password: in.Password,
			DisplayName: in.Name, Roles: ProviderRoles, ProviderID: &row.ID})
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.ActionRegisterProvider, audit.EntityProvider, &row.ID, nil)
	})
	if err != nil {
		return nil, err
	}
	return row.provider(), nil
}

// SetProviderStatus suspends or reactivates a provider (ADMIN).
func (s *Service) SetProviderStatus(ctx context.Context, id uuid.UUID, status ProviderStatus) (*Provider, error) {
	if _, err := policy.Require(ctx, policy.ManageProviders); err != nil {
		return nil, err
	}
	var row providerRow
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		res := tx.Model(&providerRow{}).Where("id = ?", id).Update("status", string(status))
		if res.Error != nil {
			return database.Classify(res.Error)
		}
		if res.RowsAffected == 0 {
			return notFound("provider", "id")
		}
		if err := tx.Where("id = ?", id).Take(&row).Error; err != nil {
			return database.Classify(err)
		}
		return audit.Record(ctx, tx, audit.ActionSetProviderStatus, audit.EntityProvider, &id, map[string]any{"status": status})
	})
	if err != nil {
		return nil, err
	}
	return row.provider(), nil
}

// Providers lists providers: staff see all, a provider user only itself.
func (s *Service) Providers(ctx context.Context) ([]*Provider, error) {
	v, err := policy.Require(ctx, policy.ReadProviders)
	if err != nil {
		return nil, err
	}
	q := s.db.WithContext(ctx).Order("name, id")
	if sc := policy.ScopeOf(v, policy.ReadProviders); !sc.All() {
		if sc.Reach != policy.Own {
			return []*Provider{}, nil
		}
		q = q.Where("id = ?", sc.ProviderID)
	}
	var rows []providerRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	out := make([]*Provider, len(rows))
	for i := range rows {
		out[i] = rows[i].provider()
	}
	return out, nil
}

// Provider returns one provider to staff or to its own users (node lookups).
func (s *Service) Provider(ctx context.Context, id uuid.UUID) (*Provider, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	if !policy.ScopeOf(v, policy.ReadProviders).OwnProvider(id) {
		return nil, nil
	}
	m, err := s.ProvidersByIDs(ctx, []uuid.UUID{id})
	return m[id], err
}

// ViewerProvider returns the provider of a provider user, else nil.
func (s *Service) ViewerProvider(ctx context.Context) (*Provider, error) {
	v := auth.ViewerFrom(ctx)
	if v == nil || v.ProviderID == nil {
		return nil, nil
	}
	m, err := s.ProvidersByIDs(ctx, []uuid.UUID{*v.ProviderID})
	return m[*v.ProviderID], err
}

// ProvidersByIDs loads providers for the dataloaders. Callers reach it only
// through objects the viewer may already see (a redemption, a settlement).
func (s *Service) ProvidersByIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*Provider, error) {
	var rows []providerRow
	if err := s.db.WithContext(ctx).Where("id = ANY(?)", database.UUIDs(ids)).Find(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	out := make(map[uuid.UUID]*Provider, len(rows))
	for i := range rows {
		out[rows[i].ID] = rows[i].provider()
	}
	return out, nil
}

// HasServed reports whether the provider has any redemption for the
// resident (the resident domain lets providers see residents they served).
func (s *Service) HasServed(ctx context.Context, providerID, residentID uuid.UUID) (bool, error) {
	var ok bool
	err := s.db.WithContext(ctx).Raw("SELECT EXISTS (SELECT 1 FROM redemptions WHERE provider_id = ? AND resident_id = ?)",
		providerID, residentID).Row().Scan(&ok)
	return ok, database.Classify(err)
}
