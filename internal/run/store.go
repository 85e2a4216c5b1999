package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
)

type row struct {
	ID            uuid.UUID
	Kind          string
	SubjectID     uuid.UUID
	RunKey        string
	Params        string
	ScopePath     string
	Status        string
	ItemsTotal    *int64
	ItemsDone     int64
	AffectedCount int64
	AffectedFen   int64
	SkippedCount  int64
	CursorID      *uuid.UUID
	ErrorCode     *string
	Error         *string
	Attempts      int
	StartedBy     *uuid.UUID
	StartedByKind string
	RequestID     string
	StartedAt     time.Time
	UpdatedAt     time.Time
	FinishedAt    *time.Time
	LeaseOwner    *string
	LeaseUntil    *time.Time
}

func (row) TableName() string { return "runs" }

func (r *row) run() *Run {
	return &Run{ID: r.ID, Kind: Kind(r.Kind), SubjectID: r.SubjectID, Key: r.RunKey, Params: []byte(r.Params), ScopePath: r.ScopePath,
		Status: Status(r.Status), Total: r.ItemsTotal, Done: r.ItemsDone, Count: r.AffectedCount, Fen: r.AffectedFen,
		Skipped: r.SkippedCount, Cursor: r.CursorID, ErrorCode: r.ErrorCode, Error: r.Error, Attempts: r.Attempts,
		StartedBy: r.StartedBy, StartedByKind: r.StartedByKind, RequestID: r.RequestID, StartedAt: r.StartedAt,
		UpdatedAt: r.UpdatedAt, FinishedAt: r.FinishedAt, LeaseOwner: r.LeaseOwner, LeaseUntil: r.LeaseUntil}
}

// Get loads one run (nil when there is none).
func Get(ctx context.Context, db *gorm.DB, id uuid.UUID) (*Run, error) {
	var r row
	err := db.WithContext(ctx).Where("id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, database.Classify(fmt.Errorf("run: get: %w", err))
	}
	return r.run(), nil
}

// GetOf returns run id when it is of kind, or nil (none, or another
// kind's: a look-up by one kind's id never answers another's run).
func GetOf(ctx context.Context, db *gorm.DB, id uuid.UUID, kind Kind) (*Run, error) {
	r, err := Get(ctx, db, id)
	if err != nil || r == nil || r.Kind != kind {
		return nil, err
	}
	return r, nil
}

// RunningOf returns the RUNNING run of kind, subject and key inside tx,
// locked against concurrent starts, or nil.
func RunningOf(ctx context.Context, tx *gorm.DB, kind Kind, subject uuid.UUID, key string) (*Run, error) {
	var r row
	err := tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).
		Where("kind = ? AND subject_id = ? AND run_key = ? AND status = 'RUNNING'", string(kind), subject, key).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, database.Classify(fmt.Errorf("run: running: %w", err))
	}
	return r.run(), nil
}

// ListFilter narrows List.
type ListFilter struct {
	Kind Kind
	// SubjectID, when set, keeps one subject's runs.
	SubjectID *uuid.UUID
	// ScopePrefix, when set, keeps runs started for that subtree or inside
	// it (never district-wide runs, whose scope path is empty).
	ScopePrefix *string
	// After is the keyset position (runs newest first).
	After *uuid.UUID
	Limit int
}

// List returns runs newest first.
func List(ctx context.Context, db *gorm.DB, f ListFilter) ([]*Run, error) {
	q := db.WithContext(ctx).Model(&row{}).Where("kind = ?", string(f.Kind))
	if f.SubjectID != nil {
		q = q.Where("subject_id = ?", *f.SubjectID)
	}
	if f.ScopePrefix != nil {
		q = q.Where("scope_path <> '' AND scope_path LIKE ?", policy.LikePrefix(*f.ScopePrefix))
	}
	if f.After != nil {
		q = q.Where("id < ?", *f.After)
	}
	var rows []row
	if err := q.Order("id DESC").Limit(f.Limit).Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("run: list: %w", err))
	}
	out := make([]*Run, len(rows))
	for i := range rows {
		out[i] = rows[i].run()
	}
	return out, nil
}
