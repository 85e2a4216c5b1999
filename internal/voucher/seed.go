package voucher

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/creditcode"
	"github.com/jinjiang/residents/internal/resident"
	"github.com/jinjiang/residents/internal/seed"
)

// SampleProgramCode is the code of the seeded sample program.
const SampleProgramCode = "JJ-YLFWQ"

// SampleRules are the seeded program's rules.
func SampleRules() []*Rule {
	eighty := 80
	return []*Rule{
		{MinAge: &eighty, AmountFen: 10000},
		{CareLevels: []resident.CareLevel{resident.Severe, resident.Total}, AmountFen: 20000},
		{Statuses: []resident.Status{resident.LowIncome, resident.ExtremePoverty}, AmountFen: 15000},
		{DisabilityGrades: []int{1, 2}, AmountFen: 15000},
	}
}

// DemoProviders are seeded in development with users provider1, provider2.
var DemoProviders = []struct {
	Username, Name string
	Seed           int
	Categories     []Category
}{
	{"provider1", "锦江区颐和居家养老服务中心", 51010401, AllCategories},
	{"provider2", "春熙路长者食堂", 51010402, []Category{Meal, Cleaning, Bathing}},
}

// SeedStep seeds the sample ACTIVE program and, with demo data, two
// providers with their users. Running it twice changes nothing.
func (s *Service) SeedStep() seed.Step {
	return func(ctx context.Context, db *gorm.DB, opt seed.Options) error {
		var n int64
		if err := db.WithContext(ctx).Model(&programRow{}).Where("code = ?", SampleProgramCode).Count(&n).Error; err != nil {
			return fmt.Errorf("seed vouchers: %w", err)
		}
		if n == 0 {
			two := 2
			row := programRow{ID: newID(), Code: SampleProgramCode, Name: "锦江区养老服务券", Categories: fromCategories(AllCategories),
				Status: string(ProgramActive), CarryOverPeriods: two, CreatedAt: s.now()}
			err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return s.createProgramTx(ctx, tx, row, SampleRules()) })
			if err != nil {
				return fmt.Errorf("seed vouchers: program: %w", err)
			}
		}
		if !opt.Demo {
			return nil
		}
		for _, d := range DemoProviders {
			code := creditcode.Generate(d.Seed)
			if err := db.WithContext(ctx).Model(&providerRow{}).Where("credit_code = ?", code).Count(&n).Error; err != nil {
				return fmt.Errorf("seed vouchers: %w", err)
			}
			if n > 0 {
				continue
			}
			row := providerRow{ID: newID(), Name: d.Name, CreditCode: code, Categories: fromCategories(d.Categories),
				Status: string(ProviderActive), CreatedAt: s.now()}
			err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				if err := tx.Create(&row).Error; err != nil {
					return err
				}
				_, err := s.users.CreateUserTx(ctx, tx, auth.NewUser{Username: d.Username, Password: seed.DemoPassword,
					DisplayName: d.Name, Roles: ProviderRoles, ProviderID: &row.ID})
				return err
			})
			if err != nil {
				return fmt.Errorf("seed vouchers: provider %s: %w", d.Username, err)
			}
		}
		return nil
	}
}
