package resident

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/lib/pq"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/idnumber"
	"github.com/jinjiang/residents/internal/pii"
	"github.com/jinjiang/residents/internal/seed"
)

// seedBatch is the number of residents copied per batch (COPY and one
// INSERT … SELECT).
const seedBatch = 10000

// SeedStep ensures opt.Residents synthetic residents exist, spread over
// every community and grid, with valid generated ID numbers, a realistic
// age mix (mostly 60-95), statuses, care levels and a few emergency
// contacts. It copies in batches (COPY), so 100000 residents take seconds.
func (s *Service) SeedStep() seed.Step {
	return func(ctx context.Context, db *gorm.DB, opt seed.Options) error {
		return s.seedResidents(ctx, db, opt.Residents)
	}
}

type place struct {
	community uuid.UUID
	grid      *uuid.UUID
	path      string
}

func seedPlaces(ctx context.Context, db *gorm.DB) ([]place, error) {
	var units []unitRef
	if err := db.WithContext(ctx).Table("org_units").Select("id, kind, path, parent_id").
		Where("kind IN ?", []string{"COMMUNITY", "GRID"}).Order("path").Find(&units).Error; err != nil {
		return nil, fmt.Errorf("resident: seed: %w", err)
	}
	var out []place
	for _, u := range units {
		switch {
		case u.Kind == "COMMUNITY":
			out = append(out, place{community: u.ID, path: u.Path})
		case u.ParentID != nil:
			id := u.ID
			out = append(out, place{community: *u.ParentID, grid: &id, path: u.Path})
		}
	}
	return out, nil
}

var (
	surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈")
	given    = []rune("秀英桂兰玉珍凤华淑芳建国明德文志伟平军成永福春梅金海红霞国强丽玉琴素贵荣光辉")
	regions  = []string{"510104", "510105", "510106", "510107", "510108", "510112", "510113", "510114", "510122", "510181"}
	relation = []string{"子女", "配偶", "兄弟姐妹", "邻居", "其他亲属"}
)

func (s *Service) seedResidents(ctx context.Context, db *gorm.DB, want int) error {
	var have int64
	if err := db.WithContext(ctx).Model(&residentRow{}).Count(&have).Error; err != nil {
		return fmt.Errorf("resident: seed: %w", err)
	}
	if int(have) >= want {
		return nil
	}
	places, err := seedPlaces(ctx, db)
	if err != nil || len(places) == 0 {
		return err
	}
	rng := rand.New(rand.NewPCG(uint64(have), 20260101))
	today := s.now()
	termsOf := map[string][]string{} // seeded names repeat: romanize each once
	// load adds n residents in tx, batch by batch, each written by write.
	// Making a batch (ID numbers, encryption, blind indexes, romanized
	// names) is Go's work and writing it Postgres's: the next batch is
	// made while the current one is written, so the two overlap on two
	// cores (a 10^6 seed spends about 14 s of CPU making rows). One batch
	// at most is being made, so rng and termsOf are used by one goroutine
	// at a time.
	load := func(tx pgx.Tx, n int, write func(context.Context, pgx.Tx, seedRows) (int, error)) error {
		made := make(chan seedRows, 1)
		making := false
		startMaking := func(n int) {
			making = true
			go func() { made <- s.seedRows(rng, places, today, n, termsOf) }()
		}
		defer func() {
			if making { // an error left a batch being made: let it finish before rng is used again
				<-made
			}
		}()
		for missing, tries := n, 0; missing > 0 && tries < 1000; tries++ {
			if !making {
				startMaking(min(missing, seedBatch))
			}
			b := <-made
			making = false
			if b.err != nil {
				return b.err
			}
			if rest := missing - len(b.residents); rest > 0 {
				startMaking(min(rest, seedBatch))
			}
			inserted, err := write(ctx, tx, b)
			if err != nil {
				return err
			}
			missing -= inserted
		}
		return nil
	}
	conn, err := database.SQL(db).Conn(ctx)
	if err != nil {
		return fmt.Errorf("resident: seed: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		if have == 0 && want >= bulkLoadFrom {
			w := newBulkRows(want)
			return bulkLoad(ctx, database.SQL(db), pc, func(tx pgx.Tx) error { return load(tx, want, w.write) }, w.copyTerms)
		}
		// Batch by batch, each committed: a seed added to a registry in
		// use never holds its tables for long.
		for missing := want - int(have); missing > 0; missing -= seedBatch {
			if err := pgx.BeginFunc(ctx, pc, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "CREATE TEMP TABLE seed_residents (LIKE residents INCLUDING DEFAULTS) ON COMMIT DROP"); err != nil {
					return err
				}
				return load(tx, min(missing, seedBatch), writeSeedRows)
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return database.Classify(fmt.Errorf("resident: seed: %w", err))
	}
	// A bulk load leaves the new rows without hint bits or a visibility map
	// and the tables without statistics, so the first readers pay for
	// both. Autovacuum would see to it within a minute or so, but a demo
	// server is used at once (and CI runs Postgres without autovacuum).
	// On a busy machine this outlasts the statement timeout meant for
	// requests (seen: a 10^6 seed under load average 25); VACUUM cannot run
	// in a transaction, so the session's timeout is lifted and restored.
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		if _, err := pc.Exec(ctx, "SET statement_timeout = 0"); err != nil {
			return err
		}
		defer pc.Exec(context.WithoutCancel(ctx), "RESET statement_timeout") //nolint:errcheck // best effort; the pool drops a broken conn
		_, err := pc.Exec(ctx, "VACUUM (ANALYZE) residents, emergency_contacts, resident_name_terms")
		return err
	})
	if err != nil {
		return fmt.Errorf("resident: seed: vacuum: %w", database.Classify(err))
	}
	return nil
}

