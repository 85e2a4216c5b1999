-- Audit entries name their entity by its GraphQL type and their action by
-- the GraphQL field that caused it (internal/audit/names.go), so an entry's
-- entityId resolves through node(id:) and its action is found in the API.
-- This rewrites the rows written under the older names, old -> new, below.
--
-- audit_log is append-only (migration 00001's trigger audit_log_no_update
-- refuses UPDATE and DELETE). The trigger is off for these UPDATEs only:
-- goose runs this file in one transaction, and ALTER TABLE holds an ACCESS
-- EXCLUSIVE lock on audit_log until it commits, so no other session writes
-- or reads the table while the trigger is off, and a failure rolls the
-- trigger back on with everything else.

-- +goose Up
ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update;

-- A session is no GraphQL type: refreshSession and logout now name the
-- session's subject (their actor: a StaffUser or a WechatAccount) and keep
-- the session id in the detail.
UPDATE audit_log SET
  entity    = CASE actor_kind WHEN 'WECHAT' THEN 'WechatAccount' ELSE 'StaffUser' END,
  entity_id = actor_id,
  detail    = coalesce(detail, '{}'::jsonb) || jsonb_build_object('sessionId', entity_id)
WHERE entity = 'Session';

-- Entities: old -> new.
UPDATE audit_log AS a SET entity = m.new
FROM (VALUES
  ('application',  'Application'),
  ('service_item', 'ServiceItem'),
  ('calendar_day', 'CalendarDay')
) AS m (old, new)
WHERE a.entity = m.old;

-- Actions: old -> new, and what the new detail adds where one field now
-- covers several old actions.
UPDATE audit_log AS a SET
  action = m.new,
  detail = CASE WHEN m.adds IS NULL THEN a.detail ELSE coalesce(a.detail, '{}'::jsonb) || m.adds::jsonb END
FROM (VALUES
  ('activateUser',                    'setStaffUserActive',      '{"active": true}'),
  ('deactivateUser',                  'setStaffUserActive',      '{"active": false}'),
  ('wechat.login',                    'wechatLogin',             NULL),
  ('wechat.bind_resident',            'bindResident',            NULL),
  ('resident.register',               'registerResident',        NULL),
  ('resident.update',                 'updateResident',          NULL),
  ('resident.lookup_by_id_number',    'residentByIdNumber',      NULL),
  ('resident.read_id_number',         'idNumber',                NULL),
  ('emergency.device.register',       'registerEmergencyDevice', NULL),
  ('emergency.device.heartbeat',      'recordDeviceHeartbeat',   NULL),
  ('emergency.call.receive',          'receiveEmergencyCall',    NULL),
  ('emergency.call.repeat_alarm',     'receiveEmergencyCall',    '{"repeatAlarm": true}'),
  ('emergency.call.answer',           'answerEmergencyCall',     NULL),
  ('emergency.call.dispatch',         'dispatchEmergencyCall',   NULL),
  ('emergency.call.close',            'closeEmergencyCall',      NULL),
  ('calendar.set_day',                'setCalendarDay',          NULL),
  ('service_item.upsert',             'upsertServiceItem',       NULL),
  ('application.submit',              'submitApplication',       NULL),
  ('application.accept',              'transitionApplication',   '{"action": "ACCEPT"}'),
  ('application.request_supplement',  'transitionApplication',   '{"action": "REQUEST_SUPPLEMENT"}'),
  ('application.resubmit',            'transitionApplication',   '{"action": "RESUBMIT"}'),
  ('application.reject',              'transitionApplication',   '{"action": "REJECT"}'),
  ('application.start_review',        'transitionApplication',   '{"action": "START_REVIEW"}'),
  ('application.approve',             'transitionApplication',   '{"action": "APPROVE"}'),
  ('application.deny',                'transitionApplication',   '{"action": "DENY"}'),
  ('application.complete',            'transitionApplication',   '{"action": "COMPLETE"}'),
  ('application.withdraw',            'transitionApplication',   '{"action": "WITHDRAW"}'),
  ('application.extend',              'transitionApplication',   '{"action": "EXTEND"}'),
  ('readDisabilityCertificateNumber', 'number',                  NULL)
) AS m (old, new, adds)
WHERE a.action = m.old;

ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update;

-- +goose Down
ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update;

UPDATE audit_log SET
  entity    = 'Session',
  entity_id = (detail ->> 'sessionId')::uuid,
  detail    = nullif(detail - 'sessionId', '{}'::jsonb)
WHERE action IN ('refreshSession', 'logout') AND detail ? 'sessionId';

UPDATE audit_log AS a SET entity = m.old
FROM (VALUES
  ('application',  'Application'),
  ('service_item', 'ServiceItem'),
  ('calendar_day', 'CalendarDay')
) AS m (old, new)
WHERE a.entity = m.new;

UPDATE audit_log SET
  action = CASE WHEN (detail ->> 'active')::boolean THEN 'activateUser' ELSE 'deactivateUser' END,
  detail = nullif(detail - 'active', '{}'::jsonb)
WHERE action = 'setStaffUserActive';

UPDATE audit_log SET action = 'emergency.call.repeat_alarm', detail = nullif(detail - 'repeatAlarm', '{}'::jsonb)
WHERE action = 'receiveEmergencyCall' AND detail ? 'repeatAlarm';

UPDATE audit_log SET action = 'application.' || lower(detail ->> 'action'), detail = nullif(detail - 'action', '{}'::jsonb)
WHERE action = 'transitionApplication';

UPDATE audit_log AS a SET action = m.old
FROM (VALUES
  ('wechat.login',                    'wechatLogin'),
  ('wechat.bind_resident',            'bindResident'),
  ('resident.register',               'registerResident'),
  ('resident.update',                 'updateResident'),
  ('resident.lookup_by_id_number',    'residentByIdNumber'),
  ('resident.read_id_number',         'idNumber'),
  ('emergency.device.register',       'registerEmergencyDevice'),
  ('emergency.device.heartbeat',      'recordDeviceHeartbeat'),
  ('emergency.call.receive',          'receiveEmergencyCall'),
  ('emergency.call.answer',           'answerEmergencyCall'),
  ('emergency.call.dispatch',         'dispatchEmergencyCall'),
  ('emergency.call.close',            'closeEmergencyCall'),
  ('calendar.set_day',                'setCalendarDay'),
  ('service_item.upsert',             'upsertServiceItem'),
  ('application.submit',              'submitApplication'),
  ('readDisabilityCertificateNumber', 'number')
) AS m (old, new)
WHERE a.action = m.new;

ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update;
