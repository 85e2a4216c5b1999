package emergency

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/problem"
)

// statsSQL computes the alarm-center figures over calls received in
// [from, to) under an org path (” = district-wide, unknown residents
// included). Answer time is answered_at - received_at, never negative.
const statsSQL = `
WITH c AS (
  SELECT answered_at,
         -- GREATEST ignores NULL, so unanswered calls are kept NULL explicitly
         CASE WHEN answered_at IS NOT NULL
              THEN GREATEST(EXTRACT(EPOCH FROM (answered_at - received_at)), 0)::float8 END AS secs
    FROM emergency_calls
   WHERE received_at >= @from AND received_at < @to
     AND (@path = '' OR org_path LIKE @path || '%')
)
SELECT count(*) AS total,
       count(answered_at) AS answered,
       COALESCE(count(*) FILTER (WHERE secs <= 60)::float8 / NULLIF(count(*), 0), 0) AS within60,
       COALESCE(count(*) FILTER (WHERE secs <= 180)::float8 / NULLIF(count(*), 0), 0) AS within180,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY secs) AS median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY secs) AS p90
  FROM c`

const categorySQL = `
SELECT category, count(*) AS n
  FROM emergency_calls
 WHERE received_at >= @from AND received_at < @to
   AND (@path = '' OR org_path LIKE @path || '%')
   AND category IS NOT NULL
 GROUP BY category
 ORDER BY count(*) DESC, category`

// Stats computes answer-time statistics for calls received in [from, to),
// optionally under an org unit. Case workers see their own subtree only.
func (s *Service) Stats(ctx context.Context, from, to time.Time, unitID *uuid.UUID) (*Stats, error) {
	v, base, err := readScope(ctx)
	if err != nil {
		return nil, err
	}
	if !to.After(from) {
		return nil, problem.BadInput("to must be after from")
	}
	path, err := s.scopeFor(ctx, v, base, unitID)
	if err != nil {
		return nil, err
	}
	args := map[string]any{"from": from, "to": to, "path": path}
	var st Stats
	var median, p90 sql.NullFloat64
	row := s.db.WithContext(ctx).Raw(statsSQL, args).Row()
	if err := row.Scan(&st.Total, &st.Answered, &st.AnsweredWithin60sRate, &st.AnsweredWithin180sRate, &median, &p90); err != nil {
		return nil, fmt.Errorf("emergency: stats: %w", database.Classify(err))
	}
	if median.Valid {
		st.MedianAnswerSeconds = &median.Float64
	}
	if p90.Valid {
		st.P90AnswerSeconds = &p90.Float64
	}
	var cats []struct {
		Category string
		N        int
	}
	if err := s.db.WithContext(ctx).Raw(categorySQL, args).Scan(&cats).Error; err != nil {
		return nil, fmt.Errorf("emergency: stats by category: %w", database.Classify(err))
	}
	st.ByCategory = make([]CategoryCount, len(cats))
	for i, c := range cats {
		st.ByCategory[i] = CategoryCount{Category: Category(c.Category), Count: c.N}
	}
	return &st, nil
}
