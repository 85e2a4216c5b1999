-- Families and notifications (issue #19).
--
-- Proxies: a WeChat account acts for a resident within scopes, on recorded
-- consent (the elder's own bound account, or a clerk with the elder present:
-- who, when, how, evidence). A link is never deleted: revoking it stamps
-- who ended it and why, so the consent record outlives the link. An
-- invitation carries the consent until the proxy's account accepts it.
--
-- Binding codes: a clerk who checked the ID card in person issues a code
-- (stored hashed; single use; 24 hours) that binds the account presenting it.
--
-- Notifications (migration 00092's outbox) gain what a dispatcher needs:
-- status, attempts, when the next attempt is due, the last error, the
-- resident a message is about (for masking and for myNotifications), and
-- the recipient kinds of SMS (the resident's own phone; the first emergency
-- contact, resolved when sent). A dispatcher claims due rows FOR UPDATE
-- SKIP LOCKED and pushes next_attempt_at past its lease in the same
-- statement, so no other dispatcher takes a row it is sending.

-- +goose Up
CREATE TABLE resident_proxies (
  id               uuid PRIMARY KEY,
  resident_id      uuid NOT NULL REFERENCES residents (id),
  account_id       uuid NOT NULL REFERENCES wechat_accounts (id),
  relation         text NOT NULL CHECK (relation IN ('CHILD', 'SPOUSE', 'RELATIVE', 'GUARDIAN')),
  scopes           text[] NOT NULL CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['VIEW', 'SPEND', 'APPLY', 'ALARMS']),
  consent_method   text NOT NULL CHECK (consent_method IN ('ELDER_ACCOUNT', 'COUNTER')),
  consent_by       uuid NOT NULL,
  consent_evidence text NOT NULL CHECK (length(consent_evidence) BETWEEN 1 AND 500),
  consented_at     timestamptz NOT NULL,
  created_at       timestamptz NOT NULL,
  revoked_at       timestamptz,
  revoked_by       uuid,
  revoked_by_kind  text CHECK (revoked_by_kind IN ('ELDER', 'PROXY', 'STAFF')),
  revoke_reason    text,
  CHECK ((revoked_at IS NULL) = (revoked_by IS NULL) AND (revoked_at IS NULL) = (revoked_by_kind IS NULL))
);
CREATE UNIQUE INDEX resident_proxies_active_idx ON resident_proxies (resident_id, account_id) WHERE revoked_at IS NULL;
CREATE INDEX resident_proxies_account_idx ON resident_proxies (account_id) WHERE revoked_at IS NULL;

CREATE TABLE proxy_invitations (
  code_hash        bytea PRIMARY KEY,
  resident_id      uuid NOT NULL REFERENCES residents (id),
  relation         text NOT NULL CHECK (relation IN ('CHILD', 'SPOUSE', 'RELATIVE', 'GUARDIAN')),
  scopes           text[] NOT NULL CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['VIEW', 'SPEND', 'APPLY', 'ALARMS']),
  consent_method   text NOT NULL CHECK (consent_method IN ('ELDER_ACCOUNT', 'COUNTER')),
  consent_by       uuid NOT NULL,
  consent_evidence text NOT NULL CHECK (length(consent_evidence) BETWEEN 1 AND 500),
  created_at       timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL,
  used_at          timestamptz,
  used_by          uuid REFERENCES wechat_accounts (id)
);

CREATE TABLE binding_codes (
  code_hash   bytea PRIMARY KEY,
  resident_id uuid NOT NULL REFERENCES residents (id),
  issued_by   uuid NOT NULL REFERENCES users (id),
  issued_at   timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz,
  used_by     uuid REFERENCES wechat_accounts (id)
);

ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN (
  'WECHAT_BINDING_ADDED',
  'APPLICATION_ACCEPTED', 'APPLICATION_SUPPLEMENT_REQUESTED', 'APPLICATION_DECIDED', 'APPLICATION_COMPLETED',
  'VOUCHERS_ISSUED', 'VOUCHERS_EXPIRING', 'REDEMPTION_RECEIPT',
  'ALARM_RECEIVED', 'ALARM_DISPATCHED', 'ALARM_CLOSED'));
ALTER TABLE notifications DROP CONSTRAINT notifications_recipient_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_recipient_kind_check
  CHECK (recipient_kind IN ('WECHAT', 'SMS_RESIDENT', 'SMS_CONTACT'));
ALTER TABLE notifications
  ADD COLUMN resident_id     uuid,
  ADD COLUMN status          text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SENT', 'SKIPPED', 'DEAD')),
  ADD COLUMN attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN last_error      text;
UPDATE notifications SET status = 'SENT' WHERE sent_at IS NOT NULL;
UPDATE notifications SET resident_id = (payload ->> 'residentId')::uuid WHERE payload ? 'residentId';
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX notifications_recipient_idx ON notifications (recipient_id, created_at DESC);

-- What the mini-program reported from wx.requestSubscribeMessage: each
-- "accept" allows one message of that template (WeChat's one-time
-- subscription), a "reject" or "ban" takes every remaining one back.
CREATE TABLE wechat_template_grants (
  account_id  uuid NOT NULL REFERENCES wechat_accounts (id),
  template_id text NOT NULL,
  remaining   integer NOT NULL CHECK (remaining BETWEEN 0 AND 50),
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (account_id, template_id)
);

-- Opt-outs per channel: WECHAT by the account, SMS by the resident (their
-- own phone). Alarms are sent whatever is here.
CREATE TABLE notification_opt_outs (
  subject_id uuid NOT NULL,
  channel    text NOT NULL CHECK (channel IN ('WECHAT', 'SMS')),
  at         timestamptz NOT NULL,
  PRIMARY KEY (subject_id, channel)
);

-- +goose Down
DROP TABLE notification_opt_outs;
DROP TABLE wechat_template_grants;
DROP INDEX notifications_recipient_idx;
DROP INDEX notifications_due_idx;
DELETE FROM notifications WHERE kind <> 'WECHAT_BINDING_ADDED' OR recipient_kind <> 'WECHAT';
ALTER TABLE notifications DROP COLUMN last_error, DROP COLUMN next_attempt_at, DROP COLUMN attempts,
  DROP COLUMN status, DROP COLUMN resident_id;
ALTER TABLE notifications DROP CONSTRAINT notifications_recipient_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_recipient_kind_check CHECK (recipient_kind IN ('WECHAT'));
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN ('WECHAT_BINDING_ADDED'));
DROP TABLE binding_codes;
DROP TABLE proxy_invitations;
DROP TABLE resident_proxies;
