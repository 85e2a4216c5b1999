-- The ID-number mask keeps the region (the first 6 characters) only: the
-- old one also kept the last 4, and with the birth date gave the whole
-- number back (pii.MaskIDNumber says why). Stored masks are re-masked here,
-- residents' and disability certificates' (ID number + two digits, which
-- keep their two digits: category and grade, shown beside them anyway).
--
-- Outside a transaction and in batches of 10 000 rows by id, each committed,
-- so a district's million rows are never locked at once, and a migration
-- stopped halfway resumes where it stopped (the WHERE skips rows done).

-- +goose NO TRANSACTION
-- +goose Up

-- +goose StatementBegin
DO $$
DECLARE
  last uuid := '00000000-0000-0000-0000-000000000000';
  upto uuid;
BEGIN
  LOOP
    SELECT b.id INTO upto FROM (SELECT id FROM residents WHERE id > last ORDER BY id LIMIT 10000) b ORDER BY b.id DESC LIMIT 1;
    EXIT WHEN upto IS NULL;
    UPDATE residents SET id_number_masked = left(id_number_masked, 6) || repeat('*', char_length(id_number_masked) - 6)
     WHERE id > last AND id <= upto AND char_length(id_number_masked) >= 18
       AND substr(id_number_masked, 7) <> repeat('*', char_length(id_number_masked) - 6);
    COMMIT;
    last := upto;
  END LOOP;
  last := '00000000-0000-0000-0000-000000000000';
  LOOP
    SELECT b.id INTO upto FROM (SELECT id FROM disability_certificates WHERE id > last ORDER BY id LIMIT 10000) b ORDER BY b.id DESC LIMIT 1;
    EXIT WHEN upto IS NULL;
    UPDATE disability_certificates SET number_masked = left(number_masked, 6) || repeat('*', 12) || right(number_masked, 2)
     WHERE id > last AND id <= upto AND char_length(number_masked) = 20
       AND substr(number_masked, 7, 12) <> repeat('*', 12);
    COMMIT;
    last := upto;
  END LOOP;
END $$;
-- +goose StatementEnd
