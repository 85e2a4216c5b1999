-- A provider lists its own redemptions (Provider.redemptions): newest
-- service date first, then newest first, by keyset on (service_date, id).
-- The index also serves a month's settlement (provider and a service-date
-- range), so the older (provider_id, service_date) index goes.
-- +goose Up
CREATE INDEX redemptions_provider_list_idx ON redemptions (provider_id, service_date DESC, id DESC);
DROP INDEX redemptions_provider_date_idx;
-- Redemption.idempotencyKey: a provider matches a redemption to its own
-- order by the key it sent, read through this index.
CREATE INDEX redemption_keys_redemption_idx ON redemption_keys (redemption_id);
-- What a reversal left spendable today, so a retried reverseRedemption
-- answers with the first result (NULL on redemptions never reversed, and on
-- those reversed before this column, for which a retry reads the balance).
ALTER TABLE redemptions ADD COLUMN reversed_balance_after_fen bigint;

-- +goose Down
ALTER TABLE redemptions DROP COLUMN reversed_balance_after_fen;
DROP INDEX redemption_keys_redemption_idx;
CREATE INDEX redemptions_provider_date_idx ON redemptions (provider_id, service_date);
DROP INDEX redemptions_provider_list_idx;
