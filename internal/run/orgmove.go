package run

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/org"
	"github.com/jinjiang/residents/internal/policy"
)

// OrgMoves keeps runs' scope paths in step with an org-tree move
// (org.PathCopier), so a finished run stays visible to the staff of the
// unit it was started for. (A move is refused while a run inside the
// moved subtree is running: its stored selection names the old paths.)
type OrgMoves struct{}

// MoveSubtree rewrites scope paths under m.From.
func (OrgMoves) MoveSubtree(ctx context.Context, tx *gorm.DB, m org.Move) (map[string]int64, error) {
	res := tx.WithContext(ctx).Exec(`UPDATE runs SET scope_path = ? || substr(scope_path, length(?) + 1)
		WHERE scope_path LIKE ?`, m.To, m.From, policy.LikePrefix(m.From))
	if res.Error != nil {
		return nil, fmt.Errorf("run: move scope paths: %w", res.Error)
	}
	return map[string]int64{"runs": res.RowsAffected}, nil
}

// MoveResidents changes no run.
func (OrgMoves) MoveResidents(context.Context, *gorm.DB, org.ResidentsMove) (map[string]int64, error) {
	return nil, nil
}
