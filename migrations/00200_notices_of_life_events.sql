-- Notices of welfare escalations and life events (issues #19, #20): an
-- elder who missed welfare calls in a row is told to the ALARMS proxies
-- and the first emergency contact like an alarm; a death or a move out
-- recorded, and a death undone, are told to every proxy and the bound
-- accounts. The kind CHECK lists every kind (notify.Kinds).

-- +goose Up
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN (
  'WECHAT_BINDING_ADDED',
  'APPLICATION_ACCEPTED', 'APPLICATION_SUPPLEMENT_REQUESTED', 'APPLICATION_DECIDED', 'APPLICATION_COMPLETED',
  'VOUCHERS_ISSUED', 'VOUCHERS_EXPIRING', 'REDEMPTION_RECEIPT',
  'ALARM_RECEIVED', 'ALARM_DISPATCHED', 'ALARM_CLOSED', 'VISIT_CODE',
  'WELFARE_CHECK_MISSED', 'RESIDENT_DECEASED', 'RESIDENT_MOVED_OUT', 'RESIDENT_DEATH_UNDONE'));

-- +goose Down
DELETE FROM notifications WHERE kind IN ('WELFARE_CHECK_MISSED', 'RESIDENT_DECEASED', 'RESIDENT_MOVED_OUT', 'RESIDENT_DEATH_UNDONE');
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN (
  'WECHAT_BINDING_ADDED',
  'APPLICATION_ACCEPTED', 'APPLICATION_SUPPLEMENT_REQUESTED', 'APPLICATION_DECIDED', 'APPLICATION_COMPLETED',
  'VOUCHERS_ISSUED', 'VOUCHERS_EXPIRING', 'REDEMPTION_RECEIPT',
  'ALARM_RECEIVED', 'ALARM_DISPATCHED', 'ALARM_CLOSED', 'VISIT_CODE'));
