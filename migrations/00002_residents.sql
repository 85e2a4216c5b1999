-- The resident registry. ID and phone numbers are stored only encrypted
-- (AES-256-GCM, "v1:<key id>:<data>") beside an HMAC blind index for exact
-- look-ups and a precomputed mask, so list reads never decrypt.

-- +goose Up
CREATE TABLE residents (
  id               uuid PRIMARY KEY,
  name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  id_number_enc    text NOT NULL,
  id_number_bidx   bytea NOT NULL,
  id_number_masked text NOT NULL,
  phone_enc        text,
  phone_bidx       bytea,
  phone_masked     text,
  gender           text NOT NULL CHECK (gender IN ('MALE', 'FEMALE')),
  birth_date       date NOT NULL,
  address          text,
  community_id     uuid NOT NULL REFERENCES org_units (id),
  grid_id          uuid REFERENCES org_units (id),
  -- org path of the grid (or community): jurisdiction is a prefix match.
  org_path         text NOT NULL,
  statuses         text[] NOT NULL DEFAULT '{}',
  care_level       text NOT NULL DEFAULT 'INTACT'
                   CHECK (care_level IN ('INTACT', 'MILD', 'MODERATE', 'SEVERE', 'TOTAL')),
  deceased_on      date,
  version          integer NOT NULL DEFAULT 1,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX residents_id_number_bidx_key ON residents (id_number_bidx);
CREATE INDEX residents_phone_bidx_idx ON residents (phone_bidx);
CREATE INDEX residents_org_path_idx ON residents (org_path text_pattern_ops, id);
CREATE INDEX residents_birth_date_idx ON residents (birth_date);
CREATE INDEX residents_statuses_idx ON residents USING gin (statuses);

CREATE TABLE emergency_contacts (
  id           uuid PRIMARY KEY,
  resident_id  uuid NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
  name         text NOT NULL,
  relation     text NOT NULL,
  phone_enc    text NOT NULL,
  phone_masked text NOT NULL,
  priority     integer NOT NULL DEFAULT 1
);
CREATE INDEX emergency_contacts_resident_idx ON emergency_contacts (resident_id, priority);

ALTER TABLE wechat_accounts
  ADD CONSTRAINT wechat_accounts_resident_fk FOREIGN KEY (resident_id) REFERENCES residents (id);

-- +goose Down
ALTER TABLE wechat_accounts DROP CONSTRAINT wechat_accounts_resident_fk;
DROP TABLE emergency_contacts;
DROP TABLE residents;
