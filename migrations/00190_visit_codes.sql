-- Home-care visits confirmed by a one-time code sent by SMS to the
-- resident's own phone (internal/homecare, code.go): one row per order, the
-- code stored as an argon2id hash, valid until expires_at, a bounded number
-- of wrong tries, used once. sends and last_sent_at throttle requests (one
-- a minute, a few per order). The SMS itself is a notification of kind
-- VISIT_CODE in the outbox, written in the same transaction.

-- +goose Up
CREATE TABLE visit_codes (
  order_id     uuid PRIMARY KEY REFERENCES service_orders (id),
  code_hash    text NOT NULL,
  expires_at   timestamptz NOT NULL,
  attempts     integer NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND 5),
  sends        integer NOT NULL DEFAULT 1 CHECK (sends BETWEEN 1 AND 5),
  last_sent_at timestamptz NOT NULL,
  requested_by uuid NOT NULL REFERENCES users (id),
  used_at      timestamptz
);

ALTER TABLE service_orders DROP CONSTRAINT service_orders_confirmed_via_check;
ALTER TABLE service_orders ADD CONSTRAINT service_orders_confirmed_via_check
  CHECK (confirmed_via IN ('CARD', 'RESIDENT', 'SMS_CODE'));

ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN (
  'WECHAT_BINDING_ADDED',
  'APPLICATION_ACCEPTED', 'APPLICATION_SUPPLEMENT_REQUESTED', 'APPLICATION_DECIDED', 'APPLICATION_COMPLETED',
  'VOUCHERS_ISSUED', 'VOUCHERS_EXPIRING', 'REDEMPTION_RECEIPT',
  'ALARM_RECEIVED', 'ALARM_DISPATCHED', 'ALARM_CLOSED',
  'VISIT_CODE'));

-- +goose Down
DELETE FROM notifications WHERE kind = 'VISIT_CODE';
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN (
  'WECHAT_BINDING_ADDED',
  'APPLICATION_ACCEPTED', 'APPLICATION_SUPPLEMENT_REQUESTED', 'APPLICATION_DECIDED', 'APPLICATION_COMPLETED',
  'VOUCHERS_ISSUED', 'VOUCHERS_EXPIRING', 'REDEMPTION_RECEIPT',
  'ALARM_RECEIVED', 'ALARM_DISPATCHED', 'ALARM_CLOSED'));
UPDATE service_orders SET confirmed_via = 'CARD' WHERE confirmed_via = 'SMS_CODE';
ALTER TABLE service_orders DROP CONSTRAINT service_orders_confirmed_via_check;
ALTER TABLE service_orders ADD CONSTRAINT service_orders_confirmed_via_check CHECK (confirmed_via IN ('CARD', 'RESIDENT'));
DROP TABLE visit_codes;
