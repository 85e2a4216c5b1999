package emergency

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/org"
	"github.com/jinjiang/residents/internal/policy"
)

// OrgMoves is the alarm center's part of an org-tree move
// (org.PathCopier): calls and welfare escalations copy their resident's
// org path (jurisdiction over them is a prefix match), so they follow it,
// one statement per table.
type OrgMoves struct{}

// MoveSubtree rewrites the paths under m.From.
func (OrgMoves) MoveSubtree(ctx context.Context, tx *gorm.DB, m org.Move) (map[string]int64, error) {
	out := map[string]int64{}
	for _, table := range []string{"emergency_calls", "welfare_escalations"} {
		res := tx.WithContext(ctx).Exec(`UPDATE `+table+` SET org_path = ? || substr(org_path, length(?) + 1) WHERE org_path LIKE ?`,
			m.To, m.From, policy.LikePrefix(m.From))
		if res.Error != nil {
			return nil, fmt.Errorf("emergency: move %s: %w", table, res.Error)
		}
		out[table] = res.RowsAffected
	}
	return out, nil
}

// MoveResidents gives the residents' calls and escalations their new path.
func (OrgMoves) MoveResidents(ctx context.Context, tx *gorm.DB, m org.ResidentsMove) (map[string]int64, error) {
	out := map[string]int64{}
	for _, table := range []string{"emergency_calls", "welfare_escalations"} {
		res := tx.WithContext(ctx).Exec(`UPDATE `+table+` SET org_path = ? WHERE resident_id = ANY(?)`, m.Path, database.UUIDs(m.IDs))
		if res.Error != nil {
			return nil, fmt.Errorf("emergency: move %s: %w", table, res.Error)
		}
		out[table] = res.RowsAffected
	}
	return out, nil
}
