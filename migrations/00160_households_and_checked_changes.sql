-- Households and checked changes of benefit-deciding facts (issue #20,
-- items 1 and 4).
--
-- households: a 户 at an address in one community, with a head. Its
-- statuses (低保 and 特困 only) are a household's, held by every member
-- for voucher and subsidy rules. household_members holds memberships with
-- the dates they began and ended: a resident is in at most one household
-- at a time (the partial unique index), and the dates answer which
-- household a resident was in on a past day. address_terms are the
-- address's character pairs, so an address substring is found through a
-- GIN index (pg_trgm ignores Han characters in the C locale).
--
-- status_periods and care_assessments are the history of the facts. The
-- current facts stay in residents (statuses, care_level) and
-- households.statuses, read as today; the history is consulted only for a
-- resident whose facts changed after the day judged: residents.facts_since
-- is the latest date on which any of their facts (own statuses, care
-- level, their household's statuses, their household) changed, so
-- issuance reads the history for those few (resident_statuses_on,
-- resident_care_level_on) and the current columns for everyone else. A
-- resident whose facts never changed through a checked change has no
-- history rows (registration, import and seed write none): their first
-- change writes what they held until then as periods with no start
-- (held since before the history began).
--
-- residents.household_statuses copies the statuses of the resident's
-- current household, so resident_facts reads no join.
--
-- fact_change_requests: maker-checker. A request names its subject
-- (resident or household) and the change (jsonb, by kind), with the
-- evidence; the checker is never the maker (a CHECK, besides the domain).

-- +goose Up
CREATE TABLE households (
  id            uuid PRIMARY KEY,
  address       text NOT NULL CHECK (length(address) BETWEEN 1 AND 200),
  address_terms text[] NOT NULL,
  community_id  uuid NOT NULL REFERENCES org_units (id),
  org_path      text NOT NULL,
  head_id       uuid NOT NULL REFERENCES residents (id),
  statuses      text[] NOT NULL DEFAULT '{}' CHECK (statuses <@ ARRAY['LOW_INCOME', 'EXTREME_POVERTY']),
  version       integer NOT NULL DEFAULT 1,
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL
);
CREATE INDEX households_org_path_idx ON households (org_path text_pattern_ops, id);
CREATE INDEX households_address_terms_idx ON households USING gin (address_terms);

CREATE TABLE household_members (
  id           uuid PRIMARY KEY,
  household_id uuid NOT NULL REFERENCES households (id),
  resident_id  uuid NOT NULL REFERENCES residents (id),
  relation     text NOT NULL CHECK (relation IN ('HEAD', 'SPOUSE', 'CHILD', 'PARENT', 'GRANDCHILD', 'SIBLING', 'OTHER')),
  joined_on    date NOT NULL,
  left_on      date,
  added_by     uuid NOT NULL,
  removed_by   uuid,
  CHECK (left_on IS NULL OR left_on >= joined_on),
  CHECK ((left_on IS NULL) = (removed_by IS NULL))
);
-- A resident is in at most one household.
CREATE UNIQUE INDEX household_members_one_household ON household_members (resident_id) WHERE left_on IS NULL;
-- One head per household.
CREATE UNIQUE INDEX household_members_one_head ON household_members (household_id) WHERE left_on IS NULL AND relation = 'HEAD';
CREATE INDEX household_members_household_idx ON household_members (household_id, resident_id) WHERE left_on IS NULL;
CREATE INDEX household_members_resident_idx ON household_members (resident_id, joined_on);

ALTER TABLE residents
  ADD COLUMN household_statuses text[] NOT NULL DEFAULT '{}',
  ADD COLUMN facts_since date;

CREATE TABLE fact_change_requests (
  id              uuid PRIMARY KEY,
  kind            text NOT NULL CHECK (kind IN ('RESIDENT_STATUS', 'CARE_LEVEL', 'HOUSEHOLD_STATUS', 'DEATH')),
  state           text NOT NULL CHECK (state IN ('PENDING', 'APPROVED', 'REJECTED', 'WITHDRAWN')),
  resident_id     uuid REFERENCES residents (id),
  household_id    uuid REFERENCES households (id),
  -- The subject's org path when requested: the queue's street filter and
  -- the checker's jurisdiction.
  org_path        text NOT NULL,
  change          jsonb NOT NULL CHECK (jsonb_typeof(change) = 'object'),
  document_type   text NOT NULL CHECK (length(document_type) BETWEEN 1 AND 64),
  document_number text NOT NULL CHECK (length(document_number) BETWEEN 1 AND 64),
  note            text CHECK (length(note) <= 500),
  requested_by    uuid NOT NULL,
  requested_at    timestamptz NOT NULL,
  decided_by      uuid,
  decided_at      timestamptz,
  reject_reason   text CHECK (length(reject_reason) <= 500),
  CHECK (num_nonnulls(resident_id, household_id) = 1),
  CHECK ((kind = 'HOUSEHOLD_STATUS') = (household_id IS NOT NULL)),
  CHECK ((state = 'PENDING') = (decided_at IS NULL)),
  CHECK (decided_by IS NULL OR decided_by <> requested_by),
  CHECK ((state = 'REJECTED') = (reject_reason IS NOT NULL))
);
CREATE INDEX fact_change_requests_queue_idx ON fact_change_requests (state, org_path text_pattern_ops, id);
CREATE INDEX fact_change_requests_resident_idx ON fact_change_requests (resident_id, id) WHERE resident_id IS NOT NULL;
CREATE INDEX fact_change_requests_household_idx ON fact_change_requests (household_id, id) WHERE household_id IS NOT NULL;

CREATE TABLE status_periods (
  id                uuid PRIMARY KEY,
  resident_id       uuid REFERENCES residents (id),
  household_id      uuid REFERENCES households (id),
  status            text NOT NULL CHECK (status IN ('LOW_INCOME', 'EXTREME_POVERTY', 'LIVING_ALONE', 'EMPTY_NEST', 'BEREAVED_PARENT')),
  -- NULL: held since before the history began.
  start_on          date,
  -- The first day the status no longer held; NULL while it holds.
  ended_on          date,
  change_request_id uuid REFERENCES fact_change_requests (id),
  end_request_id    uuid REFERENCES fact_change_requests (id),
  CHECK (num_nonnulls(resident_id, household_id) = 1),
  CHECK (ended_on IS NULL OR start_on IS NULL OR ended_on >= start_on)
);
CREATE UNIQUE INDEX status_periods_open_resident ON status_periods (resident_id, status) WHERE ended_on IS NULL AND resident_id IS NOT NULL;
CREATE UNIQUE INDEX status_periods_open_household ON status_periods (household_id, status) WHERE ended_on IS NULL AND household_id IS NOT NULL;
CREATE INDEX status_periods_resident_idx ON status_periods (resident_id) WHERE resident_id IS NOT NULL;
CREATE INDEX status_periods_household_idx ON status_periods (household_id) WHERE household_id IS NOT NULL;

CREATE TABLE care_assessments (
  id                uuid PRIMARY KEY,
  resident_id       uuid NOT NULL REFERENCES residents (id),
  level             text NOT NULL CHECK (level IN ('INTACT', 'MILD', 'MODERATE', 'SEVERE', 'TOTAL')),
  -- The level holds from the assessment date; NULL: the level held before
  -- the history began (no assessment recorded).
  assessed_on       date,
  assessor          text CHECK (length(assessor) BETWEEN 1 AND 64),
  instrument        text CHECK (length(instrument) BETWEEN 1 AND 100),
  score             integer CHECK (score BETWEEN 0 AND 1000),
  change_request_id uuid REFERENCES fact_change_requests (id),
  CHECK ((assessed_on IS NULL) = (change_request_id IS NULL))
);
CREATE UNIQUE INDEX care_assessments_resident_idx ON care_assessments (resident_id, assessed_on);
CREATE UNIQUE INDEX care_assessments_one_before ON care_assessments (resident_id) WHERE assessed_on IS NULL;

-- The statuses a resident held on day d, their own and their household's.
-- Only for residents whose facts_since is after d (see above); for
-- everyone else statuses || household_statuses is the answer.
CREATE FUNCTION resident_statuses_on(rid uuid, d date) RETURNS text[] LANGUAGE sql STABLE AS $$
  SELECT coalesce(array_agg(DISTINCT s ORDER BY s), '{}') FROM (
    SELECT p.status AS s FROM status_periods p
    WHERE p.resident_id = rid AND (p.start_on IS NULL OR p.start_on <= d) AND (p.ended_on IS NULL OR p.ended_on > d)
    UNION ALL
    -- No history: their own statuses never changed.
    SELECT unnest(r.statuses) FROM residents r
    WHERE r.id = rid AND NOT EXISTS (SELECT 1 FROM status_periods p WHERE p.resident_id = rid)
    UNION ALL
    SELECT hp.status FROM household_members m
    JOIN status_periods hp ON hp.household_id = m.household_id
    WHERE m.resident_id = rid AND m.joined_on <= d AND (m.left_on IS NULL OR m.left_on > d)
      AND (hp.start_on IS NULL OR hp.start_on <= d) AND (hp.ended_on IS NULL OR hp.ended_on > d)
  ) x
$$;

-- The care level a resident held on day d: the latest assessment on or
-- before d, else the level held before the history began, else (no
-- history) the current one.
CREATE FUNCTION resident_care_level_on(rid uuid, d date) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    (SELECT a.level FROM care_assessments a
     WHERE a.resident_id = rid AND (a.assessed_on IS NULL OR a.assessed_on <= d)
     ORDER BY a.assessed_on DESC NULLS LAST LIMIT 1),
    (SELECT a.level FROM care_assessments a WHERE a.resident_id = rid ORDER BY a.assessed_on NULLS FIRST LIMIT 1),
    (SELECT r.care_level FROM residents r WHERE r.id = rid))
$$;

CREATE OR REPLACE VIEW resident_facts AS
SELECT id, community_id, grid_id, org_path, gender, birth_date, care_level, statuses, deceased_on,
       deceased_on IS NULL AND moved_out_on IS NULL AS living, moved_out_on,
       household_statuses, facts_since
FROM residents;

-- +goose Down
DROP VIEW resident_facts;
CREATE VIEW resident_facts AS
SELECT id, community_id, grid_id, org_path, gender, birth_date, care_level, statuses, deceased_on,
       deceased_on IS NULL AND moved_out_on IS NULL AS living, moved_out_on
FROM residents;
DROP FUNCTION resident_care_level_on(uuid, date);
DROP FUNCTION resident_statuses_on(uuid, date);
DROP TABLE care_assessments;
DROP TABLE status_periods;
DROP TABLE fact_change_requests;
ALTER TABLE residents DROP COLUMN facts_since, DROP COLUMN household_statuses;
DROP TABLE household_members;
DROP TABLE households;
