-- Bulk import of residents at the counter (issue #20, item 2): an XLSX or
-- CSV file uploaded to POST /imports/residents, checked row by row (a dry
-- run answers every row's problems and changes nothing) and, when
-- committed, applied by a durable run (kind IMPORT_RESIDENTS) in chunks,
-- insert or update by ID number.
--
-- resident_imports is one upload: who, when, which file (its SHA-256, not
-- its name's people), for which jurisdiction, and the counts.
--
-- resident_import_rows stages the committed file for its run, as parsed
-- and checked rows rather than the file's bytes: the file holds ID and
-- phone numbers in clear, and a bytea copy would keep them at rest
-- unencrypted. A staged row holds them exactly as residents does
-- (AES-GCM ciphertext, blind index, mask), so that the run copies them
-- with one INSERT … SELECT and never parses, decrypts or re-encrypts; and
-- the rows survive a restart, so the run resumes after its last chunk.
-- Only rows without errors are staged; seq numbers them 0.. in file order
-- (the run's keyset: items_done is the next seq). The run deletes them when
-- it ends.
--
-- resident_import_problems is every row's errors and notices, found when
-- the file was checked or when its run applied the row.

-- +goose Up
CREATE TABLE resident_imports (
  id           uuid PRIMARY KEY,
  dry_run      boolean NOT NULL,
  file_name    text NOT NULL CHECK (length(file_name) <= 255),
  file_sha256  bytea NOT NULL CHECK (length(file_sha256) = 32),
  file_bytes   bigint NOT NULL CHECK (file_bytes >= 0),
  format       text NOT NULL CHECK (format IN ('XLSX', 'CSV')),
  -- The uploader's jurisdiction ('' for the whole district): every row's
  -- place, and every updated resident, lies inside it; who may follow it.
  scope_path   text NOT NULL,
  uploaded_by  uuid NOT NULL REFERENCES users (id),
  uploaded_at  timestamptz NOT NULL,
  request_id   text NOT NULL DEFAULT '',
  -- The run applying it; NULL for a dry run.
  run_id       uuid UNIQUE REFERENCES runs (id),
  rows_total   integer NOT NULL CHECK (rows_total >= 0),
  -- A dry run's counts are what a commit would do now.
  inserted     integer NOT NULL DEFAULT 0 CHECK (inserted >= 0),
  updated      integer NOT NULL DEFAULT 0 CHECK (updated >= 0),
  unchanged    integer NOT NULL DEFAULT 0 CHECK (unchanged >= 0),
  failed       integer NOT NULL DEFAULT 0 CHECK (failed >= 0),
  notices      integer NOT NULL DEFAULT 0 CHECK (notices >= 0),
  CHECK (inserted + updated + unchanged + failed <= rows_total),
  CHECK (dry_run = (run_id IS NULL))
);
CREATE INDEX resident_imports_scope_idx ON resident_imports (scope_path text_pattern_ops, id);

CREATE TABLE resident_import_rows (
  import_id        uuid NOT NULL REFERENCES resident_imports (id) ON DELETE CASCADE,
  seq              integer NOT NULL CHECK (seq >= 0),
  row_no           integer NOT NULL CHECK (row_no >= 2),
  name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  name_terms       text[] NOT NULL,
  id_number_enc    text NOT NULL,
  id_number_bidx   bytea NOT NULL,
  id_number_masked text NOT NULL,
  -- NULL phone or address: the cell was empty (an existing resident's
  -- stored value stays).
  phone_enc        text,
  phone_bidx       bytea,
  phone_masked     text,
  gender           text NOT NULL CHECK (gender IN ('MALE', 'FEMALE')),
  birth_date       date NOT NULL,
  address          text,
  community_id     uuid NOT NULL,
  grid_id          uuid,
  -- A new resident's initial facts; NULL when the cells were empty.
  statuses         text[],
  care_level       text CHECK (care_level IN ('INTACT', 'MILD', 'MODERATE', 'SEVERE', 'TOTAL')),
  PRIMARY KEY (import_id, seq)
);

CREATE TABLE resident_import_problems (
  id          uuid PRIMARY KEY,
  import_id   uuid NOT NULL REFERENCES resident_imports (id) ON DELETE CASCADE,
  row_no      integer NOT NULL CHECK (row_no >= 1),
  -- The column's header as the file has it and the cell ("C7"); both ''
  -- for a problem of the whole row.
  column_name text NOT NULL,
  cell        text NOT NULL,
  code        text NOT NULL,
  severity    text NOT NULL CHECK (severity IN ('ERROR', 'NOTICE')),
  message     text NOT NULL
);
CREATE INDEX resident_import_problems_import_idx ON resident_import_problems (import_id, id);

ALTER TABLE runs DROP CONSTRAINT runs_kind_check;
ALTER TABLE runs ADD CONSTRAINT runs_kind_check
  CHECK (kind IN ('ISSUE_VOUCHERS', 'ENROLL_RESIDENTS', 'RECOMPUTE_DEADLINES', 'IMPORT_RESIDENTS'));

-- +goose Down
DROP TABLE resident_import_problems;
DROP TABLE resident_import_rows;
DROP TABLE resident_imports;
DELETE FROM runs WHERE kind = 'IMPORT_RESIDENTS';
ALTER TABLE runs DROP CONSTRAINT runs_kind_check;
ALTER TABLE runs ADD CONSTRAINT runs_kind_check
  CHECK (kind IN ('ISSUE_VOUCHERS', 'ENROLL_RESIDENTS', 'RECOMPUTE_DEADLINES'));
