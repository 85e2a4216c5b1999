-- Foundation: the org tree, service centers, identities, sessions and the audit log.

-- +goose Up

-- UUIDv7 for rows created set-based in SQL (issuance, batch seeding); Go code
-- uses github.com/google/uuid's NewV7. Time-ordered keys keep indexes compact
-- and make "newest first" a primary-key scan.
-- +goose StatementBegin
CREATE FUNCTION uuid_v7() RETURNS uuid LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  ms bigint := floor(extract(epoch FROM clock_timestamp()) * 1000);
  b bytea := uuid_send(gen_random_uuid());
BEGIN
  b := set_byte(b, 0, ((ms >> 40) & 255)::int);
  b := set_byte(b, 1, ((ms >> 32) & 255)::int);
  b := set_byte(b, 2, ((ms >> 24) & 255)::int);
  b := set_byte(b, 3, ((ms >> 16) & 255)::int);
  b := set_byte(b, 4, ((ms >> 8) & 255)::int);
  b := set_byte(b, 5, (ms & 255)::int);
  b := set_byte(b, 6, (get_byte(b, 6) & 15) | 112);
  b := set_byte(b, 8, (get_byte(b, 8) & 63) | 128);
  RETURN encode(b, 'hex')::uuid;
END $$;
-- +goose StatementEnd

-- The district's administrative tree. path is the materialized path of codes
-- ("/510104/510104001/"), so a subtree is one index range scan:
-- path LIKE '/510104/510104001/%'.
CREATE TABLE org_units (
  id         uuid PRIMARY KEY,
  kind       text NOT NULL CHECK (kind IN ('DISTRICT', 'STREET', 'COMMUNITY', 'GRID')),
  code       text NOT NULL UNIQUE CHECK (code ~ '^[0-9A-Za-z]{1,32}$'),
  name       text NOT NULL,
  parent_id  uuid REFERENCES org_units (id),
  path       text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX org_units_parent_idx ON org_units (parent_id);
CREATE INDEX org_units_path_idx ON org_units (path text_pattern_ops);

CREATE TABLE service_centers (
  id          uuid PRIMARY KEY,
  name        text NOT NULL UNIQUE,
  org_unit_id uuid NOT NULL REFERENCES org_units (id)
);

-- Staff, provider users and machine clients: everyone who signs in with a password.
CREATE TABLE users (
  id            uuid PRIMARY KEY,
  username      text NOT NULL,
  password_hash text NOT NULL,
  display_name  text NOT NULL,
  roles         text[] NOT NULL CHECK (cardinality(roles) > 0),
  org_unit_id   uuid REFERENCES org_units (id),
  provider_id   uuid,
  active        boolean NOT NULL DEFAULT true,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

-- Residents and family members signed in from the WeChat mini-program.
CREATE TABLE wechat_accounts (
  id          uuid PRIMARY KEY,
  openid      text NOT NULL UNIQUE,
  unionid     text,
  resident_id uuid,
  bound_at    timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Opaque refresh tokens, stored as SHA-256 hashes. A family is one sign-in;
-- every refresh uses a token up and issues its successor in the same family.
CREATE TABLE refresh_tokens (
  id           uuid PRIMARY KEY,
  family_id    uuid NOT NULL,
  subject_kind text NOT NULL CHECK (subject_kind IN ('USER', 'WECHAT')),
  subject_id   uuid NOT NULL,
  session_id   uuid NOT NULL,
  token_hash   bytea NOT NULL UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  used_at      timestamptz,
  revoked_at   timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_subject_idx ON refresh_tokens (subject_id);

-- The audit log is append-only: the trigger refuses every UPDATE and DELETE.
CREATE TABLE audit_log (
  id         uuid PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  actor_id   uuid NOT NULL,
  actor_kind text NOT NULL,
  action     text NOT NULL,
  entity     text NOT NULL,
  entity_id  uuid,
  request_id text NOT NULL DEFAULT '',
  detail     jsonb
);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);

-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END $$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- +goose Down
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only;
DROP TABLE refresh_tokens;
DROP TABLE wechat_accounts;
DROP TABLE users;
DROP TABLE service_centers;
DROP TABLE org_units;
DROP FUNCTION uuid_v7;