// seedRows is a batch of residents to insert and the emergency contacts
// of about a third of them.
type seedRows struct {
	residents, contacts [][]any
	err                 error
}

// seedRowColumns are the columns of seedRows.residents.
var seedRowColumns = []string{"id", "name", "name_terms", "id_number_enc", "id_number_bidx", "id_number_masked", "phone_enc",
	"phone_bidx", "phone_masked", "gender", "birth_date", "community_id", "grid_id", "org_path", "statuses", "care_level"}

// Where bulkRows.write finds a row's search terms and ID number's blind
// index.
var seedTermsColumn, seedBidxColumn = slices.Index(seedRowColumns, "name_terms"), slices.Index(seedRowColumns, "id_number_bidx")

// seedRows makes n residents with valid generated ID numbers (which may
// collide with residents already there: writeSeedRows and bulkRows.write
// skip those) and their contacts.
func (s *Service) seedRows(rng *rand.Rand, places []place, today time.Time, n int, termsOf map[string][]string) seedRows {
	rows := make([][]any, 0, n)
	ids := make([]uuid.UUID, 0, n)
	for i := 0; i < n; i++ {
		p := places[rng.IntN(len(places))]
		birth := seedBirth(rng, today)
		g := idnumber.Male
		if rng.IntN(100) < 55 {
			g = idnumber.Female
		}
		num := idnumber.Generate(regions[rng.IntN(len(regions))], birth, rng.IntN(1000), g)
		idEnc, err := s.keys.Encrypt(num, PurposeIDNumber)
		if err != nil {
			return seedRows{err: err}
		}
		var phoneEnc, phoneMasked *string
		var phoneIdx []byte
		if rng.IntN(100) < 85 {
			ph := fmt.Sprintf("1%d%09d", 3+rng.IntN(7), rng.IntN(1_000_000_000))
			enc, err := s.keys.Encrypt(ph, PurposePhone)
			if err != nil {
				return seedRows{err: err}
			}
			m := pii.MaskPhone(ph)
			phoneEnc, phoneMasked, phoneIdx = &enc, &m, s.keys.BlindIndex(PurposePhone, ph)
		}
		gender := Male
		if g == idnumber.Female {
			gender = Female
		}
		grid := pgtype.UUID{}
		if p.grid != nil {
			grid = pgtype.UUID{Bytes: *p.grid, Valid: true}
		}
		age := today.Year() - birth.Year()
		name := seedName(rng)
		terms, ok := termsOf[name]
		if !ok {
			terms = SearchTerms(name)
			termsOf[name] = terms
		}
		id := uuid.Must(uuid.NewV7())
		ids = append(ids, id)
		rows = append(rows, []any{pgtype.UUID{Bytes: id, Valid: true}, name, terms, idEnc,
			s.keys.BlindIndex(PurposeIDNumber, num), pii.MaskIDNumber(num), phoneEnc, phoneIdx, phoneMasked, string(gender),
			birth, pgtype.UUID{Bytes: p.community, Valid: true}, grid, p.path, []string(seedStatuses(rng, age)),
			string(seedCare(rng, age))})
	}
	contacts, err := s.seedContacts(rng, ids)
	return seedRows{residents: rows, contacts: contacts, err: err}
}

