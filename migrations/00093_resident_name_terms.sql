-- Counter search answered in list order. The GIN index over
-- residents.name_terms (00086) returns a term's matches unordered, so a
-- page of the newest 20 cost a heap visit and a re-check for every match
-- and a sort: 533 matches for a common given name, 2,000 for initials such
-- as "zgy", p99 160-275 ms at 10^6 residents. One row per (term, resident)
-- with a btree on both answers a term's newest matches from the index in
-- order, and the walk stops at the page's end (internal/resident/store.go).
--
-- residents.name_terms stays the terms' source, written by Go (which alone
-- can romanize) with the name; the triggers keep this table in step with
-- it, so that every writer of a name (registration, rename, import, the
-- search-term backfill) keeps the index without knowing it exists. The seed
-- of an empty registry fills it in one statement instead (resident.bulkLoad).
--
-- The partial index finds the rows whose terms are still to be computed
-- (resident.BackfillSearchTerms) without walking the table.

-- +goose Up
CREATE TABLE resident_name_terms (
    term        text NOT NULL,
    resident_id uuid NOT NULL
);
INSERT INTO resident_name_terms (term, resident_id)
SELECT t, r.id FROM residents r, LATERAL (SELECT DISTINCT unnest(r.name_terms) AS t) u
WHERE r.name_terms IS NOT NULL;
ALTER TABLE resident_name_terms ADD PRIMARY KEY (term, resident_id);

DROP INDEX residents_name_terms_idx;
CREATE INDEX residents_name_terms_missing_idx ON residents (id) WHERE name_terms IS NULL;

-- +goose StatementBegin
CREATE FUNCTION resident_name_terms_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- By the old terms: the primary key finds them, where an index on
    -- resident_id alone would be another 13 million entries at 10^6.
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.name_terms IS NOT NULL THEN
        DELETE FROM resident_name_terms WHERE term = ANY (OLD.name_terms) AND resident_id = OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.name_terms IS NOT NULL THEN
        INSERT INTO resident_name_terms (term, resident_id)
        SELECT DISTINCT t, NEW.id FROM unnest(NEW.name_terms) AS t
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER residents_name_terms_insert AFTER INSERT ON residents
    FOR EACH ROW WHEN (NEW.name_terms IS NOT NULL) EXECUTE FUNCTION resident_name_terms_sync();
CREATE TRIGGER residents_name_terms_update AFTER UPDATE OF name_terms ON residents
    FOR EACH ROW WHEN (OLD.name_terms IS DISTINCT FROM NEW.name_terms) EXECUTE FUNCTION resident_name_terms_sync();
CREATE TRIGGER residents_name_terms_delete AFTER DELETE ON residents
    FOR EACH ROW WHEN (OLD.name_terms IS NOT NULL) EXECUTE FUNCTION resident_name_terms_sync();

-- +goose Down
DROP TRIGGER residents_name_terms_delete ON residents;
DROP TRIGGER residents_name_terms_update ON residents;
DROP TRIGGER residents_name_terms_insert ON residents;
DROP FUNCTION resident_name_terms_sync();
DROP INDEX residents_name_terms_missing_idx;
CREATE INDEX residents_name_terms_idx ON residents USING gin (name_terms);
DROP TABLE resident_name_terms;
