package org

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/run"
)

// Move rewrites the paths of a moved subtree: every path that starts with
// From starts with To instead. Community is set when a grid moves to
// another community (residents' community_id follows it).
type Move struct {
	From, To  string
	Community *uuid.UUID
}

// ResidentsMove puts residents into a grid (and its community).
type ResidentsMove struct {
	IDs       []uuid.UUID
	Community uuid.UUID
	Grid      uuid.UUID
	Path      string
}

// PathCopier is a domain whose tables copy org paths or units (residents,
// emergency calls, welfare escalations, applications, runs). A move calls
// every copier inside its one transaction; each rewrites its tables in
// one statement per table and reports what it changed, per table.
type PathCopier interface {
	MoveSubtree(ctx context.Context, tx *gorm.DB, m Move) (map[string]int64, error)
	MoveResidents(ctx context.Context, tx *gorm.DB, m ResidentsMove) (map[string]int64, error)
}

// Occupancy counts the living residents under a path (the registry
// answers it), so a unit that still has residents is not retired.
type Occupancy func(ctx context.Context, tx *gorm.DB, path string, upTo int64) (int64, error)

// MoveResult is what a move changed: rows per table.
type MoveResult struct {
	Unit    *Unit
	Changed map[string]int64
	// Run is set when the move is a run (a big subtree); Changed is then empty.
	Run *run.Run
}

// moveLockTimeout bounds how long a move waits for a row another
// transaction holds (a redemption, a life event): it fails with CONFLICT,
// to be tried again, rather than queueing the counter behind it.
const moveLockTimeout = "5s"

// SetCopiers wires the domains whose tables copy paths, the registry's
// occupancy count, and what runs after a committed change (cache
// invalidation; at start-up).
func (s *Service) SetCopiers(occupancy Occupancy, afterChange func(ctx context.Context, prefix string), copiers ...PathCopier) {
	s.occupancy, s.afterChange, s.copiers = occupancy, afterChange, copiers
}

var codePattern = regexp.MustCompile(`^[0-9A-Za-z]{1,32}$`)

// childKind is the kind of unit each kind may hold that the ADMIN adds.
var childKind = map[Kind]Kind{Street: Community, Community: Grid}

// NewUnit is a community (under a street) or a grid (under a community).
type NewUnit struct {
	ParentID   uuid.UUID
	Code, Name string
}

func validName(name string) *problem.UserError {
	if n := utf8.RuneCountInString(strings.TrimSpace(name)); n < 1 || n > 64 {
		return problem.New(problem.Invalid, "名称须为 1 至 64 个字符", "input", "name")
	}
	return nil
}

// CreateUnit adds a community under a street or a grid under a community (ADMIN).
func (s *Service) CreateUnit(ctx context.Context, in NewUnit) (*Unit, error) {
	if _, err := policy.Require(ctx, policy.ManageOrgTree); err != nil {
		return nil, err
	}
	if !codePattern.MatchString(in.Code) {
		return nil, problem.New(problem.Invalid, "代码须为 1 至 32 位字母或数字", "input", "code")
	}
	if ue := validName(in.Name); ue != nil {
		return nil, ue
	}
	var out *Unit
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		parent, err := s.lockUnit(ctx, tx, in.ParentID, "parentId")
		if err != nil {
			return err
		}
		kind, ok := childKind[parent.Kind]
		if !ok {
			return problem.New(problem.Invalid, "上级须为街道（新增社区）或社区（新增网格）", "input", "parentId")
		}
		if parent.RetiredAt != nil {
			return problem.New(problem.InvalidTransition, "上级单位已撤销", "input", "parentId")
		}
		r := unitRow{ID: uuid.Must(uuid.NewV7()), Kind: string(kind), Code: in.Code, Name: strings.TrimSpace(in.Name),
			ParentID: &parent.ID, Path: parent.Path + in.Code + "/"}
		if err := tx.WithContext(ctx).Create(&r).Error; err != nil {
			if _, dup := database.IsUniqueViolation(err); dup {
				return problem.New(problem.Duplicate, "该代码已被使用", "input", "code")
			}
			return fmt.Errorf("org: create unit: %w", err)
		}
		out = r.unit()
		return audit.Record(ctx, tx, audit.ActionCreateOrgUnit, audit.EntityOrgUnit, &r.ID,
			map[string]any{"kind": r.Kind, "code": r.Code, "parentId": parent.ID})
	})
	if err != nil {
		return nil, database.Classify(err)
	}
	s.changed(ctx, "")
	return out, nil
}

