package auth

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/database"
)

// RefreshJurisdictions rewrites the org path held in the live sessions of
// every staff member whose unit now lies under prefix (after an org-tree
// move), so their jurisdiction follows the move at once instead of at
// their next login. A session keeps its path otherwise: it is what every
// request's scope checks read, without SQL.
func (s *Service) RefreshJurisdictions(ctx context.Context, prefix string) error {
	if prefix == "" {
		return nil
	}
	var rows []struct {
		ID   uuid.UUID
		Path string
	}
	err := s.db.WithContext(ctx).Raw(`SELECT u.id, o.path FROM users u JOIN org_units o ON o.id = u.org_unit_id
		WHERE o.path LIKE ? || '%'`, prefix).Scan(&rows).Error
	if err != nil {
		return database.Classify(fmt.Errorf("auth: staff under %s: %w", prefix, err))
	}
	for _, r := range rows {
		vs, err := s.sessions.sessionsOf(ctx, r.ID)
		if err != nil {
			return err
		}
		for _, v := range vs {
			if v.OrgPath == r.Path {
				continue
			}
			v.OrgPath = r.Path
			if err := s.sessions.replace(ctx, v); err != nil {
				return err
			}
		}
	}
	return nil
}
