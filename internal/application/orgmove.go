package application

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/org"
	"github.com/jinjiang/residents/internal/policy"
)

// OrgMoves is the applications' part of an org-tree move
// (org.PathCopier). An application copies its handling unit's path (the
// item's department or the applicant's street at submission); when that
// unit moves, the path follows it. A resident moving to another grid
// leaves their applications with the unit handling them.
type OrgMoves struct{}

// MoveSubtree rewrites handling paths under m.From.
func (OrgMoves) MoveSubtree(ctx context.Context, tx *gorm.DB, m org.Move) (map[string]int64, error) {
	res := tx.WithContext(ctx).Exec(`UPDATE applications SET handling_path = ? || substr(handling_path, length(?) + 1)
		WHERE handling_path LIKE ?`, m.To, m.From, policy.LikePrefix(m.From))
	if res.Error != nil {
		return nil, fmt.Errorf("application: move handling paths: %w", res.Error)
	}
	return map[string]int64{"applications": res.RowsAffected}, nil
}

// MoveResidents changes no application (see OrgMoves).
func (OrgMoves) MoveResidents(context.Context, *gorm.DB, org.ResidentsMove) (map[string]int64, error) {
	return nil, nil
}
