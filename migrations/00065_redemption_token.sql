-- A redemption records the hash of the single-use token it consumed, under a
-- unique constraint, so consuming the token commits (or rolls back) with the
-- redemption itself: a process killed between the two can neither lose a
-- token nor spend one twice. Redis keeps the live tokens; this is the truth
-- about which were used. Redemptions made before this have no hash.

-- +goose Up
ALTER TABLE redemptions ADD COLUMN token_hash bytea;
ALTER TABLE redemptions ADD CONSTRAINT redemptions_token_hash_key UNIQUE (token_hash);

-- +goose Down
ALTER TABLE redemptions DROP COLUMN token_hash;
