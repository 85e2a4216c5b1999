-- What a redemption drew from each voucher is its REDEEM ledger entries
-- (voucher, amount, redemption): redemption_draws held the same a second
-- time. A reversal now reads the ledger, and CheckBooks checks each
-- redemption's entries against its amount.

-- +goose Up
DROP TABLE redemption_draws;

-- +goose Down
CREATE TABLE redemption_draws (
  redemption_id uuid NOT NULL REFERENCES redemptions (id),
  voucher_id    uuid NOT NULL REFERENCES vouchers (id),
  amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
  PRIMARY KEY (redemption_id, voucher_id)
);
INSERT INTO redemption_draws (redemption_id, voucher_id, amount_fen)
  SELECT redemption_id, voucher_id, -amount_fen FROM voucher_ledger WHERE kind = 'REDEEM';
