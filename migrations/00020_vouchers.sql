-- Eldercare service vouchers (养老服务券): providers, programs with rules,
-- enrollments, vouchers, the append-only ledger, redemptions with their
-- per-voucher draws, idempotency keys and confirmed settlements.
-- Money is bigint fen; balances can never go below zero.

-- +goose Up
CREATE TABLE providers (
  id          uuid PRIMARY KEY,
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
  credit_code text NOT NULL CONSTRAINT providers_credit_code_key UNIQUE CHECK (length(credit_code) = 18),
  categories  text[] NOT NULL CHECK (cardinality(categories) > 0),
  status      text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'SUSPENDED')),
  created_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE users
  ADD CONSTRAINT users_provider_fk FOREIGN KEY (provider_id) REFERENCES providers (id);
CREATE INDEX users_provider_idx ON users (provider_id) WHERE provider_id IS NOT NULL;

CREATE TABLE voucher_programs (
  id                    uuid PRIMARY KEY,
  code                  text NOT NULL CONSTRAINT voucher_programs_code_key UNIQUE CHECK (length(code) BETWEEN 1 AND 64),
  name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
  categories            text[] NOT NULL CHECK (cardinality(categories) > 0),
  status                text NOT NULL DEFAULT 'DRAFT' CHECK (status IN ('DRAFT', 'ACTIVE', 'CLOSED')),
  budget_per_period_fen bigint CHECK (budget_per_period_fen > 0),
  carry_over_periods    integer NOT NULL DEFAULT 0 CHECK (carry_over_periods BETWEEN 0 AND 120),
  created_at            timestamptz NOT NULL DEFAULT now()
);

-- Rules as data: a NULL condition matches everyone; the highest matching
-- amount wins (computed set-based at issuance).
CREATE TABLE voucher_program_rules (
  program_id        uuid NOT NULL REFERENCES voucher_programs (id),
  position          integer NOT NULL,
  min_age           integer CHECK (min_age BETWEEN 0 AND 150),
  care_levels       text[],
  statuses          text[],
  disability_grades smallint[],
  amount_fen        bigint NOT NULL CHECK (amount_fen > 0),
  PRIMARY KEY (program_id, position)
);

CREATE TABLE voucher_enrollments (
  program_id  uuid NOT NULL REFERENCES voucher_programs (id),
  resident_id uuid NOT NULL REFERENCES residents (id),
  enrolled_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (program_id, resident_id)
);
CREATE INDEX voucher_enrollments_resident_idx ON voucher_enrollments (resident_id);

CREATE TABLE vouchers (
  id             uuid PRIMARY KEY,
  program_id     uuid NOT NULL REFERENCES voucher_programs (id),
  resident_id    uuid NOT NULL REFERENCES residents (id),
  period         text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  face_value_fen bigint NOT NULL CHECK (face_value_fen > 0),
  balance_fen    bigint NOT NULL CONSTRAINT vouchers_balance_check CHECK (balance_fen >= 0 AND balance_fen <= face_value_fen),
  status         text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'EXHAUSTED', 'EXPIRED', 'VOIDED')),
  valid_from     date NOT NULL,
  valid_until    date NOT NULL CHECK (valid_until >= valid_from),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT vouchers_program_resident_period_key UNIQUE (program_id, resident_id, period)
);
CREATE INDEX vouchers_resident_idx ON vouchers (resident_id, program_id, valid_until);
CREATE INDEX vouchers_expiry_idx ON vouchers (valid_until, id) WHERE status = 'ACTIVE';

CREATE TABLE redemptions (
  id              uuid PRIMARY KEY,
  provider_id     uuid NOT NULL REFERENCES providers (id),
  resident_id     uuid NOT NULL REFERENCES residents (id),
  program_id      uuid NOT NULL REFERENCES voucher_programs (id),
  category        text NOT NULL,
  amount_fen      bigint NOT NULL CHECK (amount_fen > 0),
  service_date    date NOT NULL,
  status          text NOT NULL DEFAULT 'COMPLETED' CHECK (status IN ('COMPLETED', 'REVERSED')),
  note            text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  reversed_at     timestamptz,
  reverse_reason  text,
  CHECK ((status = 'REVERSED') = (reversed_at IS NOT NULL))
);
CREATE INDEX redemptions_provider_date_idx ON redemptions (provider_id, service_date);
CREATE INDEX redemptions_resident_idx ON redemptions (resident_id, id DESC);

-- What each redemption took from each voucher, so a reversal restores exactly.
CREATE TABLE redemption_draws (
  redemption_id uuid NOT NULL REFERENCES redemptions (id),
  voucher_id    uuid NOT NULL REFERENCES vouchers (id),
  amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
  PRIMARY KEY (redemption_id, voucher_id)
);

-- Idempotency keys per provider. The row is inserted first inside the
-- redeeming transaction: a concurrent send of the same key blocks on the
-- unique index and then reads the winner's result.
CREATE TABLE redemption_keys (
  provider_id     uuid NOT NULL REFERENCES providers (id),
  idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 128),
  request_hash    bytea NOT NULL,
  redemption_id   uuid REFERENCES redemptions (id),
  remaining_fen   bigint,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider_id, idempotency_key)
);

CREATE TABLE voucher_ledger (
  id                uuid PRIMARY KEY,
  voucher_id        uuid NOT NULL REFERENCES vouchers (id),
  kind              text NOT NULL CHECK (kind IN ('ISSUE', 'REDEEM', 'REVERSE', 'EXPIRE', 'VOID')),
  amount_fen        bigint NOT NULL CHECK (amount_fen <> 0),
  balance_after_fen bigint NOT NULL CHECK (balance_after_fen >= 0),
  redemption_id     uuid REFERENCES redemptions (id),
  at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX voucher_ledger_voucher_idx ON voucher_ledger (voucher_id, id);

-- +goose StatementBegin
CREATE FUNCTION voucher_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'voucher_ledger is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER voucher_ledger_append_only BEFORE UPDATE OR DELETE ON voucher_ledger
  FOR EACH ROW EXECUTE FUNCTION voucher_ledger_append_only();
CREATE TRIGGER voucher_ledger_no_truncate BEFORE TRUNCATE ON voucher_ledger
  FOR EACH STATEMENT EXECUTE FUNCTION voucher_ledger_append_only();

-- A confirmed month of a provider: frozen for redemptions and reversals.
CREATE TABLE settlements (
  provider_id      uuid NOT NULL REFERENCES providers (id),
  month            text NOT NULL CHECK (month ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  redemption_count integer NOT NULL,
  total_fen        bigint NOT NULL CHECK (total_fen >= 0),
  confirmed_at     timestamptz NOT NULL,
  confirmed_by     uuid NOT NULL,
  PRIMARY KEY (provider_id, month)
);

-- +goose Down
DROP TABLE settlements;
DROP TABLE voucher_ledger;
DROP FUNCTION voucher_ledger_append_only;
DROP TABLE redemption_keys;
DROP TABLE redemption_draws;
DROP TABLE redemptions;
DROP TABLE vouchers;
DROP TABLE voucher_enrollments;
DROP TABLE voucher_program_rules;
DROP TABLE voucher_programs;
DROP INDEX users_provider_idx;
ALTER TABLE users DROP CONSTRAINT users_provider_fk;
DROP TABLE providers;
