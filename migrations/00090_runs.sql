-- Bulk work (issuing a month's vouchers, enrolling everyone a filter
-- matches) runs as a durable run: a row here, worked through in chunks by
-- keyset, each chunk its own transaction that also moves the row's cursor
-- and counters. Every serving instance claims runs whose lease has lapsed
-- (FOR UPDATE SKIP LOCKED), so a run interrupted by a crash or a deploy
-- resumes where its last committed chunk left it, on whichever instance
-- claims it next (internal/run).
--
-- kind says which domain handler works the run; subject_id is what it
-- works on (a voucher program for both kinds so far) and run_key what
-- distinguishes runs of one subject (the period of an issuance). params is
-- the handler's frozen input (the enrollment's compiled filter, the
-- issuance's budget room). scope_path is the org-unit subtree the run was
-- started for ('' for the whole district): who may follow it.

-- +goose Up
CREATE TABLE runs (
  id             uuid PRIMARY KEY,
  kind           text NOT NULL CHECK (kind IN ('ISSUE_VOUCHERS', 'ENROLL_RESIDENTS')),
  subject_id     uuid NOT NULL,
  run_key        text NOT NULL DEFAULT '',
  params         jsonb NOT NULL DEFAULT '{}',
  scope_path     text NOT NULL DEFAULT '',
  status         text NOT NULL DEFAULT 'RUNNING' CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED')),
  -- NULL until the run has planned (counted what it goes through).
  items_total    bigint CHECK (items_total >= 0),
  items_done     bigint NOT NULL DEFAULT 0 CHECK (items_done >= 0),
  affected_count bigint NOT NULL DEFAULT 0 CHECK (affected_count >= 0),
  affected_fen   bigint NOT NULL DEFAULT 0 CHECK (affected_fen >= 0),
  skipped_count  bigint NOT NULL DEFAULT 0 CHECK (skipped_count >= 0),
  -- The last item done (keyset position); NULL before the first chunk.
  cursor_id      uuid,
  error_code     text,
  error          text,
  -- Consecutive failed attempts at the next chunk (internal errors).
  attempts       integer NOT NULL DEFAULT 0,
  started_by     uuid,
  started_by_kind text NOT NULL DEFAULT 'SYSTEM',
  request_id     text NOT NULL DEFAULT '',
  started_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL,
  finished_at    timestamptz,
  lease_owner    text,
  lease_until    timestamptz,
  CONSTRAINT runs_finished_check CHECK ((status = 'RUNNING') = (finished_at IS NULL)),
  CONSTRAINT runs_lease_check CHECK (status = 'RUNNING' OR lease_owner IS NULL)
);

-- One running run per kind, subject and key: a second start joins it.
-- (Enrollment runs have a key made of their filter, so the same filter
-- joins and another one runs beside it.)
CREATE UNIQUE INDEX runs_one_running_key ON runs (kind, subject_id, run_key) WHERE status = 'RUNNING';
-- What the workers claim.
CREATE INDEX runs_running_idx ON runs (lease_until) WHERE status = 'RUNNING';
-- Listing a subject's runs, newest first.
CREATE INDEX runs_subject_idx ON runs (kind, subject_id, id);

-- +goose Down
DROP TABLE runs;
