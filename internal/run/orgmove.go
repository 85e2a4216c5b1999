package run

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// MoveScopes keeps runs' scope paths in step with an org-tree move (every
// scope path starting with from starts with to instead), so a finished run
// stays visible to the staff of the unit it was started for. The org
// service calls it in the move's transaction (and refuses a move while a
// run inside the moved subtree is running: its stored selection names the
// old paths).
func MoveScopes(ctx context.Context, tx *gorm.DB, from, to string) (int64, error) {
	res := tx.WithContext(ctx).Exec(`UPDATE runs SET scope_path = ? || substr(scope_path, length(?) + 1)
		WHERE starts_with(scope_path, ?)`, to, from, from)
	if res.Error != nil {
		return 0, fmt.Errorf("run: move scope paths: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// Committer is a handler told, after the transaction of a run's last
// step committed, that the run succeeded: for work that must follow the
// commit (dropping caches of what the run changed). A crash between the
// commit and the call skips it; what it does must tolerate that.
type Committer interface {
	Committed(ctx context.Context, r *Run)
}
