-- Disability services: the data-driven rules of the two subsidies (两项补贴)
-- and service records (rehabilitation, assistive devices, day care, ...).
-- Certificates live in 00003 because voucher issuance reads them too.

-- +goose Up
-- A subsidy rule matches a resident holding a currently valid certificate
-- when every non-empty condition holds: grade in grades, category in
-- categories, and at least one of required_statuses on the resident.
-- The district changes these rows (upsertDisabilitySubsidyRule), not code.
CREATE TABLE disability_subsidy_rules (
  id                uuid PRIMARY KEY,
  code              text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9_]{2,64}$'),
  subsidy           text NOT NULL CHECK (subsidy IN ('LIVING', 'NURSING')),
  grades            smallint[] NOT NULL DEFAULT '{}' CHECK (grades <@ ARRAY[1, 2, 3, 4]::smallint[]),
  categories        text[] NOT NULL DEFAULT '{}'
                    CHECK (categories <@ ARRAY['VISUAL', 'HEARING', 'SPEECH', 'PHYSICAL', 'INTELLECTUAL', 'MENTAL', 'MULTIPLE']),
  required_statuses text[] NOT NULL DEFAULT '{}'
                    CHECK (required_statuses <@ ARRAY['LOW_INCOME', 'EXTREME_POVERTY', 'LIVING_ALONE', 'EMPTY_NEST', 'BEREAVED_PARENT']),
  -- plain-Chinese statement of who the rule covers, shown in the reasons.
  description       text NOT NULL CHECK (length(description) BETWEEN 1 AND 200),
  active            boolean NOT NULL DEFAULT true,
  updated_at        timestamptz NOT NULL DEFAULT now()
);

INSERT INTO disability_subsidy_rules (id, code, subsidy, grades, categories, required_statuses, description) VALUES
  (uuid_v7(), 'LIVING_HARDSHIP', 'LIVING', '{}', '{}', '{LOW_INCOME,EXTREME_POVERTY}',
   '低保家庭或特困供养的持证残疾人'),
  (uuid_v7(), 'NURSING_SEVERE', 'NURSING', '{1,2}', '{}', '{}',
   '残疾等级为一级或二级的重度残疾人'),
  (uuid_v7(), 'NURSING_GRADE3_INTELLECTUAL_MENTAL', 'NURSING', '{3}', '{INTELLECTUAL,MENTAL}', '{}',
   '残疾等级为三级的智力残疾人或精神残疾人');

-- provider_id has no foreign key yet: the providers table arrives with the
-- provider domain; the lead adds the constraint when the branches merge.
CREATE TABLE disability_services (
  id           uuid PRIMARY KEY,
  resident_id  uuid NOT NULL REFERENCES residents (id),
  kind         text NOT NULL CHECK (kind IN ('REHABILITATION', 'ASSISTIVE_DEVICE', 'DAY_CARE', 'HOME_MODIFICATION',
                                             'EMPLOYMENT_SUPPORT', 'ACCESSIBLE_CINEMA', 'CARE_ASSISTANCE')),
  status       text NOT NULL DEFAULT 'REQUESTED' CHECK (status IN ('REQUESTED', 'SCHEDULED', 'DELIVERED', 'CANCELLED')),
  provider_id  uuid,
  scheduled_on date,
  delivered_on date,
  note         text CHECK (length(note) <= 500),
  requested_by uuid NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT disability_services_delivered_on_check CHECK (status <> 'DELIVERED' OR delivered_on IS NOT NULL),
  CONSTRAINT disability_services_scheduled_on_check CHECK (status <> 'SCHEDULED' OR scheduled_on IS NOT NULL)
);
CREATE INDEX disability_services_resident_idx ON disability_services (resident_id, id DESC);
CREATE INDEX disability_services_provider_idx ON disability_services (provider_id, id DESC) WHERE provider_id IS NOT NULL;

-- +goose Down
DROP TABLE disability_services;
DROP TABLE disability_subsidy_rules;
