-- Counter search (internal/resident/search.go): the terms a name is found
-- by (its characters and pairs, its pinyin and initials), computed in Go on
-- every write of a name and answered from a GIN index. Rows written before
-- this migration get theirs from `residents migrate` (and development `serve`),
-- in committed batches (resident.Service.BackfillSearchTerms); until then
-- a NULL matches no name search.
--
-- care_level gets an index for the careLevels filter, by id so that a page
-- of one level reads in list order.

-- +goose Up
ALTER TABLE residents ADD COLUMN name_terms text[];
CREATE INDEX residents_name_terms_idx ON residents USING gin (name_terms);
CREATE INDEX residents_care_level_idx ON residents (care_level, id);

-- +goose Down
DROP INDEX residents_care_level_idx;
DROP INDEX residents_name_terms_idx;
ALTER TABLE residents DROP COLUMN name_terms;
