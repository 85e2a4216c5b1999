-- 长者通 alarm center, second round (issue #21): call-back without showing
-- numbers, contact attempts, care profiles, dispatches with arrival times,
-- technical alarms for silent or flat devices, the telephony system's own
-- answer time, and welfare calls to elders living alone or with an empty
-- nest.

-- +goose Up

-- Outbound calls an operator asks the telephony system to place: an outbox
-- written in the transaction of the request and delivered to the telephony
-- webhook by a background sender (retried with back-off). The number is
-- encrypted (PII keyring, purpose emergency_outbound.number) and never
-- leaves the server except to the webhook.
CREATE TABLE emergency_outbound_calls (
  id              uuid PRIMARY KEY,
  call_id         uuid NOT NULL REFERENCES emergency_calls (id),
  target          text NOT NULL CHECK (target IN ('RESIDENT', 'CONTACT')),
  contact_name    text,
  number_enc      text NOT NULL,
  number_masked   text NOT NULL,
  requested_by    uuid NOT NULL,
  requested_at    timestamptz NOT NULL,
  status          text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
  attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz NOT NULL,
  delivered_at    timestamptz,
  last_error      text,
  CONSTRAINT emergency_outbound_calls_delivered_check CHECK ((status = 'DELIVERED') = (delivered_at IS NOT NULL))
);
CREATE INDEX emergency_outbound_calls_call_idx ON emergency_outbound_calls (call_id, requested_at);
CREATE INDEX emergency_outbound_calls_pending_idx ON emergency_outbound_calls (next_attempt_at, id) WHERE status = 'PENDING';

-- Contact attempts are events of the call (kind CONTACT_ATTEMPT) with whom
-- and the outcome in their own columns.
ALTER TABLE emergency_call_events
  ADD COLUMN contact_whom    text,
  ADD COLUMN contact_outcome text CHECK (contact_outcome IN ('ANSWERED', 'NO_ANSWER', 'BUSY', 'WRONG_NUMBER'));

-- Care profiles: one per resident, the whole profile one ciphertext (PII
-- keyring, purpose care_profile.data).
CREATE TABLE care_profiles (
  resident_id uuid PRIMARY KEY REFERENCES residents (id),
  data_enc    text NOT NULL,
  version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  updated_at  timestamptz NOT NULL,
  updated_by  uuid NOT NULL
);

-- Dispatches: who was sent, when they are expected and when they arrived.
CREATE TABLE emergency_dispatches (
  id                  uuid PRIMARY KEY,
  call_id             uuid NOT NULL REFERENCES emergency_calls (id),
  responder_kind      text NOT NULL CHECK (responder_kind IN ('FAMILY', 'COMMUNITY_WORKER', 'CARE_PROVIDER',
                                                              'AMBULANCE_120', 'POLICE_110', 'FIRE_119')),
  responder_name      text CHECK (length(responder_name) BETWEEN 1 AND 64),
  note                text,
  dispatched_at       timestamptz NOT NULL,
  dispatched_by       uuid NOT NULL,
  expected_arrival_at timestamptz,
  arrived_at          timestamptz,
  CONSTRAINT emergency_dispatches_expected_check CHECK (expected_arrival_at >= dispatched_at),
  CONSTRAINT emergency_dispatches_arrived_check CHECK (arrived_at >= dispatched_at)
);
CREATE INDEX emergency_dispatches_call_idx ON emergency_dispatches (call_id, dispatched_at, id);

-- The telephony system's own answer time, preferred by the statistics.
ALTER TABLE emergency_calls ADD COLUMN telephony_answered_at timestamptz;
ALTER TABLE emergency_calls ADD CONSTRAINT emergency_calls_telephony_answered_check
  CHECK (telephony_answered_at >= received_at);
-- A technical alarm whose device is heard from again before anyone picked
-- it up is closed by the system without an answer.
ALTER TABLE emergency_calls DROP CONSTRAINT emergency_calls_answered_check;
ALTER TABLE emergency_calls ADD CONSTRAINT emergency_calls_answered_check
  CHECK ((status = 'RECEIVED') = (answered_at IS NULL)
         OR (kind = 'DEVICE_FAULT' AND status = 'CLOSED' AND answered_at IS NULL));
-- Statistics by window read calls by receive time and kind.
CREATE INDEX emergency_calls_received_kind_idx ON emergency_calls (received_at, kind);

-- Technical alarms. silent_after is when a device is overdue: its last
-- heartbeat (or its registration) plus its interval, kept by a trigger so
-- the job finds silent devices by an index range scan.
ALTER TABLE emergency_devices
  ADD COLUMN heartbeat_interval_seconds integer NOT NULL DEFAULT 3600
    CHECK (heartbeat_interval_seconds BETWEEN 60 AND 604800),
  ADD COLUMN silent_after     timestamptz,
  ADD COLUMN fault_episode_id uuid;

-- +goose StatementBegin
CREATE FUNCTION emergency_devices_silent_after() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.silent_after := COALESCE(NEW.last_heartbeat_at, NEW.created_at) + make_interval(secs => NEW.heartbeat_interval_seconds);
  RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER emergency_devices_silent_after BEFORE INSERT OR UPDATE OF last_heartbeat_at, heartbeat_interval_seconds, created_at
  ON emergency_devices FOR EACH ROW EXECUTE FUNCTION emergency_devices_silent_after();
UPDATE emergency_devices SET heartbeat_interval_seconds = heartbeat_interval_seconds;
ALTER TABLE emergency_devices ALTER COLUMN silent_after SET NOT NULL;

CREATE TABLE emergency_device_faults (
  id         uuid PRIMARY KEY,
  device_id  uuid NOT NULL REFERENCES emergency_devices (id),
  call_id    uuid NOT NULL REFERENCES emergency_calls (id),
  reason     text NOT NULL CHECK (reason IN ('SILENT', 'LOW_BATTERY')),
  opened_at  timestamptz NOT NULL,
  closed_at  timestamptz,
  CONSTRAINT emergency_device_faults_closed_check CHECK (closed_at >= opened_at)
);
-- one open episode per device
CREATE UNIQUE INDEX emergency_device_faults_open_key ON emergency_device_faults (device_id) WHERE closed_at IS NULL;
ALTER TABLE emergency_devices ADD CONSTRAINT emergency_devices_fault_episode_fkey
  FOREIGN KEY (fault_episode_id) REFERENCES emergency_device_faults (id);
-- The job's two scans: devices overdue, and devices with a low battery,
-- each among devices without an open episode.
CREATE INDEX emergency_devices_silent_idx ON emergency_devices (silent_after, id) WHERE fault_episode_id IS NULL;
CREATE INDEX emergency_devices_low_battery_idx ON emergency_devices (id) WHERE battery_percent < 20 AND fault_episode_id IS NULL;

-- Welfare calls. A plan exists once someone adjusted it or a check was
-- recorded; without one an elder is due weekly from now.
CREATE TABLE welfare_check_plans (
  resident_id   uuid PRIMARY KEY REFERENCES residents (id),
  interval_days integer NOT NULL DEFAULT 7 CHECK (interval_days BETWEEN 1 AND 90),
  next_due_on   date NOT NULL,
  missed_in_row integer NOT NULL DEFAULT 0 CHECK (missed_in_row >= 0),
  updated_at    timestamptz NOT NULL
);
CREATE INDEX welfare_check_plans_due_idx ON welfare_check_plans (next_due_on, resident_id);

CREATE TABLE welfare_checks (
  id          uuid PRIMARY KEY,
  resident_id uuid NOT NULL REFERENCES residents (id),
  due_on      date NOT NULL,
  checked_at  timestamptz NOT NULL,
  operator_id uuid NOT NULL,
  outcome     text NOT NULL CHECK (outcome IN ('WELL', 'NEEDS_HELP', 'NO_ANSWER', 'UNREACHABLE')),
  note        text CHECK (length(note) <= 1000)
);
CREATE INDEX welfare_checks_resident_idx ON welfare_checks (resident_id, checked_at DESC);

-- Escalations to the grid's case worker after two missed checks in a row:
-- the case worker's work list (open ones under their subtree).
CREATE TABLE welfare_escalations (
  id          uuid PRIMARY KEY,
  resident_id uuid NOT NULL REFERENCES residents (id),
  org_path    text NOT NULL,
  check_id    uuid NOT NULL REFERENCES welfare_checks (id),
  raised_at   timestamptz NOT NULL,
  resolved_at timestamptz,
  resolved_by uuid,
  resolution  text CHECK (length(resolution) <= 1000),
  CONSTRAINT welfare_escalations_resolved_check CHECK ((resolved_at IS NULL) = (resolved_by IS NULL))
);
CREATE UNIQUE INDEX welfare_escalations_open_key ON welfare_escalations (resident_id) WHERE resolved_at IS NULL;
CREATE INDEX welfare_escalations_open_idx ON welfare_escalations (org_path text_pattern_ops, id) WHERE resolved_at IS NULL;

-- +goose Down
DROP TABLE welfare_escalations;
DROP TABLE welfare_checks;
DROP TABLE welfare_check_plans;
DROP INDEX emergency_devices_low_battery_idx;
DROP INDEX emergency_devices_silent_idx;
ALTER TABLE emergency_devices DROP CONSTRAINT emergency_devices_fault_episode_fkey;
DROP TABLE emergency_device_faults;
DROP TRIGGER emergency_devices_silent_after ON emergency_devices;
DROP FUNCTION emergency_devices_silent_after();
ALTER TABLE emergency_devices DROP COLUMN fault_episode_id, DROP COLUMN silent_after, DROP COLUMN heartbeat_interval_seconds;
DROP TABLE emergency_dispatches;
DROP TABLE emergency_outbound_calls;
DROP TABLE care_profiles;
ALTER TABLE emergency_call_events DROP COLUMN contact_outcome, DROP COLUMN contact_whom;
DROP INDEX emergency_calls_received_kind_idx;
-- technical alarms the system closed unanswered cannot stay under the old rule
DELETE FROM emergency_call_events WHERE call_id IN (SELECT id FROM emergency_calls WHERE status = 'CLOSED' AND answered_at IS NULL);
DELETE FROM emergency_calls WHERE status = 'CLOSED' AND answered_at IS NULL;
ALTER TABLE emergency_calls DROP CONSTRAINT emergency_calls_answered_check;
ALTER TABLE emergency_calls ADD CONSTRAINT emergency_calls_answered_check CHECK ((status = 'RECEIVED') = (answered_at IS NULL));
ALTER TABLE emergency_calls DROP CONSTRAINT emergency_calls_telephony_answered_check;
ALTER TABLE emergency_calls DROP COLUMN telephony_answered_at;
