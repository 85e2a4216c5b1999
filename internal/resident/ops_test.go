package resident_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/jinjiang/residents/internal/app"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/idnumber"
	"github.com/jinjiang/residents/internal/resident"
	"github.com/jinjiang/residents/internal/testenv"
)

// TestNoPersonalDataInLogs drives every resident API, including failures,
// and scans the captured logs for the ID and phone numbers used.
func TestNoPersonalDataInLogs(t *testing.T) {
	fake := testenv.NewFakeWechat(t)
	e := testenv.New(t, testenv.WithWechat(fake))
	clerk := e.As(t, "clerk")
	id := newIDNumber(time.Date(1941, 7, 7, 0, 0, 0, 0, time.UTC), idnumber.Female)
	phone, contact := "13612345678", "13787654321"
	_, gid := register(t, e, clerk, map[string]any{"name": "日志检查", "idNumber": id, "phone": phone, "communityId": unitGID(t, e, "510104020001"),
		"emergencyContacts": []map[string]any{{"name": "亲属", "relation": "子女", "phone": contact}}})
	register(t, e, clerk, map[string]any{"name": "日志检查", "idNumber": id, "phone": phone, "communityId": unitGID(t, e, "510104020001")}) // DUPLICATE
	register(t, e, clerk, map[string]any{"name": "日志检查", "idNumber": id[:17] + "Z", "communityId": unitGID(t, e, "510104020001")})      // INVALID
	e.Do(t, clerk, `query($n:String!){ residentByIdNumber(idNumber:$n){ idNumber } }`, map[string]any{"n": id})
	e.Do(t, clerk, `query($n:String!){ residentByIdNumber(idNumber:$n){ idNumber } }`, map[string]any{"n": id[:17]})
	e.Do(t, clerk, updateDoc, map[string]any{"in": map[string]any{"id": gid, "phone": "138" + phone[3:], "version": 7}})
	e.Do(t, clerk, viewDoc, map[string]any{"id": gid})
	wx := e.WechatLogin(t, "ok:logscan")
	for i := 0; i < 7; i++ { // mismatches, then the throttle
		e.Do(t, wx, bindDoc, map[string]any{"in": map[string]any{"name": "日志检查", "idNumber": id, "phone": contact}})
	}
	e.Do(t, "", `mutation{ wechatLogin(input:{code:"err:40029"}){ userErrors{ code } } }`, nil)
	logs := e.Logs()
	if !strings.Contains(logs, "request") {
		t.Fatalf("no logs captured: %q", logs)
	}
	for _, secret := range []string{id, id[:17], phone, "138" + phone[3:], contact, testenv.SessionKeyPrefix} {
		if strings.Contains(logs, secret) {
			t.Fatalf("logs contain personal data or a session key (%s...)", secret[:3])
		}
	}
}