// writeSeedRows inserts b in tx, skipping residents whose ID number is
// registered already (and their contacts), and returns how many it
// inserted. Rows go through COPY into a temporary table and one INSERT …
// SELECT … ON CONFLICT DO NOTHING: the bulk path is pgx's, since per-row
// or many-parameter statements made 100000 residents take minutes on a
// busy machine.
func writeSeedRows(ctx context.Context, tx pgx.Tx, b seedRows) (int, error) {
	list := strings.Join(seedRowColumns, ", ")
	if _, err := tx.Exec(ctx, "TRUNCATE seed_residents"); err != nil {
		return 0, err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"seed_residents"}, seedRowColumns, pgx.CopyFromRows(b.residents)); err != nil {
		return 0, err
	}
	res, err := tx.Query(ctx, "INSERT INTO residents ("+list+") SELECT "+list+" FROM seed_residents ON CONFLICT (id_number_bidx) DO NOTHING RETURNING id")
	if err != nil {
		return 0, err
	}
	ids, err := pgx.CollectRows(res, pgx.RowTo[uuid.UUID])
	if err != nil {
		return 0, err
	}
	contacts := b.contacts
	if len(ids) < len(b.residents) {
		in := make(map[uuid.UUID]bool, len(ids))
		for _, id := range ids {
			in[id] = true
		}
		contacts = keepContacts(contacts, func(r uuid.UUID) bool { return in[r] })
	}
	return len(ids), copyContacts(ctx, tx, contacts)
}

// keepContacts is the contacts whose resident is kept.
func keepContacts(contacts [][]any, kept func(resident uuid.UUID) bool) [][]any {
	return slices.DeleteFunc(slices.Clone(contacts), func(c []any) bool { return !kept(c[1].(pgtype.UUID).Bytes) })
}

func copyContacts(ctx context.Context, tx pgx.Tx, contacts [][]any) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"emergency_contacts"},
		[]string{"id", "resident_id", "name", "relation", "phone_enc", "phone_masked", "priority"}, pgx.CopyFromRows(contacts))
	return err
}

// bulkRows writes the batches of a bulk load (bulkLoad: an empty registry,
// one transaction) straight into residents with COPY, which inserts in
// multi-row batches where INSERT … SELECT goes row by row. The load's own
// ON CONFLICT is done here instead: seen holds the blind index of every
// ID number written, and a generated number written already is skipped
// with its contacts. terms gathers each search term's residents, in the
// order they were made, for copyTerms.
type bulkRows struct {
	seen  map[string]struct{}
	terms map[string][]uuid.UUID
}

func newBulkRows(n int) *bulkRows {
	return &bulkRows{seen: make(map[string]struct{}, n), terms: map[string][]uuid.UUID{}}
}

func (w *bulkRows) write(ctx context.Context, tx pgx.Tx, b seedRows) (int, error) {
	rows := make([][]any, 0, len(b.residents))
	skipped := map[uuid.UUID]bool{} // seldom any
	for _, r := range b.residents {
		id := r[0].(pgtype.UUID).Bytes
		bidx := string(r[seedBidxColumn].([]byte))
		if _, dup := w.seen[bidx]; dup {
			skipped[id] = true
			continue
		}
		w.seen[bidx] = struct{}{}
		for _, t := range r[seedTermsColumn].([]string) {
			w.terms[t] = append(w.terms[t], id)
		}
		rows = append(rows, r)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"residents"}, seedRowColumns, pgx.CopyFromRows(rows)); err != nil {
		return 0, err
	}
	contacts := b.contacts
	if len(skipped) > 0 {
		contacts = keepContacts(contacts, func(r uuid.UUID) bool { return !skipped[r] })
	}
	return len(rows), copyContacts(ctx, tx, contacts)
}

// copyTerms fills the emptied resident_name_terms (before its primary key
// is added again) in the key's order: terms in byte order (the column's
// collation is C) and each term's residents in id order. Built over rows
// already in order, the key's sort is one pass that finds them sorted;
// from INSERT … SELECT unnest(name_terms) it was a sort of 11 million rows
// with 9,000 distinct terms, most of its 27 s. The COPY is FREEZE (the
// table was truncated in this transaction), so its rows need no VACUUM to
// be visible to all, and in COPY's binary format, written here: pgx's rows
// of values cost more to encode, and text more for Postgres to parse.
func (w *bulkRows) copyTerms(ctx context.Context, tx pgx.Tx) error {
	pr, pw := io.Pipe()
	defer pr.Close() // a failed COPY stops the writer
	go func() { pw.CloseWithError(w.writeTerms(pw)) }()
	_, err := tx.Conn().PgConn().CopyFrom(ctx, pr, "COPY resident_name_terms (term, resident_id) FROM STDIN WITH (FORMAT binary, FREEZE)")
	return err
}