// RenameUnit renames a unit (ADMIN).
func (s *Service) RenameUnit(ctx context.Context, id uuid.UUID, name string) (*Unit, error) {
	if _, err := policy.Require(ctx, policy.ManageOrgTree); err != nil {
		return nil, err
	}
	if ue := validName(name); ue != nil {
		return nil, ue
	}
	var out *Unit
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		u, err := s.lockUnit(ctx, tx, id, "id")
		if err != nil {
			return err
		}
		name = strings.TrimSpace(name)
		if err := tx.WithContext(ctx).Model(&unitRow{}).Where("id = ?", id).Update("name", name).Error; err != nil {
			return fmt.Errorf("org: rename: %w", err)
		}
		old := u.Name
		u.Name = name
		out = u
		return audit.Record(ctx, tx, audit.ActionRenameOrgUnit, audit.EntityOrgUnit, &id, map[string]any{"from": old, "to": name})
	})
	if err != nil {
		return nil, database.Classify(err)
	}
	s.changed(ctx, "")
	return out, nil
}

// RetireUnit retires a community (with its grids) or a grid (ADMIN). A
// unit with living residents under it is not retired: they move first.
func (s *Service) RetireUnit(ctx context.Context, id uuid.UUID) (*Unit, error) {
	if _, err := policy.Require(ctx, policy.ManageOrgTree); err != nil {
		return nil, err
	}
	var out *Unit
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		u, err := s.lockUnit(ctx, tx, id, "id")
		if err != nil {
			return err
		}
		if u.Kind != Community && u.Kind != Grid {
			return problem.New(problem.Invalid, "只能撤销社区或网格", "id")
		}
		if u.RetiredAt != nil {
			return problem.New(problem.InvalidTransition, "该单位已撤销", "id")
		}
		n, err := s.occupancy(ctx, tx, u.Path, 0)
		if err != nil {
			return err
		}
		if n > 0 {
			return problem.New(problem.Conflict, fmt.Sprintf("该单位仍有 %d 名居民，请先迁移（moveResidents 或 moveOrgUnit）", n), "id")
		}
		now := s.clock()
		if err := tx.WithContext(ctx).Model(&unitRow{}).Where("path LIKE ? AND retired_at IS NULL", policy.LikePrefix(u.Path)).
			Update("retired_at", now).Error; err != nil {
			return fmt.Errorf("org: retire: %w", err)
		}
		u.RetiredAt = &now
		out = u
		return audit.Record(ctx, tx, audit.ActionRetireOrgUnit, audit.EntityOrgUnit, &id, map[string]any{"path": u.Path})
	})
	if err != nil {
		return nil, database.Classify(err)
	}
	s.changed(ctx, "")
	return out, nil
}

// MoveUnit moves a grid to another community or a community to another
// street; a street "moved" into another street hands it all its
// communities (a street merged into another; the emptied street stays, to
// be renamed or left). Every path under the moved units changes, in every
// table that copies one, in one statement per table and one transaction
// (ADMIN). A subtree of more than SyncMoveLimit residents moves in a run
// (still one transaction), so the request answers at once.
func (s *Service) MoveUnit(ctx context.Context, id, newParentID uuid.UUID) (*MoveResult, error) {
	v, err := policy.Require(ctx, policy.ManageOrgTree)
	if err != nil {
		return nil, err
	}
	out := &MoveResult{Changed: map[string]int64{}}
	var prefix string
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if err := lockTimeouts(ctx, tx); err != nil {
			return err
		}
		u, p, m, err := s.plan(ctx, tx, id, newParentID, uuid.Nil)
		if err != nil {
			return err
		}
		n, err := s.occupancy(ctx, tx, m.From, SyncMoveLimit+1)
		if err != nil {
			return err
		}
		detail := map[string]any{"from": m.From, "to": m.To, "newParentId": p.ID}
		if n > SyncMoveLimit {
			params, _ := json.Marshal(moveParams{NewParentID: p.ID})
			out.Run = &run.Run{Kind: run.MoveOrgUnit, SubjectID: id, Params: params, ScopePath: m.From,
				StartedBy: &v.ID, StartedByKind: string(v.Kind), RequestID: auth.RequestID(ctx), StartedAt: s.clock()}
			if err := s.runs.Create(ctx, tx, out.Run); err != nil {
				if errors.Is(err, run.ErrRunning) {
					return problem.New(problem.Conflict, "该单位的迁移正在进行", "input", "id")
				}
				return err
			}
			out.Unit = u
			detail["runId"] = out.Run.ID
			return audit.Record(ctx, tx, audit.ActionMoveOrgUnit, audit.EntityOrgUnit, &id, detail)
		}
		if out.Changed, err = s.move(ctx, tx, u, p, m); err != nil {
			return err
		}
		if out.Unit, err = s.findUnit(ctx, tx, id); err != nil {
			return err
		}
		prefix = m.To
		detail["changed"] = out.Changed
		return audit.Record(ctx, tx, audit.ActionMoveOrgUnit, audit.EntityOrgUnit, &id, detail)
	})
	if err != nil {
		return nil, moveError(err)
	}
	if out.Run != nil {
		s.runs.Go(out.Run.ID)
		return out, nil
	}
	s.changed(ctx, prefix)
	return out, nil
}

