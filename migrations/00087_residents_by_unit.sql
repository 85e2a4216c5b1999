-- A list filtered to a community or a grid reads that unit's residents in
-- list order (newest first) from these, instead of intersecting a bitmap of
-- the unit's org_path prefix with the other filters' (a rare status in one
-- community of 10^6 residents: 911 rows, 640 ms). A street or the district
-- still filters by org_path prefix: a tenth of the district or more, which
-- the primary key walked backwards finds a page of soon enough.

-- +goose Up
CREATE INDEX residents_community_idx ON residents (community_id, id);
CREATE INDEX residents_grid_idx ON residents (grid_id, id) WHERE grid_id IS NOT NULL;

-- +goose Down
DROP INDEX residents_grid_idx;
DROP INDEX residents_community_idx;