// writeTerms writes every (term, resident) of w to out in COPY's binary
// format, in the primary key's order.
func (w *bulkRows) writeTerms(out io.Writer) error {
	b := bufio.NewWriterSize(out, 1<<16)
	b.WriteString("PGCOPY\n\xff\r\n\x00")
	b.Write(make([]byte, 8)) // no flags, no header extension
	byID := func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }
	var row []byte
	for _, t := range slices.Sorted(maps.Keys(w.terms)) {
		ids := w.terms[t]
		if !slices.IsSortedFunc(ids, byID) { // UUIDv7s made in one process increase; a guard
			slices.SortFunc(ids, byID)
		}
		for _, id := range ids {
			row = binary.BigEndian.AppendUint16(row[:0], 2)
			row = binary.BigEndian.AppendUint32(row, uint32(len(t)))
			row = append(row, t...)
			row = binary.BigEndian.AppendUint32(row, 16)
			row = append(row, id[:]...)
			if _, err := b.Write(row); err != nil {
				return err
			}
		}
	}
	b.Write([]byte{0xff, 0xff}) // the trailer
	return b.Flush()
}

func (s *Service) seedContacts(rng *rand.Rand, ids []uuid.UUID) ([][]any, error) {
	var rows [][]any
	for _, id := range ids {
		if rng.IntN(3) != 0 {
			continue
		}
		for k := 1; k <= 1+rng.IntN(2); k++ {
			ph := fmt.Sprintf("1%d%09d", 3+rng.IntN(7), rng.IntN(1_000_000_000))
			enc, err := s.keys.Encrypt(ph, PurposeContactPhone)
			if err != nil {
				return nil, err
			}
			rows = append(rows, []any{pgtype.UUID{Bytes: uuid.Must(uuid.NewV7()), Valid: true}, pgtype.UUID{Bytes: id, Valid: true},
				seedName(rng), relation[rng.IntN(len(relation))], enc, pii.MaskPhone(ph), int32(k)})
		}
	}
	return rows, nil
}

// seedBirth: 85% aged 60-95 (more in their 60s and 70s), the rest 30-59 or 96-100.
func seedBirth(rng *rand.Rand, today time.Time) time.Time {
	var age int
	switch r := rng.IntN(100); {
	case r < 85:
		age = 60 + min(rng.IntN(36), rng.IntN(36)+rng.IntN(12))
	case r < 95:
		age = 30 + rng.IntN(30)
	default:
		age = 96 + rng.IntN(5)
	}
	birth := today.AddDate(-age, 0, -rng.IntN(365))
	return time.Date(birth.Year(), birth.Month(), birth.Day(), 0, 0, 0, 0, time.UTC)
}

func seedName(rng *rand.Rand) string {
	name := string(surnames[rng.IntN(len(surnames))]) + string(given[rng.IntN(len(given))])
	if rng.IntN(4) != 0 {
		name += string(given[rng.IntN(len(given))])
	}
	return name
}

func seedStatuses(rng *rand.Rand, age int) pq.StringArray {
	st := pq.StringArray{}
	chance := []struct {
		s   Status
		pct int
	}{{LowIncome, 6}, {ExtremePoverty, 2}, {LivingAlone, 12}, {EmptyNest, 25}, {BereavedParent, 2}}
	for _, c := range chance {
		if age >= 60 && rng.IntN(100) < c.pct {
			st = append(st, string(c.s))
		}
	}
	return st
}

func seedCare(rng *rand.Rand, age int) CareLevel {
	r := rng.IntN(100)
	if age >= 80 {
		r -= 25
	}
	switch {
	case r >= 30:
		return Intact
	case r >= 10:
		return Mild
	case r >= 0:
		return Moderate
	case r >= -15:
		return Severe
	}
	return Total
}

// bulkLoadFrom is the seed size from which an empty registry is loaded in
// one transaction with its secondary indexes dropped and built again at
// the end: kept up row by row, the name search terms, the statuses' GIN
// index and the btrees made a million residents take 105 s; built once
// over the loaded table they cost a fraction of that.
const bulkLoadFrom = 50000