// SyncMoveLimit is the most living residents a subtree may hold to move
// within the request; a bigger one moves in a run. At 10^6 residents a
// community of 50,000 takes longer than a request may (docs/PERFORMANCE.md).
const SyncMoveLimit = 5000

// lockTimeouts bounds the move's waits for rows others hold, and lifts the
// interactive statement timeout for its few big statements.
func lockTimeouts(ctx context.Context, tx *gorm.DB) error {
	if err := tx.WithContext(ctx).Exec("SET LOCAL lock_timeout = '" + moveLockTimeout + "'; SET LOCAL statement_timeout = '300s'").Error; err != nil {
		return fmt.Errorf("org: move: %w", err)
	}
	return nil
}

// plan locks the unit and its new parent and works out the path rewrite.
// self is the run doing the move (not counted as a run in the way).
func (s *Service) plan(ctx context.Context, tx *gorm.DB, id, newParentID, self uuid.UUID) (u, p *Unit, m Move, err error) {
	if u, err = s.lockUnit(ctx, tx, id, "input", "id"); err != nil {
		return
	}
	if p, err = s.lockUnit(ctx, tx, newParentID, "input", "newParentId"); err != nil {
		return
	}
	if p.RetiredAt != nil {
		err = problem.New(problem.InvalidTransition, "目标单位已撤销", "input", "newParentId")
		return
	}
	switch {
	case u.Kind == Grid && p.Kind == Community, u.Kind == Community && p.Kind == Street:
		if u.ParentID != nil && *u.ParentID == p.ID {
			err = problem.New(problem.Invalid, "该单位已在目标单位下", "input", "newParentId")
			return
		}
		m.From, m.To = u.Path, p.Path+u.Code+"/"
		if u.Kind == Grid {
			m.Community = &p.ID
		}
	case u.Kind == Street && p.Kind == Street:
		if u.ID == p.ID {
			err = problem.New(problem.Invalid, "不能并入自身", "input", "newParentId")
			return
		}
		m.From, m.To = u.Path, p.Path
	default:
		err = problem.New(problem.Invalid, "网格只能移到社区下，社区只能移到街道下，街道只能并入街道", "input", "newParentId")
		return
	}
	err = s.noRunUnder(ctx, tx, m.From, self)
	return
}

// move rewrites every copied path: the units', then each copier's tables
// and the runs' scopes; it answers the rows changed per table.
func (s *Service) move(ctx context.Context, tx *gorm.DB, u, p *Unit, m Move) (map[string]int64, error) {
	changed := map[string]int64{}
	n, err := s.movePaths(ctx, tx, u, p, m)
	if err != nil {
		return nil, err
	}
	changed["org_units"] = n
	for _, c := range s.copiers {
		got, err := c.MoveSubtree(ctx, tx, m)
		if err != nil {
			return nil, err
		}
		for k, v := range got {
			changed[k] += v
		}
	}
	if changed["runs"], err = run.MoveScopes(ctx, tx, m.From, m.To); err != nil {
		return nil, err
	}
	return changed, nil
}

