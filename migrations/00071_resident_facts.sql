-- resident_facts is how other domains read the registry: the facts that
-- decide jurisdiction and eligibility, owned by the resident domain, so
-- the residents table can change behind it. A plain view: the planner
-- inlines it, so reading through it costs nothing. It holds no personal
-- data (no name, no ID or phone number, encrypted, masked or indexed).
-- living is the one definition of "living resident".

-- +goose Up
CREATE VIEW resident_facts AS
SELECT id, community_id, grid_id, org_path, gender, birth_date, care_level, statuses, deceased_on,
       deceased_on IS NULL AS living
FROM residents;

-- +goose Down
DROP VIEW resident_facts;
