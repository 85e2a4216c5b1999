-- A receive time the telephony system (or an operator) reported ahead of the
-- server's clock was stored as given, up to five minutes ahead, so a call
-- answered at once was "answered before it was received" and counted as
-- answered within 60 s (security issue #17). Intake now takes such a time as
-- the moment the server recorded the call, and answering never dates a call
-- before its receive time; the rows recorded before are corrected the same
-- way: a call was received no later than the server recorded it, nor than it
-- was answered. Their RECEIVED event moves with them. Then the rule holds in
-- the schema.

-- +goose Up
WITH fixed AS (
  SELECT id, LEAST(received_at, created_at, COALESCE(answered_at, created_at)) AS at
    FROM emergency_calls
   WHERE received_at > LEAST(created_at, COALESCE(answered_at, created_at))
), ev AS (
  UPDATE emergency_call_events e SET at = fixed.at
    FROM fixed
   WHERE e.call_id = fixed.id AND e.kind = 'RECEIVED' AND e.at > fixed.at
)
UPDATE emergency_calls c SET received_at = fixed.at FROM fixed WHERE c.id = fixed.id;

ALTER TABLE emergency_calls ADD CONSTRAINT emergency_calls_answered_after_received CHECK (answered_at >= received_at);

-- +goose Down
ALTER TABLE emergency_calls DROP CONSTRAINT emergency_calls_answered_after_received;
