#!/bin/bash
# A/B: candidates of 100,000 enrolled residents, judged on 2026-12-01, with the
# current columns (old) and with the as-of expressions (new). Read-only.
# Usage: scripts/asof-ab.sh DATABASE [PROGRAM_CODE] (docs/PERFORMANCE.md, issue 20).
DB=${1:?database name}; P=$(psql -h 127.0.0.1 -U postgres "$DB" -Atc "SELECT id FROM voucher_programs WHERE code = '${2:-JJ-YLFWQ}'")
q() {
cat <<SQL
\timing on
SET max_parallel_workers_per_gather = 0;
WITH ru AS MATERIALIZED (SELECT * FROM voucher_program_rules WHERE program_id = '$P'),
chunk AS (SELECT resident_id FROM voucher_enrollments WHERE program_id = '$P' AND resident_id > '$2' ORDER BY resident_id LIMIT 100000)
SELECT count(*), sum(best.amount) FROM chunk e
JOIN resident_facts r ON r.id = e.resident_id AND r.living
LEFT JOIN disability_certificates dc ON dc.resident_id = r.id AND dc.superseded_at IS NULL AND DATE '2026-12-01' BETWEEN dc.issued_on AND dc.valid_until
CROSS JOIN LATERAL (SELECT $1) f
CROSS JOIN LATERAL (SELECT max(ru.amount_fen) AS amount FROM ru
  WHERE (ru.min_age IS NULL OR r.birth_date <= (DATE '2026-12-01' - make_interval(years => ru.min_age))::date)
    AND (ru.care_levels IS NULL OR f.care_level = ANY (ru.care_levels))
    AND (ru.statuses IS NULL OR f.statuses && ru.statuses)) best
WHERE best.amount IS NOT NULL;
SQL
}
OLD="r.statuses AS statuses, r.care_level AS care_level"
NEW="(CASE WHEN r.facts_since IS NULL OR r.facts_since <= DATE '2026-12-01' THEN r.statuses || r.household_statuses ELSE resident_statuses_on(r.id, DATE '2026-12-01') END) AS statuses, (CASE WHEN r.facts_since IS NULL OR r.facts_since <= DATE '2026-12-01' THEN r.care_level ELSE resident_care_level_on(r.id, DATE '2026-12-01') END) AS care_level"
for start in 00000000-0000-0000-0000-000000000000; do
for i in 1 2 3 4 5 6; do
  echo "old $start"; q "$OLD" $start | psql -h 127.0.0.1 -U postgres "$DB" -q | grep -E "Time|^ *[0-9]"
  echo "new $start"; q "$NEW" $start | psql -h 127.0.0.1 -U postgres "$DB" -q | grep -E "Time|^ *[0-9]"
done; done
