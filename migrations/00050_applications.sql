-- Applications (一站受理、全区通办): the service catalog, the working-day
-- calendar, applications with their event history, and the per-day counter
-- that numbers them without gaps.

-- +goose Up
-- Overrides of the weekend rule: HOLIDAY (off) and WORKDAY (调休, worked).
CREATE TABLE calendar_days (
  date       date PRIMARY KEY,
  kind       text NOT NULL CHECK (kind IN ('HOLIDAY', 'WORKDAY')),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The State Council's 2026 schedule (国办发明电〔2025〕7号), as workday.Official2026.
INSERT INTO calendar_days (date, kind) VALUES
  ('2026-01-01', 'HOLIDAY'),
  ('2026-01-02', 'HOLIDAY'),
  ('2026-01-03', 'HOLIDAY'),
  ('2026-01-04', 'WORKDAY'),
  ('2026-02-14', 'WORKDAY'),
  ('2026-02-15', 'HOLIDAY'),
  ('2026-02-16', 'HOLIDAY'),
  ('2026-02-17', 'HOLIDAY'),
  ('2026-02-18', 'HOLIDAY'),
  ('2026-02-19', 'HOLIDAY'),
  ('2026-02-20', 'HOLIDAY'),
  ('2026-02-21', 'HOLIDAY'),
  ('2026-02-22', 'HOLIDAY'),
  ('2026-02-23', 'HOLIDAY'),
  ('2026-02-28', 'WORKDAY'),
  ('2026-04-04', 'HOLIDAY'),
  ('2026-04-05', 'HOLIDAY'),
  ('2026-04-06', 'HOLIDAY'),
  ('2026-05-01', 'HOLIDAY'),
  ('2026-05-02', 'HOLIDAY'),
  ('2026-05-03', 'HOLIDAY'),
  ('2026-05-04', 'HOLIDAY'),
  ('2026-05-05', 'HOLIDAY'),
  ('2026-05-09', 'WORKDAY'),
  ('2026-06-19', 'HOLIDAY'),
  ('2026-06-20', 'HOLIDAY'),
  ('2026-06-21', 'HOLIDAY'),
  ('2026-09-25', 'HOLIDAY'),
  ('2026-09-26', 'HOLIDAY'),
  ('2026-09-27', 'HOLIDAY'),
  ('2026-09-20', 'WORKDAY'),
  ('2026-10-01', 'HOLIDAY'),
  ('2026-10-02', 'HOLIDAY'),
  ('2026-10-03', 'HOLIDAY'),
  ('2026-10-04', 'HOLIDAY'),
  ('2026-10-05', 'HOLIDAY'),
  ('2026-10-06', 'HOLIDAY'),
  ('2026-10-07', 'HOLIDAY'),
  ('2026-10-10', 'WORKDAY');

CREATE TABLE service_items (
  id                      uuid PRIMARY KEY,
  code                    text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
  name                    text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  -- NULL: the applicant's own street decides.
  department_id           uuid REFERENCES org_units (id),
  time_limit_working_days integer NOT NULL CHECK (time_limit_working_days BETWEEN 1 AND 365),
  extension_working_days  integer NOT NULL DEFAULT 0 CHECK (extension_working_days BETWEEN 0 AND 365),
  -- [{"name": "...", "required": true}, ...]
  materials               jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(materials) = 'array'),
  district_wide           boolean NOT NULL,
  -- References voucher_programs (id); the foreign key is added when the voucher domain merges.
  voucher_program_id      uuid,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now()
);

-- One row per day (Asia/Shanghai): incremented inside the submitting
-- transaction, so a rolled-back submission gives its number back.
CREATE TABLE application_counters (
  day  date PRIMARY KEY,
  last integer NOT NULL CHECK (last BETWEEN 1 AND 999999)
);

CREATE TABLE applications (
  id               uuid PRIMARY KEY,
  number           text NOT NULL UNIQUE CHECK (number ~ '^JJ[0-9]{14}$'),
  item_id          uuid NOT NULL REFERENCES service_items (id),
  applicant_id     uuid NOT NULL REFERENCES residents (id),
  center_id        uuid REFERENCES service_centers (id),
  handling_unit_id uuid NOT NULL REFERENCES org_units (id),
  -- Path of the handling unit: jurisdiction is a prefix match.
  handling_path    text NOT NULL,
  status           text NOT NULL CHECK (status IN ('SUBMITTED', 'SUPPLEMENT_REQUESTED', 'REJECTED', 'ACCEPTED',
                     'IN_REVIEW', 'APPROVED', 'DENIED', 'COMPLETED', 'WITHDRAWN')),
  -- [{"name": "...", "reference": "..."}, ...]
  materials        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(materials) = 'array'),
  submitted_at     timestamptz NOT NULL,
  submitted_by     uuid NOT NULL,
  accepted_at      timestamptz,
  deadline         date,
  extended         boolean NOT NULL DEFAULT false,
  -- Set when the case is concluded (COMPLETED or DENIED); completed_on is its date in Asia/Shanghai.
  completed_at     timestamptz,
  completed_on     date,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CHECK ((accepted_at IS NULL) = (deadline IS NULL)),
  CHECK ((completed_at IS NULL) = (completed_on IS NULL))
);
CREATE INDEX applications_handling_idx ON applications (handling_path text_pattern_ops, id DESC);
CREATE INDEX applications_applicant_idx ON applications (applicant_id, id DESC);
CREATE INDEX applications_status_idx ON applications (status, id DESC);
CREATE INDEX applications_open_deadline_idx ON applications (deadline)
  WHERE status IN ('ACCEPTED', 'IN_REVIEW', 'APPROVED');
CREATE INDEX applications_completed_idx ON applications (completed_on) WHERE completed_on IS NOT NULL;

-- Append-only history: one row per transition.
CREATE TABLE application_events (
  id             uuid PRIMARY KEY,
  application_id uuid NOT NULL REFERENCES applications (id),
  action         text NOT NULL,
  from_status    text NOT NULL,
  to_status      text NOT NULL,
  actor_kind     text NOT NULL,
  actor_id       uuid NOT NULL,
  actor_name     text NOT NULL,
  note           text,
  at             timestamptz NOT NULL
);
CREATE INDEX application_events_application_idx ON application_events (application_id, id);

-- +goose Down
DROP TABLE application_events;
DROP TABLE applications;
DROP TABLE application_counters;
DROP TABLE service_items;
DROP TABLE calendar_days;
