-- Applications by the letter of the 行政许可法 (issue #22) and as the
-- counter's queue needs them (issue #24):
--
-- * §32: received_at is when the complete materials were received (the
--   submission, or the resubmission after 补正); five working days later an
--   application not answered is accepted by law (accepted_by_law, an event
--   with action DEEMED_ACCEPT). The 补正 notice is one structured list
--   (supplement_notice: [{"material", "reason"}]) given once.
-- * §42 extension with a reason shown to the applicant (extension_reason);
--   §45 clock pauses (application_clock_pauses) that do not count.
-- * A promised limit (承诺时限) beside the statutory one, and both deadlines.
-- * Deadlines past the last loaded calendar year are provisional
--   (calendar_years lists the loaded years).
-- * Withdrawal after approval undoes the enrollment the approval created
--   (enrolled_program_id).
-- * A department (a unit of a district bureau, such as the public-security
--   branch that issues 居住证) is an org unit of kind DEPARTMENT.
-- * An idempotency key per submitter; events visible to the applicant or
--   internal.

-- +goose Up
ALTER TABLE service_items
  ADD COLUMN promised_limit_working_days integer
    CHECK (promised_limit_working_days BETWEEN 1 AND 365),
  ADD CONSTRAINT service_items_promised_within_statutory
    CHECK (promised_limit_working_days IS NULL OR promised_limit_working_days <= time_limit_working_days);

ALTER TABLE applications
  ADD COLUMN received_at          timestamptz,
  ADD COLUMN accepted_by_law      boolean NOT NULL DEFAULT false,
  ADD COLUMN supplement_notice    jsonb CHECK (jsonb_typeof(supplement_notice) = 'array'),
  ADD COLUMN promised_deadline    date,
  ADD COLUMN deadline_provisional boolean NOT NULL DEFAULT false,
  -- The first day of the §45 pause under way (NULL: the clock runs).
  ADD COLUMN paused_since         date,
  ADD COLUMN extension_reason     text CHECK (length(extension_reason) BETWEEN 1 AND 1000),
  ADD COLUMN enrolled_program_id  uuid,
  ADD COLUMN idempotency_key      text CHECK (length(idempotency_key) BETWEEN 1 AND 128),
  ADD COLUMN request_hash         bytea,
  ADD CONSTRAINT applications_key_has_hash CHECK ((idempotency_key IS NULL) = (request_hash IS NULL));
UPDATE applications SET received_at = submitted_at;
ALTER TABLE applications ALTER COLUMN received_at SET NOT NULL;
-- A key names one application of the one who submitted it.
CREATE UNIQUE INDEX applications_idempotency_idx ON applications (submitted_by, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
-- The §32 job looks for SUBMITTED applications by receipt.
CREATE INDEX applications_awaiting_acceptance_idx ON applications (received_at, id) WHERE status = 'SUBMITTED';

ALTER TABLE org_units DROP CONSTRAINT org_units_kind_check;
ALTER TABLE org_units ADD CONSTRAINT org_units_kind_check
  CHECK (kind IN ('DISTRICT', 'STREET', 'COMMUNITY', 'GRID', 'DEPARTMENT'));

ALTER TABLE application_events
  ADD COLUMN visibility text NOT NULL DEFAULT 'APPLICANT' CHECK (visibility IN ('APPLICANT', 'INTERNAL'));

-- §45: time an expert assessment, inspection, hearing … takes is not
-- counted in the limit. ended_on is NULL while the pause lasts; one open
-- pause per application.
CREATE TABLE application_clock_pauses (
  id             uuid PRIMARY KEY,
  application_id uuid NOT NULL REFERENCES applications (id),
  kind           text NOT NULL CHECK (kind IN ('EXPERT_ASSESSMENT', 'INSPECTION', 'HEARING', 'TESTING', 'QUARANTINE')),
  reason         text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
  started_on     date NOT NULL,
  ended_on       date CHECK (ended_on >= started_on),
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX application_clock_pauses_application_idx ON application_clock_pauses (application_id, started_on);
CREATE UNIQUE INDEX application_clock_pauses_one_open ON application_clock_pauses (application_id) WHERE ended_on IS NULL;

-- The years whose holidays and 调休 days are loaded; deadlines that reach
-- past them are computed on weekends alone and flagged provisional.
CREATE TABLE calendar_years (
  year        integer PRIMARY KEY CHECK (year BETWEEN 1900 AND 2200),
  imported_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO calendar_years (year) VALUES (2026);

-- Recomputing deadlines after a calendar import is a durable run.
ALTER TABLE runs DROP CONSTRAINT runs_kind_check;
ALTER TABLE runs ADD CONSTRAINT runs_kind_check
  CHECK (kind IN ('ISSUE_VOUCHERS', 'ENROLL_RESIDENTS', 'RECOMPUTE_DEADLINES'));

-- +goose Down
ALTER TABLE runs DROP CONSTRAINT runs_kind_check;
ALTER TABLE runs ADD CONSTRAINT runs_kind_check CHECK (kind IN ('ISSUE_VOUCHERS', 'ENROLL_RESIDENTS'));
DROP TABLE calendar_years;
ALTER TABLE org_units DROP CONSTRAINT org_units_kind_check;
ALTER TABLE org_units ADD CONSTRAINT org_units_kind_check CHECK (kind IN ('DISTRICT', 'STREET', 'COMMUNITY', 'GRID'));
DROP TABLE application_clock_pauses;
ALTER TABLE application_events DROP COLUMN visibility;
DROP INDEX applications_awaiting_acceptance_idx;
DROP INDEX applications_idempotency_idx;
ALTER TABLE applications
  DROP CONSTRAINT applications_key_has_hash,
  DROP COLUMN request_hash,
  DROP COLUMN idempotency_key,
  DROP COLUMN enrolled_program_id,
  DROP COLUMN extension_reason,
  DROP COLUMN paused_since,
  DROP COLUMN deadline_provisional,
  DROP COLUMN promised_deadline,
  DROP COLUMN supplement_notice,
  DROP COLUMN accepted_by_law,
  DROP COLUMN received_at;
ALTER TABLE service_items
  DROP CONSTRAINT service_items_promised_within_statutory,
  DROP COLUMN promised_limit_working_days;
