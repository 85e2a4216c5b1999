-- Vouchers expiring within seven days are noticed once each (issue #19):
-- the notice job marks a voucher when it queues its holder's notice, in
-- the same transaction, taking chunks FOR UPDATE SKIP LOCKED so any
-- number of instances may run it. The partial index holds only the
-- vouchers still to be noticed.

-- +goose Up
ALTER TABLE vouchers ADD COLUMN expiry_noticed_at timestamptz;
CREATE INDEX vouchers_expiry_notice_idx ON vouchers (valid_until) WHERE status = 'ACTIVE' AND expiry_noticed_at IS NULL;

-- +goose Down
DROP INDEX vouchers_expiry_notice_idx;
ALTER TABLE vouchers DROP COLUMN expiry_noticed_at;
