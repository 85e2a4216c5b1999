package resident

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/org"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// OrgMoves is the registry's part of an org-tree move (org.PathCopier):
// residents' org_path, community_id and grid_id, one statement each move.
type OrgMoves struct{}

// MoveSubtree rewrites the path of every resident under m.From; a grid
// moved to another community takes its residents' community_id along.
// version moves on, so an edit begun before the move is refused as stale.
func (OrgMoves) MoveSubtree(ctx context.Context, tx *gorm.DB, m org.Move) (map[string]int64, error) {
	res := tx.WithContext(ctx).Exec(`UPDATE residents SET org_path = ? || substr(org_path, length(?) + 1),
			community_id = COALESCE(?, community_id), version = version + 1, updated_at = now()
		WHERE org_path LIKE ?`, m.To, m.From, m.Community, policy.LikePrefix(m.From))
	if res.Error != nil {
		return nil, fmt.Errorf("resident: move subtree: %w", res.Error)
	}
	return map[string]int64{"residents": res.RowsAffected}, nil
}

// MoveResidents puts the residents into the grid; every id must be a
// resident (NOT_FOUND otherwise, nothing moved).
func (OrgMoves) MoveResidents(ctx context.Context, tx *gorm.DB, m org.ResidentsMove) (map[string]int64, error) {
	res := tx.WithContext(ctx).Exec(`UPDATE residents SET org_path = ?, community_id = ?, grid_id = ?,
			version = version + 1, updated_at = now()
		WHERE id = ANY(?)`, m.Path, m.Community, m.Grid, database.UUIDs(m.IDs))
	if res.Error != nil {
		return nil, fmt.Errorf("resident: move residents: %w", res.Error)
	}
	if res.RowsAffected != int64(len(uniq(m.IDs))) {
		return nil, problem.New(problem.NotFound, "resident not found", "input", "residentIds")
	}
	return map[string]int64{"residents": res.RowsAffected}, nil
}

// Occupancy counts the living residents under path (org.Occupancy), up to
// upTo when it is above 0 (enough to decide, read from the index): a unit
// that still has some is not retired; a big subtree moves in a run.
func Occupancy(ctx context.Context, tx *gorm.DB, path string, upTo int64) (int64, error) {
	var n int64
	q := tx.WithContext(ctx).Table("residents r").Select("1").Where("org_path LIKE ? AND "+living("r"), policy.LikePrefix(path))
	if upTo > 0 {
		q = q.Limit(int(upTo))
	}
	err := tx.WithContext(ctx).Table("(?) AS x", q).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("resident: occupancy: %w", err)
	}
	return n, nil
}

func uniq[T comparable](xs []T) []T {
	seen := make(map[T]bool, len(xs))
	out := xs[:0:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
