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

// callsSQL is the calls of a window as the statistics see them: emergency
// calls (technical alarms apart) received in [from, to) under an org path
// (” = district-wide, unknown residents included). The answer time is the
// telephony system's when it reported one, else the operator's, never
// negative; attendance is the first arrival of a dispatched responder
// after the call was received. @end is the window's end, or now when the
// window reaches into the future: a call unanswered then is still ringing.
const callsSQL = `
WITH c AS (
  SELECT c.kind, c.answered_by, c.received_at,
         EXTRACT(HOUR FROM c.received_at AT TIME ZONE 'Asia/Shanghai')::int AS hour,
         -- GREATEST ignores NULL, so unanswered calls are kept NULL explicitly
         CASE WHEN COALESCE(c.telephony_answered_at, c.answered_at) IS NOT NULL
              THEN GREATEST(EXTRACT(EPOCH FROM (COALESCE(c.telephony_answered_at, c.answered_at) - c.received_at)), 0)::float8 END AS secs,
         d.first_dispatch,
         EXTRACT(EPOCH FROM (d.first_arrival - c.received_at))::float8 / 60 AS mins,
         (SELECT e.actor_name FROM emergency_call_events e WHERE e.call_id = c.id AND e.kind = 'ANSWERED' LIMIT 1) AS operator_name
    FROM emergency_calls c
    LEFT JOIN LATERAL (SELECT min(dispatched_at) AS first_dispatch, min(arrived_at) AS first_arrival
                         FROM emergency_dispatches WHERE call_id = c.id) d ON true
   WHERE c.received_at >= @from AND c.received_at < @to
     AND c.kind <> 'DEVICE_FAULT'
     AND (@path = '' OR c.org_path LIKE @path || '%')
)`

// figuresSQL are the figures' aggregates, in scanFigures' order.
const figuresSQL = `
       count(*),
       count(secs),
       COALESCE(count(*) FILTER (WHERE secs <= 60)::float8
         / NULLIF(count(*) FILTER (WHERE secs IS NOT NULL OR received_at <= CAST(@upto AS timestamptz) - interval '60 seconds'), 0), 0),
       COALESCE(count(*) FILTER (WHERE secs <= 180)::float8
         / NULLIF(count(*) FILTER (WHERE secs IS NOT NULL OR received_at <= CAST(@upto AS timestamptz) - interval '180 seconds'), 0), 0),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY secs),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY secs),
       count(*) FILTER (WHERE secs IS NULL AND received_at > CAST(@upto AS timestamptz) - interval '180 seconds'),
       count(first_dispatch),
       count(mins),
       COALESCE(count(*) FILTER (WHERE mins <= 45)::float8
         / NULLIF(count(*) FILTER (WHERE first_dispatch IS NOT NULL AND (mins IS NOT NULL OR received_at <= CAST(@upto AS timestamptz) - interval '45 minutes')), 0), 0),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY mins)`

func (f *Figures) targets(median, p90, att *sql.NullFloat64) []any {
	return []any{&f.Total, &f.Answered, &f.AnsweredWithin60sRate, &f.AnsweredWithin180sRate, median, p90,
		&f.StillRinging, &f.Dispatched, &f.Attended, &f.AttendedWithin45mRate, att}
}

func setOptional(dst **float64, v sql.NullFloat64) {
	if v.Valid {
		x := v.Float64
		*dst = &x
	}
}

const categorySQL = `
SELECT category, count(*) AS n
  FROM emergency_calls
 WHERE received_at >= @from AND received_at < @to
   AND kind <> 'DEVICE_FAULT'
   AND (@path = '' OR org_path LIKE @path || '%')
   AND category IS NOT NULL
 GROUP BY category
 ORDER BY count(*) DESC, category`

const technicalSQL = `
SELECT count(*) FROM emergency_calls
 WHERE received_at >= @from AND received_at < @to AND kind = 'DEVICE_FAULT'
   AND (@path = '' OR org_path LIKE @path || '%')`

// groupings are the breakdowns: a key expression over c and, for
// operators, a display name. Fixed SQL, never user input.
var groupings = []struct {
	key, name, order string
}{
	{"COALESCE(answered_by::text, '')", "max(operator_name)", "1"},
	{"hour::text", "NULL::text", "min(hour)"},
	{"kind", "NULL::text", "1"},
}

// Stats computes the alarm-center statistics for calls received in
// [from, to), optionally under an org unit. Case workers see their own
// subtree only.
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
	end := to
	if now := s.now(); now.Before(end) {
		end = now
	}
	args := map[string]any{"from": from, "to": to, "path": path, "upto": end}
	db := s.db.WithContext(ctx)
	var st Stats
	var median, p90, att sql.NullFloat64
	if err := db.Raw(callsSQL+" SELECT "+figuresSQL+" FROM c", args).Row().Scan(st.targets(&median, &p90, &att)...); err != nil {
		return nil, fmt.Errorf("emergency: stats: %w", database.Classify(err))
	}
	setOptional(&st.MedianAnswerSeconds, median)
	setOptional(&st.P90AnswerSeconds, p90)
	setOptional(&st.MedianAttendanceMinutes, att)
	groups := make([][]Group, len(groupings))
	for i, g := range groupings {
		rows, err := db.Raw(callsSQL+" SELECT "+g.key+", "+g.name+", "+figuresSQL+" FROM c GROUP BY 1 ORDER BY "+g.order, args).Rows()
		if err != nil {
			return nil, fmt.Errorf("emergency: stats groups: %w", database.Classify(err))
		}
		for rows.Next() {
			var gr Group
			var m, p, a sql.NullFloat64
			if err := rows.Scan(append([]any{&gr.Key, &gr.Name}, gr.targets(&m, &p, &a)...)...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("emergency: stats groups: %w", database.Classify(err))
			}
			setOptional(&gr.MedianAnswerSeconds, m)
			setOptional(&gr.P90AnswerSeconds, p)
			setOptional(&gr.MedianAttendanceMinutes, a)
			groups[i] = append(groups[i], gr)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("emergency: stats groups: %w", database.Classify(err))
		}
	}
	st.ByOperator, st.ByHourOfDay, st.ByKind = nonNil(groups[0]), nonNil(groups[1]), nonNil(groups[2])
	if err := db.Raw(technicalSQL, args).Row().Scan(&st.TechnicalCalls); err != nil {
		return nil, fmt.Errorf("emergency: technical calls: %w", database.Classify(err))
	}
	var cats []struct {
		Category string
		N        int
	}
	if err := db.Raw(categorySQL, args).Scan(&cats).Error; err != nil {
		return nil, fmt.Errorf("emergency: stats by category: %w", database.Classify(err))
	}
	st.ByCategory = make([]CategoryCount, len(cats))
	for i, c := range cats {
		st.ByCategory[i] = CategoryCount{Category: Category(c.Category), Count: c.N}
	}
	return &st, nil
}

func nonNil(g []Group) []Group {
	if g == nil {
		return []Group{}
	}
	return g
}
