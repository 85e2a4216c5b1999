-- A visit's confirmation rewrites its order in place (a HOT update).
--
-- service_orders.redemption_id had a unique index, so the confirmation's
-- update, which sets it, wrote a new version of the row and one entry in
-- each of the table's six indexes; nothing reads orders by their
-- redemption. A visit is still paid at most once: the order is locked for
-- its confirmation and answered as it is once paid (internal/homecare),
-- and its redemption's token hash, derived from the order id
-- (voucher.visitKey), is unique in redemptions. The foreign key and the
-- REDEEMED check stay.
--
-- The orders' pages keep a fifth free (fillfactor 80), so the versions an
-- order's check-out and confirmation write stay on its page; without the
-- room an update that touches no index column still moves the row and
-- indexes it again. Measured with scripts/visitbench.sh (docs/PERFORMANCE.md).

-- +goose Up
ALTER TABLE service_orders DROP CONSTRAINT service_orders_redemption_key;
ALTER TABLE service_orders SET (fillfactor = 80);

-- +goose Down
ALTER TABLE service_orders RESET (fillfactor);
ALTER TABLE service_orders ADD CONSTRAINT service_orders_redemption_key UNIQUE (redemption_id);