// TestReencryptMovesToPrimaryKey: rows written under an old key are
// re-encrypted under the new primary one and still decrypt and match.
func TestReencryptMovesToPrimaryKey(t *testing.T) {
	const oldKey = "old1:b2xkLWtleS1vbGQta2V5LW9sZC1rZXktb2xkLWtleTA="
	const newKey = "new2:bmV3LWtleS1uZXcta2V5LW5ldy1rZXktbmV3LWtleTA="
	e := testenv.New(t, testenv.OwnDatabase(t), testenv.WithConfig(func(c *config.Config) { c.PIIEncryptionKeys = oldKey }))
	clerk := e.As(t, "clerk")
	id := newIDNumber(time.Date(1939, 9, 9, 0, 0, 0, 0, time.UTC), idnumber.Male)
	register(t, e, clerk, map[string]any{"name": "轮换密钥", "idNumber": id, "phone": "13500001234", "communityId": unitGID(t, e, "510104020001"),
		"emergencyContacts": []map[string]any{{"name": "亲属", "relation": "配偶", "phone": "13500005678"}}})
	for i := 0; i < 3; i++ {
		e.InsertResident(t, testenv.ResidentSpec{Name: "轮换密钥", Phone: "13500009999", BirthDate: time.Date(1950, 1, 1+i, 0, 0, 0, 0, time.UTC)})
	}
	// A value in each other domain's encrypted column, under the old key.
	encOld := func(purpose string) string {
		v, err := e.App.Keyring.Encrypt("plain:"+purpose, purpose)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	purpose := map[string]string{}
	for _, c := range app.EncryptedColumns() {
		purpose[c.Table+"."+c.Name] = c.Purpose
	}
	var rid, uid string
	testenv.MustScan(t, e.DB, "SELECT id::text FROM residents WHERE name = '轮换密钥' LIMIT 1", nil, &rid)
	testenv.MustScan(t, e.DB, "SELECT id::text FROM users LIMIT 1", nil, &uid)
	callID := uuid.Must(uuid.NewV7()).String()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO care_profiles (resident_id, data_enc, updated_at, updated_by) VALUES (?, ?, now(), ?)`,
			[]any{rid, encOld(purpose["care_profiles.data_enc"]), uid}},
		{`INSERT INTO disability_certificates (id, resident_id, number_enc, number_bidx, number_masked, category, grade, issued_on, valid_until)
			VALUES (gen_random_uuid(), ?, ?, '\x00', '***', 'VISUAL', 2, '2020-01-01', '2030-01-01')`,
			[]any{rid, encOld(purpose["disability_certificates.number_enc"])}},
		{`INSERT INTO emergency_calls (id, external_call_id, kind, received_at, caller_number_enc) VALUES (?, 'rekey-test', 'VOICE_CALL', now(), ?)`,
			[]any{callID, encOld(purpose["emergency_calls.caller_number_enc"])}},
		{`INSERT INTO emergency_outbound_calls (id, call_id, target, number_enc, number_masked, requested_by, requested_at, next_attempt_at)
			VALUES (gen_random_uuid(), ?, 'RESIDENT', ?, '***', ?, now(), now())`,
			[]any{callID, encOld(purpose["emergency_outbound_calls.number_enc"]), uid}},
		{`INSERT INTO resident_imports (id, dry_run, file_name, file_sha256, file_bytes, format, scope_path, uploaded_by, uploaded_at, rows_total)
			VALUES (?, true, 'rekey.csv', sha256('x'), 1, 'CSV', '/', ?, now(), 1)`, []any{callID, uid}},
		{`INSERT INTO resident_import_rows (import_id, seq, row_no, name, name_terms, id_number_enc, id_number_bidx, id_number_masked,
			phone_enc, gender, birth_date, community_id) SELECT ?, 0, 2, '轮换密钥', '{}', ?, '\x00', '***', ?, 'MALE', '1950-01-01', community_id
			FROM residents WHERE id = ?`, []any{callID, encOld(purpose["resident_import_rows.id_number_enc"]), encOld(purpose["resident_import_rows.phone_enc"]), rid}},
	} {
		if err := e.DB.Exec(q.sql, q.args...).Error; err != nil {
			t.Fatal(err)
		}
	}

	cfg := e.Config
	dev, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	// The package database also holds other tests' rows under the dev key.
	cfg.PIIEncryptionKeys = newKey + "," + oldKey + "," + dev.PIIEncryptionKeys
	var a *app.App
	a, err = app.New(app.Deps{Config: cfg, DB: e.DB, Redis: e.Redis, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reencrypt(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Other tests of this package share the database and its dev key: move
	// everything back to it when done.
	t.Cleanup(func() {
		back := cfg
		back.PIIEncryptionKeys = dev.PIIEncryptionKeys + "," + newKey + "," + oldKey
		b, err := app.New(app.Deps{Config: back, DB: e.DB, Redis: e.Redis, Log: slog.New(slog.DiscardHandler)})
		if err == nil {
			_, err = b.Reencrypt(context.Background())
		}
		if err != nil {
			t.Errorf("re-encrypting back to the dev key: %v", err)
		}
	})
	// Every encrypted column of every domain, not only the registry's.
	for _, c := range app.EncryptedColumns() {
		var stale int
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM "+c.Table+" WHERE "+c.Name+" NOT LIKE 'v1:new2:%'", nil, &stale)
		var all int
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM "+c.Table+" WHERE "+c.Name+" IS NOT NULL", nil, &all)
		if all == 0 {
			t.Errorf("%s.%s has no value: the test does not exercise it", c.Table, c.Name)
		}
		if c.Table != "residents" && c.Table != "emergency_contacts" { // the others hold this test's one value
			var v string
			testenv.MustScan(t, e.DB, "SELECT "+c.Name+" FROM "+c.Table+" WHERE "+c.Name+" LIKE 'v1:new2:%' LIMIT 1", nil, &v)
			if got, err := a.Keyring.Decrypt(v, c.Purpose); err != nil || got != "plain:"+c.Purpose {
				t.Errorf("%s.%s after re-encryption: %q, %v", c.Table, c.Name, got, err)
			}
		}
		if stale != 0 {
			t.Errorf("%d values of %s.%s still under an old key", stale, c.Table, c.Name)
		}
	}
	var enc, cenc string
	testenv.MustScan(t, e.DB, "SELECT r.id_number_enc, c.phone_enc FROM residents r JOIN emergency_contacts c ON c.resident_id = r.id WHERE r.name = '轮换密钥'", nil, &enc, &cenc)
	if got, err := a.Keyring.Decrypt(enc, resident.PurposeIDNumber); err != nil || got != id {
		t.Fatalf("decrypt after re-encryption: %v", err)
	}
	if got, err := a.Keyring.Decrypt(cenc, resident.PurposeContactPhone); err != nil || got != "13500005678" {
		t.Fatalf("contact phone after re-encryption: %v", err)
	}
	// Running it again changes nothing.
	if n, err := a.Reencrypt(context.Background()); err != nil || n != 0 {
		t.Fatalf("second run: %d rows, %v", n, err)
	}
}

// TestEveryEncryptedColumnIsReencrypted: a column the schema names *_enc
// that no domain lists for re-encryption would stay under a retired key,
// unreadable once that key is removed.
func TestEveryEncryptedColumnIsReencrypted(t *testing.T) {
	e := testenv.New(t)
	listed := map[string]bool{}
	for _, c := range app.EncryptedColumns() {
		listed[c.Table+"."+c.Name] = true
	}
	rows, err := database.SQL(e.DB).Query(`SELECT c.table_name || '.' || c.column_name FROM information_schema.columns c
		JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.column_name LIKE '%\_enc' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var col string
		if err := rows.Scan(&col); err != nil {
			t.Fatal(err)
		}
		n++
		if !listed[col] {
			t.Errorf("%s is encrypted but no domain's EncryptedColumns lists it", col)
		}
		delete(listed, col)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 6 {
		t.Fatalf("found %d encrypted columns: the query is wrong", n)
	}
	for col := range listed {
		t.Errorf("%s is listed for re-encryption but the schema has no such column", col)
	}
}

// TestSeedResidents ensures N residents, idempotently, and measures it.
func TestSeedResidents(t *testing.T) {
	e := testenv.New(t, testenv.OwnDatabase(t))
	ctx := context.Background()
	var before int
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM residents", nil, &before)
	want := before + 5000
	start := time.Now()
	if err := e.App.Seed(ctx, want, true); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d residents in %v", want-before, time.Since(start))
	if err := e.App.Seed(ctx, want, true); err != nil {
		t.Fatal(err)
	}
	var n, communities, old, contacts int
	testenv.MustScan(t, e.DB, "SELECT count(*), count(DISTINCT community_id), count(*) FILTER (WHERE birth_date <= now() - interval '60 years') FROM residents", nil, &n, &communities, &old)
	testenv.MustScan(t, e.DB, "SELECT count(DISTINCT resident_id) FROM emergency_contacts", nil, &contacts)
	if n != want {
		t.Fatalf("%d residents, want %d", n, want)
	}
	if communities < 20 || old < n*80/100 || contacts < n/5 {
		t.Fatalf("poor mix: %d communities, %d over 60 of %d, %d with contacts", communities, old, n, contacts)
	}
	// Every generated number is valid, and the registry finds it by number.
	var enc string
	testenv.MustScan(t, e.DB, "SELECT id_number_enc FROM residents ORDER BY id DESC LIMIT 1", nil, &enc)
	num, err := e.App.Keyring.Decrypt(enc, resident.PurposeIDNumber)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idnumber.Parse(num, time.Now()); err != nil {
		t.Fatalf("seeded number invalid: %v", err)
	}
	r := e.MustDo(t, e.As(t, "clerk"), `query($n:String!){ residentByIdNumber(idNumber:$n){ name } }`, map[string]any{"n": num})
	if r.Str("residentByIdNumber.name") == "" {
		t.Fatalf("lookup: %s", r.Raw)
	}
}

// TestBulkLoadKeepsIndexes: the seed's bulk path takes off the secondary
// indexes and foreign keys of residents and emergency_contacts and builds
// them again from their own definitions, and fills the name-term index in
// a second transaction; a load or a fill that fails rolls both back.
func TestBulkLoadKeepsIndexes(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	defs := func() string {
		var s string
		testenv.MustScan(t, e.DB, `SELECT string_agg(d, E'\n' ORDER BY d) FROM (
			SELECT indexdef AS d FROM pg_indexes WHERE tablename IN ('residents', 'emergency_contacts', 'resident_name_terms')
			UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) || convalidated::text FROM pg_constraint
				WHERE conrelid IN ('residents'::regclass, 'emergency_contacts'::regclass, 'resident_name_terms'::regclass)
			UNION ALL SELECT tgname || tgenabled::text FROM pg_trigger WHERE tgrelid = 'residents'::regclass AND NOT tgisinternal) x`, nil, &s)
		return s
	}
	termsNow := func() string {
		var s string
		testenv.MustScan(t, e.DB, `SELECT count(*) || ' ' || coalesce(sum(hashtext(term || resident_id::text)), 0) FROM resident_name_terms`, nil, &s)
		return s
	}
	before, termsBefore := defs(), termsNow()
	for _, want := range []string{"resident_name_terms_pkey", "residents_statuses_idx", "emergency_contacts_resident_idx", "FOREIGN KEY (community_id)",
		"FOREIGN KEY (resident_id)", "residents_name_terms_insertO"} {
		if !strings.Contains(before, want) {
			t.Fatalf("the migrated definitions lack %q: %s", want, before)
		}
	}
	if strings.HasPrefix(termsBefore, "0 ") {
		t.Fatal("no name terms to keep: the test seeds none")
	}
	conn, err := database.SQL(e.DB).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	run := func(load func(pgx.Tx) error, terms func(context.Context, pgx.Tx) error) error {
		return conn.Raw(func(dc any) error {
			return resident.BulkLoad(ctx, database.SQL(e.DB), dc.(*stdlib.Conn).Conn(), load, terms)
		})
	}
	// The terms of the residents there, read into Go as a load makes them.
	terms := map[string][]uuid.UUID{}
	rows, err := database.SQL(e.DB).QueryContext(ctx, "SELECT t, id FROM residents, unnest(name_terms) AS t")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var term string
		var id uuid.UUID
		if err := rows.Scan(&term, &id); err != nil {
			t.Fatal(err)
		}
		terms[term] = append(terms[term], id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	failed := errors.New("load failed")
	if err := run(func(tx pgx.Tx) error {
		var indexes, keys int
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_indexes WHERE tablename = 'residents'),
			(SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid IN ('residents'::regclass, 'emergency_contacts'::regclass))`).
			Scan(&indexes, &keys); err != nil {
			return err
		}
		if indexes != 2 || keys != 0 { // the primary key and the unique ID-number index stay
			t.Errorf("%d indexes and %d foreign keys during the load, want 2 and 0", indexes, keys)
		}
		return failed
	}, resident.CopyTerms(terms)); !errors.Is(err, failed) {
		t.Fatalf("a failed load: %v", err)
	}
	if got := defs(); got != before {
		t.Fatalf("after a failed load:\n%s\nwant\n%s", got, before)
	}
	if err := run(func(pgx.Tx) error { return nil }, func(context.Context, pgx.Tx) error { return failed }); !errors.Is(err, failed) {
		t.Fatalf("a failed fill: %v", err)
	}
	if got, gotTerms := defs(), termsNow(); got != before || gotTerms != termsBefore {
		t.Fatalf("after a failed fill:\n%s\n%s\nwant\n%s\n%s", got, gotTerms, before, termsBefore)
	}
	if err := run(func(pgx.Tx) error { return nil }, resident.CopyTerms(terms)); err != nil {
		t.Fatal(err)
	}
	if got, gotTerms := defs(), termsNow(); got != before || gotTerms != termsBefore {
		t.Fatalf("after a load:\n%s\n%s\nwant\n%s\n%s", got, gotTerms, before, termsBefore)
	}
}
