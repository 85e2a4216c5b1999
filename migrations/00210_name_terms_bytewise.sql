-- The name search terms compare as bytes. They are keys (characters,
-- character pairs, "py:" pinyin), only ever matched by equality, so a
-- linguistic collation buys nothing; under the database's libc collation
-- (C.UTF-8 here) every comparison went through strcoll and could not use
-- abbreviated keys, and building the primary key over the 11.5 million
-- terms of 10^6 seeded residents spent 32 s of CPU sorting them (18 s
-- with COLLATE "C", trace_sort, same table). The seed builds that key on
-- every fresh registry; lookups compare less too.

-- +goose Up
ALTER TABLE resident_name_terms ALTER COLUMN term TYPE text COLLATE "C";

-- +goose Down
ALTER TABLE resident_name_terms ALTER COLUMN term TYPE text COLLATE "default";
