-- Life events (issue #20, item 3): a death or a move out of the district
-- closes what the resident held, in the transaction that records it.
--
-- residents.moved_out_on/moved_out_to: a resident who left the district
-- stays in the registry (their history refers to them) but is no longer
-- a living resident of it, so resident_facts.living, the one definition
-- every domain uses for eligibility, now also requires moved_out_on IS NULL.
--
-- life_events: one row per death or move recorded, with what it closed
-- (the detail, so an ADMIN undoing a mistaken death within 30 days knows
-- what to give back). Undone rows stay, with who undid them and when.
--
-- voucher_enrollments_ended: enrollments a life event ended, moved out of
-- voucher_enrollments (so issuance, enrollment and the eligibility checks
-- read only current enrollments, unchanged), kept for the history and for
-- an undo to move them back.
--
-- emergency_devices.deactivated_at: a deactivated device no longer finds
-- its resident at call intake; the life event that deactivated it is
-- named so an undo reactivates only those.

-- +goose Up
ALTER TABLE residents
  ADD COLUMN moved_out_on date,
  ADD COLUMN moved_out_to text CHECK (length(moved_out_to) <= 200),
  ADD CONSTRAINT residents_moved_out_check CHECK ((moved_out_on IS NULL) = (moved_out_to IS NULL));

CREATE OR REPLACE VIEW resident_facts AS
SELECT id, community_id, grid_id, org_path, gender, birth_date, care_level, statuses, deceased_on,
       deceased_on IS NULL AND moved_out_on IS NULL AS living, moved_out_on
FROM residents;

CREATE TABLE life_events (
  id          uuid PRIMARY KEY,
  resident_id uuid NOT NULL REFERENCES residents (id),
  kind        text NOT NULL CHECK (kind IN ('DEATH', 'MOVE_OUT')),
  on_date     date NOT NULL,
  -- DEATH: the source of the report (e.g. 医院死亡证明, 火化证明); MOVE_OUT: the destination.
  detail_text text NOT NULL CHECK (length(detail_text) BETWEEN 1 AND 200),
  closed      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(closed) = 'object'),
  recorded_by uuid NOT NULL,
  recorded_at timestamptz NOT NULL,
  undone_by   uuid,
  undone_at   timestamptz,
  undo_reason text CHECK (length(undo_reason) <= 500),
  CHECK ((undone_at IS NULL) = (undone_by IS NULL)),
  CHECK (kind = 'DEATH' OR undone_at IS NULL)
);
CREATE INDEX life_events_resident_idx ON life_events (resident_id, recorded_at DESC);

CREATE TABLE voucher_enrollments_ended (
  program_id    uuid NOT NULL REFERENCES voucher_programs (id),
  resident_id   uuid NOT NULL REFERENCES residents (id),
  enrolled_at   timestamptz NOT NULL,
  ended_at      timestamptz NOT NULL,
  life_event_id uuid NOT NULL REFERENCES life_events (id),
  PRIMARY KEY (life_event_id, program_id)
);
CREATE INDEX voucher_enrollments_ended_resident_idx ON voucher_enrollments_ended (resident_id);

ALTER TABLE emergency_devices
  ADD COLUMN deactivated_at timestamptz,
  ADD COLUMN deactivated_by_event uuid REFERENCES life_events (id);

-- +goose Down
ALTER TABLE emergency_devices DROP COLUMN deactivated_by_event, DROP COLUMN deactivated_at;
DROP TABLE voucher_enrollments_ended;
DROP TABLE life_events;
DROP VIEW resident_facts;
CREATE VIEW resident_facts AS
SELECT id, community_id, grid_id, org_path, gender, birth_date, care_level, statuses, deceased_on,
       deceased_on IS NULL AS living
FROM residents;
ALTER TABLE residents DROP CONSTRAINT residents_moved_out_check, DROP COLUMN moved_out_to, DROP COLUMN moved_out_on;