// bulkLoad runs load in one transaction on pc between taking off what is
// kept up row by row, and is cheaper made once over the loaded rows, and
// putting it back from its own definitions: the secondary indexes of
// residents and emergency_contacts (neither unique nor primary), their
// foreign keys (checked row by row, two or three queries a resident; added
// again, one join each) and the name-term index (its trigger would make it
// 11 million single-row inserts). DDL is transactional: a load that fails
// or is killed rolls back to the empty tables with everything in place.
//
// The name-term index is emptied and filled by terms (with its primary
// key added again) in a second transaction, on a connection of db, while
// the first builds the residents' indexes: the two take about as long,
// one core each. The second commits just before the first: killed
// between the two, it leaves terms of residents that do not exist, which
// match nothing (search joins residents) and the next bulk load empties.
func bulkLoad(ctx context.Context, db *sql.DB, pc *pgx.Conn, load func(pgx.Tx) error, terms func(context.Context, pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, pc, func(tx pgx.Tx) error {
		off, err := takeOff(ctx, tx)
		if err != nil {
			return err
		}
		if err := load(tx); err != nil {
			return err
		}
		fill := func(ttx pgx.Tx) error {
			if err := fillTerms(ctx, ttx, terms); err != nil {
				return fmt.Errorf("name terms: %w", err)
			}
			return nil
		}
		return alongside(ctx, db, fill, func() error {
			if err := execAll(ctx, tx, bulkBuild...); err != nil {
				return err
			}
			for _, t := range off {
				if _, err := tx.Exec(ctx, t.restore); err != nil {
					return fmt.Errorf("%s: %w", t.restore, err)
				}
			}
			return execAll(ctx, tx, "ALTER TABLE residents ENABLE TRIGGER residents_name_terms_insert")
		})
	})
}

// takenOff is a secondary index or foreign key a bulk load took off, with
// the statement that puts it back.
type takenOff struct{ drop, restore string }

// takeOff drops, in tx, the secondary indexes of residents and
// emergency_contacts (neither unique nor primary) and their foreign keys,
// and disables the residents' name-term trigger; it answers what to put
// back.
func takeOff(ctx context.Context, tx pgx.Tx) ([]takenOff, error) {
	rows, err := tx.Query(ctx, `SELECT 'DROP INDEX ' || quote_ident(c.relname), pg_get_indexdef(c.oid)
		FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
		WHERE x.indrelid IN ('residents'::regclass, 'emergency_contacts'::regclass) AND NOT x.indisunique AND NOT x.indisprimary
		UNION ALL
		SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),
			format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
		FROM pg_constraint WHERE contype = 'f' AND conrelid IN ('residents'::regclass, 'emergency_contacts'::regclass)
		ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	off, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (takenOff, error) {
		var t takenOff
		return t, r.Scan(&t.drop, &t.restore)
	})
	if err != nil {
		return nil, err
	}
	for _, t := range off {
		if _, err := tx.Exec(ctx, t.drop); err != nil {
			return nil, err
		}
	}
	return off, execAll(ctx, tx, "ALTER TABLE residents DISABLE TRIGGER residents_name_terms_insert")
}

// alongside runs fill in a transaction on a second connection of db while
// work runs on this one, and commits fill's transaction only when both
// succeeded (the caller's commits after it).
func alongside(ctx context.Context, db *sql.DB, fill func(pgx.Tx) error, work func() error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		ttx, err := dc.(*stdlib.Conn).Conn().Begin(ctx)
		if err != nil {
			return err
		}
		defer ttx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after a commit, a no-op
		filled := make(chan error, 1)
		go func() { filled <- fill(ttx) }()
		err = work()
		if ferr := <-filled; err == nil {
			err = ferr
		}
		if err != nil {
			return err
		}
		return ttx.Commit(ctx)
	})
}

// bulkBuild are the settings of a bulk load's index builds: building an
// index over a million rows outlasts the statement timeout meant for
// requests.
var bulkBuild = []string{"SET LOCAL maintenance_work_mem = '1GB'", "SET LOCAL statement_timeout = 0"}

// fillTerms empties resident_name_terms, fills it with terms and adds its
// primary key again, in tx. The key is built by one process: over rows
// in its order, parallel workers would each sort a part (measured: 8.6 s
// with two, 7.5 s with none), and the residents' indexes are being built
// on the other core.
func fillTerms(ctx context.Context, tx pgx.Tx, terms func(context.Context, pgx.Tx) error) error {
	if err := execAll(ctx, tx, slices.Concat(bulkBuild, []string{"SET LOCAL max_parallel_maintenance_workers = 0",
		"TRUNCATE resident_name_terms", "ALTER TABLE resident_name_terms DROP CONSTRAINT resident_name_terms_pkey"})...); err != nil {
		return err
	}
	if err := terms(ctx, tx); err != nil {
		return err
	}
	return execAll(ctx, tx, "ALTER TABLE resident_name_terms ADD PRIMARY KEY (term, resident_id)")
}

func execAll(ctx context.Context, tx pgx.Tx, statements ...string) error {
	for _, st := range statements {
		if _, err := tx.Exec(ctx, st); err != nil {
			return err
		}
	}
	return nil
}
