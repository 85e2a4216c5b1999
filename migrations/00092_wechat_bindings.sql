-- WeChat bindings (security issue #17, item 14): at most
-- WECHAT_MAX_BINDINGS_PER_RESIDENT accounts are bound to one resident
-- (bindResident locks the resident's row to count them), counters list and
-- unbind them, and the accounts already bound are told when another is
-- added.
--
-- There is no notification sender yet (the notifications issue builds the
-- transactional outbox, its delivery by WeChat subscribe message and SMS,
-- retries and a dead letter). This table is only the durable record of what
-- is to be told, written in the same transaction as the change that causes
-- it, so nothing is lost until the sender exists: one row per recipient.
-- The payload holds ids and times, never personal data.

-- +goose Up
CREATE INDEX wechat_accounts_resident_idx ON wechat_accounts (resident_id) WHERE resident_id IS NOT NULL;

CREATE TABLE notifications (
  id             uuid PRIMARY KEY,
  kind           text NOT NULL CHECK (kind IN ('WECHAT_BINDING_ADDED')),
  recipient_kind text NOT NULL CHECK (recipient_kind IN ('WECHAT')),
  recipient_id   uuid NOT NULL,
  payload        jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
  created_at     timestamptz NOT NULL,
  sent_at        timestamptz
);

-- +goose Down
DROP TABLE notifications;
DROP INDEX wechat_accounts_resident_idx;
