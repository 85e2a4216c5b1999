-- A redemption in one autocommit statement (redeem.go, redeemOnce). It
-- answers 'ok' and the program balance before it, or 'replay' when the
-- idempotency key existed (and then writes nothing), or raises
-- redemption_refused (migration 00067) with one of the refusal names that
-- redeem.go defines and passes in as the refused_* parameters, so that the
-- names live in Go only.
--
-- Named parameters (pgx named arguments; redeemArgs builds them):
--   provider, idempotency_key, request_hash, now, program, settle_lock
--   (the provider-month lock's name); audit_id, audit_at, actor_id,
--   actor_kind, audit_action, audit_entity, request_id (the audit entry);
--   redemption (its id), amount, resident, category, service_date, note,
--   token_hash, month; refused_no_provider, refused_suspended,
--   refused_provider_category, refused_program_category, refused_settled,
--   refused_insufficient, refused_token_used.
--
-- The voucher statuses it writes (ACTIVE stays ACTIVE or becomes
-- EXHAUSTED) are moves of the transition table in states.go; the
-- redemption it creates starts COMPLETED.
--
-- The order matters and each step depends on the one before, so Postgres
-- runs them in this order:
--   k: the idempotency row, first: a concurrent send of the same key waits
--      here for the other's commit, then finds the key taken (and replays
--      it). It names its redemption already; the foreign key is checked
--      when the statement ends.
--   c: the provider, the program, and the shared provider-month lock that
--      keeps a settlement confirmation out until this commits.
--   s: the settlement check, after the lock was granted, in a VOLATILE
--      function whose fresh snapshot sees a confirmation that committed
--      while this waited.
--   v: every ACTIVE voucher of the resident's program, locked in id order
--      (as every writer locks them; one changed by a transaction that
--      committed meanwhile is re-read at its new version), and only when
--      the checks passed. p: those valid on the service date, drawn
--      earliest expiry first (before is what the earlier ones cover).
--   r: the redemption, unless the balance is short; nothing if its token
--      hash is already taken.
--   the voucher updates, the REDEEM ledger entries (which are the
--      redemption's draws: a reversal gives back exactly those) and the
--      audit entry run when the main query is done, only if it did not
--      raise.
--   n: the receipts (notify.InsertSQL: the resident's bound accounts, its
--      SPEND proxies, its phone) in the notification outbox, only when r
--      wrote the redemption: a refusal raises and takes them back with
--      everything else, so a receipt exists exactly when its redemption
--      does, with no second transaction.
WITH k AS (
  INSERT INTO redemption_keys (provider_id, idempotency_key, request_hash, created_at, redemption_id)
  VALUES (@provider, @idempotency_key, @request_hash, @now, @redemption)
  ON CONFLICT DO NOTHING RETURNING 1
),
a AS (
  {{audit.Insert}}
  SELECT @audit_id, @audit_at, @actor_id, @actor_kind, @audit_action, @audit_entity, @redemption, @request_id,
    jsonb_build_object('amountFen', @amount::bigint) FROM k
),
c AS MATERIALIZED (
  SELECT p.status = 'ACTIVE' AS active, @category::text = ANY (p.categories) AS provider_pays,
    coalesce(@category::text = ANY (g.categories), false) AS program_pays,
    pg_advisory_xact_lock_shared(hashtextextended(@settle_lock, 20)) IS NOT NULL AS locked
  FROM k, providers p LEFT JOIN voucher_programs g ON g.id = @program WHERE p.id = @provider
),
s AS MATERIALIZED (
  SELECT provider_month_settled(@provider, @month) AS settled FROM c WHERE c.locked
),
v AS (
  SELECT id, balance_fen, valid_from, valid_until FROM vouchers
  WHERE resident_id = @resident AND program_id = @program AND status = 'ACTIVE'
    AND EXISTS (SELECT 1 FROM c, s WHERE c.active AND c.provider_pays AND c.program_pays AND NOT s.settled)
  ORDER BY id FOR UPDATE
),
p AS (
  SELECT id, balance_fen, valid_from, valid_until, sum(balance_fen) OVER (ORDER BY valid_until, id) - balance_fen AS before
  FROM v WHERE valid_from <= @service_date::date AND valid_until >= @service_date::date
),
-- left_today is what a redemption dated today could still spend after this
-- one (voucherBalanceFen's meaning): the vouchers valid today, less what
-- this redemption takes from those of them it draws on. Next month's
-- vouchers, issued ahead, are not in it.
t AS (
  SELECT (SELECT coalesce(sum(balance_fen), 0) FROM p) AS payable,
         (SELECT coalesce(sum(balance_fen), 0) FROM v WHERE valid_from <= @today::date AND valid_until >= @today::date)
         - (SELECT coalesce(sum(least(balance_fen, @amount::bigint - before)), 0) FROM p
            WHERE before < @amount::bigint AND balance_fen > 0 AND valid_from <= @today::date AND valid_until >= @today::date) AS left_today
),
r AS (
  INSERT INTO redemptions (id, provider_id, resident_id, program_id, category, amount_fen, service_date, status, note, created_at, token_hash, balance_after_fen)
  SELECT @redemption, @provider, @resident, @program, @category, @amount::bigint, @service_date::date, 'COMPLETED', @note,
    @now::timestamptz, @token_hash, t.left_today FROM t WHERE t.payable >= @amount::bigint
  ON CONFLICT (token_hash) DO NOTHING
  RETURNING id
),
x AS MATERIALIZED (
  SELECT p.id, least(p.balance_fen, @amount::bigint - p.before) AS take,
    p.balance_fen - least(p.balance_fen, @amount::bigint - p.before) AS after, uuid_v7() AS entry_id
  FROM p, r WHERE p.before < @amount::bigint AND p.balance_fen > 0
),
u AS (
  UPDATE vouchers SET balance_fen = x.after, status = CASE WHEN x.after = 0 THEN 'EXHAUSTED' ELSE 'ACTIVE' END,
    updated_at = @now::timestamptz
  FROM x WHERE vouchers.id = x.id
),
l AS (
  INSERT INTO voucher_ledger (id, voucher_id, kind, amount_fen, balance_after_fen, redemption_id, at)
  SELECT x.entry_id, x.id, 'REDEEM', -x.take, x.after, r.id, @now::timestamptz FROM x, r ORDER BY x.id
),
n AS (
  {{notify.Receipt}}
)
SELECT CASE
    WHEN NOT EXISTS (SELECT 1 FROM k) THEN 'replay'
    WHEN c.active IS NULL THEN redemption_refused(@refused_no_provider, '')
    WHEN NOT c.active THEN redemption_refused(@refused_suspended, '')
    WHEN NOT c.provider_pays THEN redemption_refused(@refused_provider_category, '')
    WHEN NOT c.program_pays THEN redemption_refused(@refused_program_category, '')
    WHEN s.settled THEN redemption_refused(@refused_settled, '')
    WHEN t.payable < @amount::bigint THEN redemption_refused(@refused_insufficient, t.payable::text)
    WHEN NOT EXISTS (SELECT 1 FROM r) THEN redemption_refused(@refused_token_used, '')
    ELSE 'ok' END,
  t.left_today
FROM t LEFT JOIN c ON true LEFT JOIN s ON true
