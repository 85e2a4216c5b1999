-- Home-care visits (internal/homecare): a price list per voucher program,
-- the items each provider offers, per-resident caps, residents' home
-- positions and elder service cards (entered at a counter), service orders
-- with check-in and check-out, anomaly flags held for review, and disputes.
-- A visit's payment is an ordinary redemption (the voucher engine's), which
-- the order points at: service_orders.redemption_id is unique, so a visit
-- is paid at most once and each settlement line names its visit.

-- +goose Up
CREATE TABLE care_price_items (
  id               uuid PRIMARY KEY,
  program_id       uuid NOT NULL REFERENCES voucher_programs (id),
  code             text NOT NULL CHECK (length(code) BETWEEN 1 AND 32),
  name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  category         text NOT NULL,
  unit             text NOT NULL CHECK (length(unit) BETWEEN 1 AND 16),
  unit_price_fen   bigint NOT NULL CHECK (unit_price_fen > 0),
  minimum_minutes  integer NOT NULL CHECK (minimum_minutes BETWEEN 0 AND 1440),
  active           boolean NOT NULL DEFAULT true,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT care_price_items_program_code_key UNIQUE (program_id, code)
);

CREATE TABLE care_provider_items (
  provider_id uuid NOT NULL REFERENCES providers (id),
  item_id     uuid NOT NULL REFERENCES care_price_items (id),
  PRIMARY KEY (provider_id, item_id)
);

-- Per-resident caps: at most max_visits orders of a category in a period.
CREATE TABLE care_caps (
  program_id uuid NOT NULL REFERENCES voucher_programs (id),
  category   text NOT NULL,
  period     text NOT NULL CHECK (period IN ('DAY', 'WEEK', 'MONTH')),
  max_visits integer NOT NULL CHECK (max_visits BETWEEN 1 AND 1000),
  PRIMARY KEY (program_id, category, period)
);

-- Where a resident lives, entered at a counter: check-in distances are
-- measured from it.
CREATE TABLE care_homes (
  resident_id uuid PRIMARY KEY REFERENCES residents (id),
  latitude    double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
  longitude   double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
  set_at      timestamptz NOT NULL,
  set_by      uuid NOT NULL
);

-- Elder service cards: one usable (ACTIVE or LOCKED) card per resident.
CREATE TABLE service_cards (
  id              uuid PRIMARY KEY,
  resident_id     uuid NOT NULL REFERENCES residents (id),
  card_number     text NOT NULL CONSTRAINT service_cards_number_key UNIQUE CHECK (card_number ~ '^[0-9]{12}$'),
  pin_hash        text NOT NULL,
  status          text NOT NULL CHECK (status IN ('ACTIVE', 'LOCKED', 'LOST', 'REPLACED')),
  failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts BETWEEN 0 AND 5),
  issued_at       timestamptz NOT NULL,
  issued_by       uuid NOT NULL,
  ended_at        timestamptz
);
CREATE UNIQUE INDEX service_cards_usable_key ON service_cards (resident_id) WHERE status IN ('ACTIVE', 'LOCKED');

CREATE TABLE service_orders (
  id                    uuid PRIMARY KEY,
  provider_id           uuid NOT NULL REFERENCES providers (id),
  program_id            uuid NOT NULL REFERENCES voucher_programs (id),
  resident_id           uuid NOT NULL REFERENCES residents (id),
  item_id               uuid NOT NULL REFERENCES care_price_items (id),
  category              text NOT NULL,
  quantity              integer NOT NULL CHECK (quantity BETWEEN 1 AND 100),
  amount_fen            bigint NOT NULL CHECK (amount_fen > 0),
  scheduled_date        date NOT NULL,
  status                text NOT NULL CHECK (status IN ('REQUESTED', 'ASSIGNED', 'CHECKED_IN', 'CHECKED_OUT', 'CONFIRMED',
                          'REDEEMED', 'CANCELLED', 'DISPUTED')),
  worker_id             uuid REFERENCES users (id),
  created_by_kind       text NOT NULL,
  created_by            uuid NOT NULL,
  created_at            timestamptz NOT NULL,
  check_in_at           timestamptz,
  check_in_lat          double precision,
  check_in_lng          double precision,
  check_in_accuracy     double precision,
  check_in_distance_m   double precision,
  check_out_at          timestamptz,
  check_out_lat         double precision,
  check_out_lng         double precision,
  check_out_accuracy    double precision,
  check_out_distance_m  double precision,
  confirmed_at          timestamptz,
  confirmed_via         text CHECK (confirmed_via IN ('CARD', 'RESIDENT')),
  confirm_distance_m    double precision,
  service_date          date,
  redemption_id         uuid CONSTRAINT service_orders_redemption_key UNIQUE REFERENCES redemptions (id),
  cancelled_at          timestamptz,
  cancel_reason         text,
  CHECK ((check_out_at IS NULL) OR (check_in_at IS NOT NULL AND check_out_at >= check_in_at)),
  CHECK ((status = 'REDEEMED') <= (redemption_id IS NOT NULL))
);
CREATE INDEX service_orders_provider_idx ON service_orders (provider_id, id DESC);
CREATE INDEX service_orders_worker_idx ON service_orders (worker_id, id DESC) WHERE worker_id IS NOT NULL;
CREATE INDEX service_orders_resident_idx ON service_orders (resident_id, scheduled_date);
CREATE INDEX service_orders_month_idx ON service_orders (provider_id, service_date) WHERE service_date IS NOT NULL;

-- Anomalies the rules raised on a visit: an OPEN flag holds the order out
-- of settlement until a reviewer clears it or reverses the visit.
CREATE TABLE service_order_flags (
  id          uuid PRIMARY KEY,
  order_id    uuid NOT NULL REFERENCES service_orders (id),
  rule        text NOT NULL,
  detail      text NOT NULL,
  status      text NOT NULL CHECK (status IN ('OPEN', 'CLEARED', 'REVERSED')),
  raised_at   timestamptz NOT NULL,
  resolved_at timestamptz,
  resolved_by uuid,
  resolution  text,
  CONSTRAINT service_order_flags_rule_key UNIQUE (order_id, rule),
  CHECK ((status = 'OPEN') = (resolved_at IS NULL))
);
CREATE INDEX service_order_flags_open_idx ON service_order_flags (order_id) WHERE status = 'OPEN';

CREATE TABLE service_order_disputes (
  id          uuid PRIMARY KEY,
  order_id    uuid NOT NULL REFERENCES service_orders (id),
  reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  status      text NOT NULL CHECK (status IN ('OPEN', 'UPHELD', 'DISMISSED')),
  raised_at   timestamptz NOT NULL,
  raised_by   uuid NOT NULL,
  resolved_at timestamptz,
  resolved_by uuid,
  resolution  text,
  CHECK ((status = 'OPEN') = (resolved_at IS NULL))
);
-- One dispute per visit: a dismissed one is not raised again.
CREATE UNIQUE INDEX service_order_disputes_order_key ON service_order_disputes (order_id);

-- +goose Down
DROP TABLE service_order_disputes;
DROP TABLE service_order_flags;
DROP TABLE service_orders;
DROP TABLE service_cards;
DROP TABLE care_homes;
DROP TABLE care_caps;
DROP TABLE care_provider_items;
DROP TABLE care_price_items;
