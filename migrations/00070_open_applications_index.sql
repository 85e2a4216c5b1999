-- applications_open_deadline_idx covered ACCEPTED, IN_REVIEW and APPROVED,
-- a second spelling of "open" beside application.OpenStatuses. It now
-- covers exactly the open statuses, so that a query written from
-- OpenStatuses ("status IN (...open...) AND deadline < today") can use it,
-- and a test checks the predicate against the Go list. SUBMITTED and
-- SUPPLEMENT_REQUESTED rows have no deadline yet (the CHECK on
-- accepted_at/deadline), so they add only NULL keys.

-- +goose Up
DROP INDEX applications_open_deadline_idx;
CREATE INDEX applications_open_deadline_idx ON applications (deadline)
  WHERE status IN ('SUBMITTED', 'SUPPLEMENT_REQUESTED', 'ACCEPTED', 'IN_REVIEW', 'APPROVED');

-- +goose Down
DROP INDEX applications_open_deadline_idx;
CREATE INDEX applications_open_deadline_idx ON applications (deadline)
  WHERE status IN ('ACCEPTED', 'IN_REVIEW', 'APPROVED');
