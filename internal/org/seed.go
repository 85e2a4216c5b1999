package org

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// DistrictCode is 锦江区's administrative division code.
const DistrictCode = "510104"

type seedStreet struct {
	code, name  string
	communities []string
}

// jinjiang is the demo tree: real street names of 成都市锦江区, each with a
// few communities; every community gets three grids.
var jinjiang = []seedStreet{
	{"510104020", "春熙路街道", []string{"和平街社区", "新街社区", "龙王庙正街社区"}},
	{"510104021", "书院街街道", []string{"镋钯街社区", "滨江东路社区"}},
	{"510104022", "合江亭街道", []string{"合江亭社区", "大慈寺社区"}},
	{"510104023", "牛市口街道", []string{"静居寺社区", "大观堰社区", "水井坊社区"}},
	{"510104024", "督院街街道", []string{"督院街社区", "中南大街社区"}},
	{"510104025", "盐市口街道", []string{"东御街社区", "城守东大街社区"}},
	{"510104026", "沙河街道", []string{"沙河社区", "锦华社区"}},
	{"510104027", "成龙路街道", []string{"成龙社区", "卓锦城社区"}},
	{"510104028", "三圣街道", []string{"红砂社区", "幸福社区"}},
}

// PublicSecurityCode is the code of 成都市公安局锦江区分局, the department
// that decides 居住证办理 (居住证暂行条例 §11: 公安机关 issues it).
const PublicSecurityCode = "510104GA"

// Seed creates the district's org tree and service centers; running it
// again changes nothing.
func Seed(ctx context.Context, db *gorm.DB) error {
	ins := func(kind Kind, code, name string, parent *unitRow) (*unitRow, error) {
		r := unitRow{ID: uuid.Must(uuid.NewV7()), Kind: string(kind), Code: code, Name: name, Path: "/" + code + "/"}
		if parent != nil {
			r.ParentID = &parent.ID
			r.Path = parent.Path + code + "/"
		}
		if err := db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&r).Error; err != nil {
			return nil, fmt.Errorf("org: seed %s: %w", code, err)
		}
		var got unitRow
		if err := db.WithContext(ctx).Where("code = ?", code).Take(&got).Error; err != nil {
			return nil, fmt.Errorf("org: seed %s: %w", code, err)
		}
		return &got, nil
	}
	center := func(name string, unit *unitRow) error {
		return db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).
			Create(&centerRow{ID: uuid.Must(uuid.NewV7()), Name: name, OrgUnitID: unit.ID}).Error
	}
	district, err := ins(District, DistrictCode, "锦江区", nil)
	if err != nil {
		return err
	}
	if err := center("锦江区政务服务中心", district); err != nil {
		return err
	}
	if _, err := ins(Department, PublicSecurityCode, "成都市公安局锦江区分局", district); err != nil {
		return err
	}
	for _, s := range jinjiang {
		street, err := ins(Street, s.code, s.name, district)
		if err != nil {
			return err
		}
		if err := center(s.name+"便民服务中心", street); err != nil {
			return err
		}
		for i, cname := range s.communities {
			ccode := fmt.Sprintf("%s%03d", s.code, i+1)
			comm, err := ins(Community, ccode, cname, street)
			if err != nil {
				return err
			}
			if i == 0 {
				if err := center(cname+"党群服务中心", comm); err != nil {
					return err
				}
			}
			for g := 1; g <= 3; g++ {
				if _, err := ins(Grid, fmt.Sprintf("%s%02d", ccode, g), fmt.Sprintf("%s第%d网格", cname, g), comm); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
