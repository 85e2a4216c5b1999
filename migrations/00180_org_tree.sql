-- The org tree as data the ADMIN edits (issue #20, item 6), likely
-- duplicate residents (item 5) and residents-list exports (item 2).
--
-- org_units.retired_at: a retired community or grid takes no new
-- residents; it stays (residents' history and staff accounts point at it).
--
-- residents.merged_into: a duplicate record merged into its survivor
-- (mergeResidents). It stays in the registry, like a death, but is no
-- longer a living resident: resident_facts.living now also requires it unset.
--
-- duplicate_candidates: one row per pair of residents a duplicates report
-- found, smaller id first, per reason. A DISMISSED or MERGED pair keeps its
-- row, so the next report (INSERT ... ON CONFLICT DO NOTHING for them)
-- does not raise it again. seen_run marks the report that last found an
-- OPEN pair; the report deletes OPEN pairs it no longer finds.
--
-- residents_person_idx answers "same name, birth date and gender" from the
-- index (phone_bidx has its own index already).
--
-- resident_exports: an XLSX export of a residents list; a big one is
-- written by a run (rows staged in resident_export_rows, then streamed
-- into the file), a small one at once. Only its requester downloads it.

-- +goose Up
ALTER TABLE org_units ADD COLUMN retired_at timestamptz;

ALTER TABLE residents ADD COLUMN merged_into uuid REFERENCES residents (id),
  ADD CONSTRAINT residents_merged_into_check CHECK (merged_into <> id);

CREATE OR REPLACE VIEW resident_facts AS
SELECT id, community_id, grid_id, org_path, gender, birth_date, care_level, statuses, deceased_on,
       deceased_on IS NULL AND moved_out_on IS NULL AND merged_into IS NULL AS living, moved_out_on,
       household_statuses, facts_since
FROM residents;

CREATE INDEX residents_person_idx ON residents (name, birth_date, gender, id);

CREATE TABLE duplicate_candidates (
  id           uuid PRIMARY KEY,
  resident_a   uuid NOT NULL REFERENCES residents (id),
  resident_b   uuid NOT NULL REFERENCES residents (id),
  reason       text NOT NULL CHECK (reason IN ('SAME_NAME_BIRTH_GENDER', 'SHARED_PHONE')),
  status       text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'DISMISSED', 'MERGED')),
  found_at     timestamptz NOT NULL,
  seen_run     uuid,
  decided_at   timestamptz,
  decided_by   uuid,
  decision_note text CHECK (length(decision_note) <= 500),
  CHECK (resident_a < resident_b),
  CHECK ((status = 'OPEN') = (decided_at IS NULL)),
  UNIQUE (resident_a, resident_b, reason)
);
CREATE INDEX duplicate_candidates_b_idx ON duplicate_candidates (resident_b);
CREATE INDEX duplicate_candidates_open_idx ON duplicate_candidates (id) WHERE status = 'OPEN';

CREATE TABLE resident_exports (
  id           uuid PRIMARY KEY,
  requested_by uuid NOT NULL,
  filter       jsonb NOT NULL,
  status       text NOT NULL CHECK (status IN ('RUNNING', 'READY', 'FAILED')),
  row_count    bigint NOT NULL DEFAULT 0 CHECK (row_count >= 0),
  file         bytea,
  run_id       uuid,
  created_at   timestamptz NOT NULL,
  finished_at  timestamptz,
  CHECK ((status = 'READY') = (file IS NOT NULL))
);
CREATE INDEX resident_exports_requester_idx ON resident_exports (requested_by, id DESC);

CREATE TABLE resident_export_rows (
  export_id uuid NOT NULL REFERENCES resident_exports (id) ON DELETE CASCADE,
  resident_id uuid NOT NULL,
  cells     jsonb NOT NULL,
  PRIMARY KEY (export_id, resident_id)
);

ALTER TABLE runs DROP CONSTRAINT runs_kind_check;
ALTER TABLE runs ADD CONSTRAINT runs_kind_check
  CHECK (kind IN ('ISSUE_VOUCHERS', 'ENROLL_RESIDENTS', 'RECOMPUTE_DEADLINES', 'IMPORT_RESIDENTS', 'MOVE_ORG_UNIT', 'FIND_DUPLICATES', 'EXPORT_RESIDENTS'));

-- +goose Down
ALTER TABLE runs DROP CONSTRAINT runs_kind_check;
DELETE FROM runs WHERE kind IN ('MOVE_ORG_UNIT', 'FIND_DUPLICATES', 'EXPORT_RESIDENTS');
ALTER TABLE runs ADD CONSTRAINT runs_kind_check CHECK (kind IN ('ISSUE_VOUCHERS', 'ENROLL_RESIDENTS', 'RECOMPUTE_DEADLINES', 'IMPORT_RESIDENTS'));
DROP TABLE resident_export_rows;
DROP TABLE resident_exports;
DROP TABLE duplicate_candidates;
DROP INDEX residents_person_idx;
CREATE OR REPLACE VIEW resident_facts AS
SELECT id, community_id, grid_id, org_path, gender, birth_date, care_level, statuses, deceased_on,
       deceased_on IS NULL AND moved_out_on IS NULL AS living, moved_out_on,
       household_statuses, facts_since
FROM residents;
ALTER TABLE residents DROP COLUMN merged_into;
ALTER TABLE org_units DROP COLUMN retired_at;
