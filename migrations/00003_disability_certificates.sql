-- Disability certificates (残疾人证). Defined here, ahead of the disability
-- domain's own tables, because voucher issuance reads them set-based.
-- The certificate number embeds the holder's ID number, so it is stored like
-- one: encrypted, blind-indexed and masked.

-- +goose Up
CREATE TABLE disability_certificates (
  id            uuid PRIMARY KEY,
  resident_id   uuid NOT NULL REFERENCES residents (id),
  number_enc    text NOT NULL,
  number_bidx   bytea NOT NULL,
  number_masked text NOT NULL,
  category      text NOT NULL CHECK (category IN ('VISUAL', 'HEARING', 'SPEECH', 'PHYSICAL', 'INTELLECTUAL', 'MENTAL', 'MULTIPLE')),
  grade         smallint NOT NULL CHECK (grade BETWEEN 1 AND 4),
  issued_on     date NOT NULL,
  valid_until   date NOT NULL CHECK (valid_until >= issued_on),
  -- set when a newer certificate replaces this one; history is kept.
  superseded_at timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now()
);
-- At most one current certificate per resident.
CREATE UNIQUE INDEX disability_certificates_current_key ON disability_certificates (resident_id) WHERE superseded_at IS NULL;
CREATE INDEX disability_certificates_grade_idx ON disability_certificates (grade, valid_until) WHERE superseded_at IS NULL;

-- +goose Down
DROP TABLE disability_certificates;
