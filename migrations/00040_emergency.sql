-- 长者通 emergency calls: devices bound to residents, calls received from
-- the telephony system, and an append-only event trail per call.

-- +goose Up
CREATE TABLE emergency_devices (
  id                uuid PRIMARY KEY,
  serial            text NOT NULL CHECK (length(serial) BETWEEN 1 AND 64),
  kind              text NOT NULL CHECK (kind IN ('BUTTON_BOX', 'WEARABLE', 'FIXED_PHONE', 'SENSOR')),
  resident_id       uuid NOT NULL REFERENCES residents (id),
  last_heartbeat_at timestamptz,
  battery_percent   integer CHECK (battery_percent BETWEEN 0 AND 100),
  created_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT emergency_devices_serial_key UNIQUE (serial)
);
CREATE INDEX emergency_devices_resident_idx ON emergency_devices (resident_id);
CREATE INDEX emergency_devices_heartbeat_idx ON emergency_devices (last_heartbeat_at NULLS FIRST);

CREATE TABLE emergency_calls (
  id                   uuid PRIMARY KEY,
  external_call_id     text NOT NULL CHECK (length(external_call_id) BETWEEN 1 AND 128),
  resident_id          uuid REFERENCES residents (id),
  device_id            uuid REFERENCES emergency_devices (id),
  -- the resident's org path when the call came in ('' when unknown):
  -- jurisdiction and statistics are a prefix match on it.
  org_path             text NOT NULL DEFAULT '',
  caller_number_enc    text,
  caller_number_masked text,
  kind                 text NOT NULL CHECK (kind IN ('ALARM_BUTTON', 'FALL_DETECTED', 'VOICE_CALL', 'DEVICE_FAULT')),
  category             text CHECK (category IN ('MEDICAL', 'FALL', 'FIRE', 'SECURITY', 'EMOTIONAL_SUPPORT',
                                                'INFORMATION', 'FALSE_ALARM', 'OTHER')),
  status               text NOT NULL DEFAULT 'RECEIVED'
                       CHECK (status IN ('RECEIVED', 'ANSWERED', 'DISPATCHED', 'CLOSED')),
  received_at          timestamptz NOT NULL,
  answered_at          timestamptz,
  answered_by          uuid,
  dispatched_at        timestamptz,
  closed_at            timestamptz,
  outcome              text,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT emergency_calls_external_call_id_key UNIQUE (external_call_id),
  CONSTRAINT emergency_calls_answered_check CHECK ((status = 'RECEIVED') = (answered_at IS NULL)),
  CONSTRAINT emergency_calls_closed_check CHECK ((status = 'CLOSED') = (closed_at IS NOT NULL AND category IS NOT NULL))
);
CREATE INDEX emergency_calls_org_path_idx ON emergency_calls (org_path text_pattern_ops, id);
CREATE INDEX emergency_calls_received_idx ON emergency_calls (received_at);
CREATE INDEX emergency_calls_resident_idx ON emergency_calls (resident_id, id);
CREATE INDEX emergency_calls_open_device_idx ON emergency_calls (device_id, received_at) WHERE status <> 'CLOSED';
CREATE INDEX emergency_calls_status_idx ON emergency_calls (status, id);

CREATE TABLE emergency_call_events (
  id               uuid PRIMARY KEY,
  call_id          uuid NOT NULL REFERENCES emergency_calls (id),
  at               timestamptz NOT NULL,
  kind             text NOT NULL,
  actor_id         uuid,
  actor_name       text,
  detail           text,
  -- set for REPEAT_ALARM events: the telephony id of the attached alarm,
  -- so a retried repeat alarm is recognised.
  external_call_id text
);
CREATE INDEX emergency_call_events_call_idx ON emergency_call_events (call_id, at, id);
CREATE UNIQUE INDEX emergency_call_events_external_key ON emergency_call_events (external_call_id)
  WHERE external_call_id IS NOT NULL;

-- +goose Down
DROP TABLE emergency_call_events;
DROP TABLE emergency_calls;
DROP TABLE emergency_devices;
