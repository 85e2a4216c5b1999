-- 困难残疾人生活补贴 goes to disabled members of 低保 households, and not
-- to people in 特困人员救助供养, whose support already covers it:
--   国务院《关于全面建立困难残疾人生活补贴和重度残疾人护理补贴制度的意见》
--   （国发〔2015〕52号）: "困难残疾人生活补贴对象为低保家庭中的残疾人 …
--   符合条件的残疾人 … 纳入特困人员供养的，不享受困难残疾人生活补贴".
-- The seed rule required LOW_INCOME or EXTREME_POVERTY, which paid those
-- in 特困供养 twice. A rule now lists statuses that exclude (any one of
-- them: no) and names its sources (basis), shown with the rule.

-- +goose Up
ALTER TABLE disability_subsidy_rules
  ADD COLUMN excluded_statuses text[] NOT NULL DEFAULT '{}'
    CHECK (excluded_statuses <@ ARRAY['LOW_INCOME', 'EXTREME_POVERTY', 'LIVING_ALONE', 'EMPTY_NEST', 'BEREAVED_PARENT']),
  ADD COLUMN basis text CHECK (length(basis) BETWEEN 1 AND 500);

UPDATE disability_subsidy_rules SET
  required_statuses = '{LOW_INCOME}',
  excluded_statuses = '{EXTREME_POVERTY}',
  description = '低保家庭中的持证残疾人（纳入特困人员救助供养的除外）',
  basis = '国发〔2015〕52号《国务院关于全面建立困难残疾人生活补贴和重度残疾人护理补贴制度的意见》：补贴对象为低保家庭中的残疾人；纳入特困人员供养的不享受困难残疾人生活补贴'
WHERE code = 'LIVING_HARDSHIP';

UPDATE disability_subsidy_rules SET
  basis = '国发〔2015〕52号：重度残疾人护理补贴对象为残疾等级被评定为一级、二级且需要长期照护的重度残疾人，有条件的地方可扩大到非重度智力、精神残疾人'
WHERE code IN ('NURSING_SEVERE', 'NURSING_GRADE3_INTELLECTUAL_MENTAL');

-- +goose Down
UPDATE disability_subsidy_rules SET
  required_statuses = '{LOW_INCOME,EXTREME_POVERTY}',
  description = '低保家庭或特困供养的持证残疾人'
WHERE code = 'LIVING_HARDSHIP';
ALTER TABLE disability_subsidy_rules DROP COLUMN basis, DROP COLUMN excluded_statuses;
