-- Ledger entries are ordered by an identity column, not by their UUIDv7
-- ids: ids made in the same millisecond by different server instances (or
-- by SQL and Go) do not sort in the order they were written, and each
-- entry's balance_after_fen is a running sum in that order. Entries of one
-- voucher are written under its row lock, so seq follows commit order.

-- +goose Up
ALTER TABLE voucher_ledger ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX voucher_ledger_voucher_seq_idx ON voucher_ledger (voucher_id, seq);
DROP INDEX voucher_ledger_voucher_idx;

-- +goose Down
CREATE INDEX voucher_ledger_voucher_idx ON voucher_ledger (voucher_id, id);
ALTER TABLE voucher_ledger DROP COLUMN seq;