// movePaths rewrites the org units' own paths (and the moved unit's
// parent) in one statement. A street merged into another keeps its own
// row; its children change parent.
func (s *Service) movePaths(ctx context.Context, tx *gorm.DB, u, p *Unit, m Move) (int64, error) {
	res := tx.WithContext(ctx).Exec(`UPDATE org_units SET
			path = ? || substr(path, length(?) + 1),
			parent_id = CASE WHEN id = ? OR parent_id = ? AND ? THEN ? ELSE parent_id END
		WHERE path LIKE ? AND NOT (id = ? AND ?)`,
		m.To, m.From, u.ID, u.ID, u.Kind == Street, p.ID, policy.LikePrefix(m.From), u.ID, u.Kind == Street)
	if res.Error != nil {
		if _, dup := database.IsUniqueViolation(res.Error); dup {
			return 0, problem.New(problem.Duplicate, "目标单位下已有同代码的单位", "input", "newParentId")
		}
		return 0, fmt.Errorf("org: move units: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// noRunUnder refuses a move while a bulk run scoped inside the subtree is
// running (its stored selection names the old paths), or a move run of a
// unit above or below it.
func (s *Service) noRunUnder(ctx context.Context, tx *gorm.DB, from string, self uuid.UUID) error {
	var n int64
	err := tx.WithContext(ctx).Table("runs").Where(`status = 'RUNNING' AND id <> ? AND (starts_with(scope_path, ?) OR strpos(params::text, ?) > 0
			OR kind = ? AND scope_path <> '' AND starts_with(?, scope_path))`, self, from, from, string(run.MoveOrgUnit), from).Count(&n).Error
	if err != nil {
		return fmt.Errorf("org: runs under: %w", err)
	}
	if n > 0 {
		return problem.New(problem.Conflict, "该单位范围内有批量任务正在运行，请待其结束后再迁移", "input", "id")
	}
	return nil
}

// MoveResidents puts up to MaxResidentsMoved residents into a grid (and
// its community), with every row that copies their path (ADMIN).
func (s *Service) MoveResidents(ctx context.Context, ids []uuid.UUID, gridID uuid.UUID) (*MoveResult, error) {
	if _, err := policy.Require(ctx, policy.ManageOrgTree); err != nil {
		return nil, err
	}
	if len(ids) == 0 || len(ids) > MaxResidentsMoved {
		return nil, problem.New(problem.Invalid, fmt.Sprintf("一次须迁移 1 至 %d 名居民", MaxResidentsMoved), "input", "residentIds")
	}
	out := &MoveResult{Changed: map[string]int64{}}
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if err := lockTimeouts(ctx, tx); err != nil {
			return err
		}
		g, err := s.lockUnit(ctx, tx, gridID, "input", "gridId")
		if err != nil {
			return err
		}
		if g.Kind != Grid || g.ParentID == nil {
			return problem.New(problem.Invalid, "gridId 须为网格", "input", "gridId")
		}
		if g.RetiredAt != nil {
			return problem.New(problem.InvalidTransition, "目标单位已撤销", "input", "gridId")
		}
		m := ResidentsMove{IDs: ids, Community: *g.ParentID, Grid: g.ID, Path: g.Path}
		for _, c := range s.copiers {
			got, err := c.MoveResidents(ctx, tx, m)
			if err != nil {
				return err
			}
			for k, v := range got {
				out.Changed[k] += v
			}
		}
		out.Unit = g
		return audit.RecordMany(ctx, tx, audit.ActionMoveResidents, audit.EntityResident, ids,
			map[string]any{"gridId": g.ID, "to": g.Path})
	})
	if err != nil {
		return nil, moveError(err)
	}
	return out, nil
}

// MaxResidentsMoved bounds one moveResidents; a whole grid or community
// moves with moveOrgUnit.
const MaxResidentsMoved = 1000

// moveError answers a lock wait that ran out as a CONFLICT to retry.
func moveError(err error) error {
	if database.IsLockTimeout(err) {
		return problem.New(problem.Conflict, "部分记录正被其他操作占用，请稍后重试")
	}
	return database.Classify(err)
}

// lockUnit reads and locks one unit; NOT_FOUND on the given field when it does not exist.
func (s *Service) lockUnit(ctx context.Context, tx *gorm.DB, id uuid.UUID, field ...string) (*Unit, error) {
	var r unitRow
	err := tx.WithContext(ctx).Raw("SELECT * FROM org_units WHERE id = ? FOR UPDATE", id).Scan(&r).Error
	if err != nil {
		return nil, fmt.Errorf("org: lock unit: %w", err)
	}
	if r.ID == uuid.Nil {
		return nil, problem.New(problem.NotFound, "org unit not found", field...)
	}
	return r.unit(), nil
}

func (s *Service) findUnit(ctx context.Context, tx *gorm.DB, id uuid.UUID) (*Unit, error) {
	var r unitRow
	if err := tx.WithContext(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("org: unit: %w", err)
	}
	return r.unit(), nil
}

// changed runs the after-change hook (cache invalidation) once committed.
func (s *Service) changed(ctx context.Context, prefix string) {
	if s.afterChange != nil {
		s.afterChange(context.WithoutCancel(ctx), prefix)
	}
}

func (s *Service) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}
