package application

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/org"
)

// VoucherProgramCode is the code of the district's eldercare voucher
// program that 养老服务券申领 is linked to when it exists.
const VoucherProgramCode = "JJ-YLFWQ"

// Catalog is the seeded service catalog. Items without a department are
// decided by the applicant's street.
var Catalog = []ItemInput{
	{Code: "YLFWQ-SL", Name: "养老服务券申领", TimeLimitWorkingDays: 15, ExtensionWorkingDays: 10, DistrictWide: true,
		Materials: []Material{{"居民身份证", true}, {"户口簿", true}, {"老年人能力评估报告", false}, {"低保证或特困供养证", false}}},
	{Code: "GLJT-SL", Name: "高龄津贴申领", TimeLimitWorkingDays: 20, ExtensionWorkingDays: 10, DistrictWide: true,
		Materials: []Material{{"居民身份证", true}, {"户口簿", true}, {"银行卡（社保卡）复印件", true}}},
	{Code: "CJRLXBT-SQ", Name: "残疾人两项补贴申请", TimeLimitWorkingDays: 20, ExtensionWorkingDays: 10, DistrictWide: true,
		Materials: []Material{{"居民身份证", true}, {"第二代残疾人证", true}, {"户口簿", true}, {"低保证", false}, {"银行卡（社保卡）复印件", true}}},
	{Code: "JJYLFW-SQ", Name: "居家养老服务申请", TimeLimitWorkingDays: 10, ExtensionWorkingDays: 5, DistrictWide: true,
		Materials: []Material{{"居民身份证", true}, {"老年人能力评估报告", true}, {"家庭成员情况说明", false}}},
	{Code: "LSJZ-SQ", Name: "困难群众临时救助", TimeLimitWorkingDays: 10, ExtensionWorkingDays: 0, DistrictWide: true,
		Materials: []Material{{"居民身份证", true}, {"临时救助申请书", true}, {"家庭经济状况核对授权书", true}, {"遭遇困难证明材料", false}}},
	// 居住证 is issued by the public-security organ (居住证暂行条例 §11:
	// 公安机关应当自受理之日起15日内制作发放居住证), not by the applicant's
	// street: its department is the district's public-security branch
	// (departmentCodes) with that limit of its own.
	{Code: "JZZ-BL", Name: "居住证办理", TimeLimitWorkingDays: 15, ExtensionWorkingDays: 0, DistrictWide: false,
		Materials: []Material{{"居民身份证", true}, {"近期一寸免冠照片", true}, {"居住证明（租赁合同或房产证）", true}, {"劳动合同或营业执照", false}}},
}

// departmentCodes are the org units (by code) deciding seeded items.
var departmentCodes = map[string]string{"JZZ-BL": org.PublicSecurityCode}

// seedFixes corrects items an earlier seed wrote wrongly, only while they
// still hold exactly what that seed wrote (an administrator's edit stands):
// 居住证办理 was seeded as a street item with a 10-day limit.
const seedFixSQL = `UPDATE service_items SET department_id = ?, time_limit_working_days = ?, updated_at = now()
	WHERE code = ? AND department_id IS NULL AND time_limit_working_days = 10`

// Seed makes sure the catalog exists (idempotent: existing items are left
// as they are, so an administrator's edits survive). 养老服务券申领 is linked
// to the program with VoucherProgramCode when the voucher domain has seeded it.
func Seed(ctx context.Context, db *gorm.DB) error {
	var program *uuid.UUID
	var hasTable bool
	if err := db.WithContext(ctx).Raw("SELECT to_regclass('voucher_programs') IS NOT NULL").Scan(&hasTable).Error; err != nil {
		return fmt.Errorf("application seed: %w", err)
	}
	if hasTable {
		var id uuid.UUID
		err := db.WithContext(ctx).Raw("SELECT id FROM voucher_programs WHERE code = ?", VoucherProgramCode).Row().Scan(&id)
		switch {
		case err == nil:
			program = &id
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("application seed: voucher program: %w", err)
		}
	}
	for _, it := range Catalog {
		mats, _ := json.Marshal(it.Materials)
		var vp *uuid.UUID
		if it.Code == "YLFWQ-SL" {
			vp = program
		}
		var dept *uuid.UUID
		if code, ok := departmentCodes[it.Code]; ok {
			var id uuid.UUID
			if err := db.WithContext(ctx).Raw("SELECT id FROM org_units WHERE code = ?", code).Row().Scan(&id); err != nil {
				return fmt.Errorf("application seed: department %s: %w", code, err)
			}
			dept = &id
		}
		err := db.WithContext(ctx).Exec(`
			INSERT INTO service_items (id, code, name, department_id, time_limit_working_days, promised_limit_working_days,
			                           extension_working_days, materials, district_wide, voucher_program_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (code) DO UPDATE SET voucher_program_id = COALESCE(service_items.voucher_program_id, EXCLUDED.voucher_program_id)`,
			uuid.Must(uuid.NewV7()), it.Code, it.Name, dept, it.TimeLimitWorkingDays, it.PromisedLimitWorkingDays,
			it.ExtensionWorkingDays, string(mats), it.DistrictWide, vp).Error
		if err != nil {
			return fmt.Errorf("application seed: %s: %w", it.Code, err)
		}
		if dept != nil {
			if err := db.WithContext(ctx).Exec(seedFixSQL, *dept, it.TimeLimitWorkingDays, it.Code).Error; err != nil {
				return fmt.Errorf("application seed: %s: %w", it.Code, err)
			}
		}
	}
	return nil
}
