package migrations

import (
	"context"
	"strconv"
	"testing"

	"github.com/pressly/goose/v3"
)

// TestRemaskIDNumbers: migration 00085 re-masks every stored ID number to
// its region (pii.MaskIDNumber) across more than one batch, and the
// certificates' numbers with their two digits kept; masks already in the
// new form and short (15-character) numbers are left as they are.
func TestRemaskIDNumbers(t *testing.T) {
	ctx := context.Background()
	db := scratchDB(t)
	p, err := goose.NewProvider(goose.DialectPostgres, db, files)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 80); err != nil {
		t.Fatal(err)
	}
	const rows = 25_001 // three batches
	for _, q := range []string{
		`INSERT INTO org_units (id, kind, code, name, path) VALUES ('00000000-0000-0000-0000-0000000000c1', 'COMMUNITY', 'c1', '社区', 'c1')`,
		`INSERT INTO residents (id, name, id_number_enc, id_number_bidx, id_number_masked, gender, birth_date, community_id, org_path)
		 SELECT gen_random_uuid(), '某' || i, 'enc', decode(md5(i::text), 'hex'), '510104********' || lpad((i % 10000)::text, 4, '0'),
		        'MALE', '1941-03-02', '00000000-0000-0000-0000-0000000000c1', 'c1'
		   FROM generate_series(1, ` + strconv.Itoa(rows) + `) i`,
		`INSERT INTO residents (id, name, id_number_enc, id_number_bidx, id_number_masked, gender, birth_date, community_id, org_path)
		 VALUES ('00000000-0000-0000-0000-000000000015', '短号', 'enc', '\x01', '***************', 'MALE', '1941-03-02', '00000000-0000-0000-0000-0000000000c1', 'c1')`,
		`INSERT INTO disability_certificates (id, resident_id, number_enc, number_bidx, number_masked, category, grade, issued_on, valid_until)
		 SELECT gen_random_uuid(), id, 'enc', '\x02', '510104********123X42', 'PHYSICAL', 2, '2020-01-01', '2030-01-01'
		   FROM residents WHERE org_path = 'c1' LIMIT 3`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.UpTo(ctx, 85); err != nil {
		t.Fatal(err)
	}
	var wrong, short, certs, wrongCerts int
	for q, dst := range map[string]*int{
		`SELECT count(*) FROM residents WHERE char_length(id_number_masked) = 18 AND id_number_masked <> '510104************'`: &wrong,
		`SELECT count(*) FROM residents WHERE id_number_masked = '***************'`:                                            &short,
		`SELECT count(*) FROM disability_certificates WHERE number_masked = '510104************42'`:                            &certs,
		`SELECT count(*) FROM disability_certificates WHERE number_masked <> '510104************42'`:                           &wrongCerts,
	} {
		if err := db.QueryRowContext(ctx, q).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	if wrong != 0 || short != 1 || certs != 3 || wrongCerts != 0 {
		t.Fatalf("after 00085: %d residents still masked the old way, %d short kept (want 1), %d certificates re-masked (want 3), %d not",
			wrong, short, certs, wrongCerts)
	}
}
