// Package org holds the district's administrative tree (district → street
// 街道 → community 社区 → grid 网格) and its service centers. Every unit
// carries a materialized path of codes so that "this unit and everything
// below it" is one index range scan, however deep the tree.
package org

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/run"
)

// Kind is the level of an org unit.
type Kind string

// The levels of the tree.
const (
	District  Kind = "DISTRICT"
	Street    Kind = "STREET"
	Community Kind = "COMMUNITY"
	Grid      Kind = "GRID"
	// Department is a unit of a district bureau that decides items of its
	// own (the public-security branch for 居住证), a child of the district.
	Department Kind = "DEPARTMENT"
)

// Unit is one node of the tree.
type Unit struct {
	ID       uuid.UUID
	Kind     Kind
	Code     string
	Name     string
	ParentID *uuid.UUID
	// Path is "/<district code>/<street code>/…/<own code>/".
	Path string
	// RetiredAt is set once the ADMIN retired the unit: it takes no new residents.
	RetiredAt *time.Time
}

// Center is a service center (便民服务中心) where clerks take applications.
type Center struct {
	ID        uuid.UUID
	Name      string
	OrgUnitID uuid.UUID
}

// Service reads the tree. The tree is public to every signed-in viewer: it
// names places, not people.
type Service struct {
	db  *gorm.DB
	now func() time.Time
	// See SetCopiers.
	occupancy   Occupancy
	afterChange func(ctx context.Context, prefix string)
	copiers     []PathCopier
	runs        *run.Worker
}

// NewService returns the org service.
func NewService(db *gorm.DB, now func() time.Time) *Service { return &Service{db: db, now: now} }

type unitRow struct {
	ID        uuid.UUID
	Kind      string
	Code      string
	Name      string
	ParentID  *uuid.UUID
	Path      string
	RetiredAt *time.Time
}

func (unitRow) TableName() string { return "org_units" }

func (r unitRow) unit() *Unit {
	return &Unit{ID: r.ID, Kind: Kind(r.Kind), Code: r.Code, Name: r.Name, ParentID: r.ParentID, Path: r.Path, RetiredAt: r.RetiredAt}
}

type centerRow struct {
	ID        uuid.UUID
	Name      string
	OrgUnitID uuid.UUID
}

func (centerRow) TableName() string { return "service_centers" }

// Units lists units, optionally of one kind and/or under one parent, in code order.
func (s *Service) Units(ctx context.Context, kind *Kind, parentID *uuid.UUID) ([]*Unit, error) {
	if err := auth.Require(ctx); err != nil {
		return nil, err
	}
	q := s.db.WithContext(ctx).Model(&unitRow{})
	if kind != nil {
		q = q.Where("kind = ?", string(*kind))
	}
	if parentID != nil {
		q = q.Where("parent_id = ?", *parentID)
	}
	var rows []unitRow
	if err := q.Order("code").Limit(5000).Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("org: units: %w", err))
	}
	out := make([]*Unit, len(rows))
	for i, r := range rows {
		out[i] = r.unit()
	}
	return out, nil
}

// UnitsByIDs loads units by id (dataloader batch function).
func (s *Service) UnitsByIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*Unit, error) {
	var rows []unitRow
	if err := s.db.WithContext(ctx).Where("id = ANY(?)", database.UUIDs(ids)).Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("org: units by id: %w", err))
	}
	out := make(map[uuid.UUID]*Unit, len(rows))
	for _, r := range rows {
		out[r.ID] = r.unit()
	}
	return out, nil
}

// ChildrenOf loads the children of several units at once (dataloader batch function).
func (s *Service) ChildrenOf(ctx context.Context, parents []uuid.UUID) (map[uuid.UUID][]*Unit, error) {
	var rows []unitRow
	if err := s.db.WithContext(ctx).Where("parent_id = ANY(?)", database.UUIDs(parents)).Order("code").Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("org: children: %w", err))
	}
	out := make(map[uuid.UUID][]*Unit, len(parents))
	for _, r := range rows {
		out[*r.ParentID] = append(out[*r.ParentID], r.unit())
	}
	return out, nil
}

// Unit returns one unit, or nil.
func (s *Service) Unit(ctx context.Context, id uuid.UUID) (*Unit, error) {
	m, err := s.UnitsByIDs(ctx, []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	return m[id], nil
}

// StreetOf returns the street a unit lies in (the unit itself when it is a
// street); nil for the district.
func (s *Service) StreetOf(ctx context.Context, db *gorm.DB, unitID uuid.UUID) (*Unit, error) {
	var r unitRow
	err := db.WithContext(ctx).Raw(`
		SELECT s.* FROM org_units u JOIN org_units s
		  ON s.kind = 'STREET' AND u.path LIKE s.path || '%'
		WHERE u.id = ?`, unitID).Scan(&r).Error
	if err != nil {
		return nil, database.Classify(fmt.Errorf("org: street of: %w", err))
	}
	if r.ID == uuid.Nil {
		return nil, nil
	}
	return r.unit(), nil
}

// Centers lists the service centers.
func (s *Service) Centers(ctx context.Context) ([]*Center, error) {
	if err := auth.Require(ctx); err != nil {
		return nil, err
	}
	var rows []centerRow
	if err := s.db.WithContext(ctx).Order("name").Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("org: centers: %w", err))
	}
	out := make([]*Center, len(rows))
	for i, r := range rows {
		out[i] = &Center{ID: r.ID, Name: r.Name, OrgUnitID: r.OrgUnitID}
	}
	return out, nil
}

// CentersByIDs loads centers by id.
func (s *Service) CentersByIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*Center, error) {
	var rows []centerRow
	if err := s.db.WithContext(ctx).Where("id = ANY(?)", database.UUIDs(ids)).Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("org: centers by id: %w", err))
	}
	out := make(map[uuid.UUID]*Center, len(rows))
	for _, r := range rows {
		out[r.ID] = &Center{ID: r.ID, Name: r.Name, OrgUnitID: r.OrgUnitID}
	}
	return out, nil
}
