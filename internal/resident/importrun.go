package resident

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/lib/pq"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/run"
)

// outcome is what applying a row does.
type outcome int

const (
	outcomeFailed outcome = iota
	outcomeInsert
	outcomeUpdate
	outcomeUnchanged
)

// staged is what classify needs of a checked row (from the file in a dry
// run, from resident_import_rows in the run).
type staged struct {
	Seq          int
	RowNo        int
	Name         string
	IDNumberBidx []byte
	PhoneBidx    []byte
	Address      *string
	CommunityID  uuid.UUID
	GridID       *uuid.UUID
	// Path is the place's path; the run fills it from org_units as they
	// are when the row is applied.
	Path      string         `gorm:"-"`
	Statuses  pq.StringArray `gorm:"type:text[]"`
	CareLevel *string
}

func stagedOf(c *candidate) *staged {
	st := &staged{RowNo: c.row, Name: c.res.Name, IDNumberBidx: c.res.IDNumberBidx, CommunityID: c.res.CommunityID,
		GridID: c.res.GridID, Path: c.res.OrgPath, Statuses: c.statuses, CareLevel: c.careLevel}
	if c.phoneGiven {
		st.PhoneBidx = c.res.PhoneBidx
	}
	if c.addressGiven {
		st.Address = c.res.Address
	}
	return st
}

// existing is what classify needs of a registered resident.
type existing struct {
	ID           uuid.UUID
	Name         string
	IDNumberBidx []byte
	PhoneBidx    []byte
	Address      *string
	CommunityID  uuid.UUID
	GridID       *uuid.UUID
	OrgPath      string
	Statuses     pq.StringArray `gorm:"type:text[]"`
	CareLevel    string
	DeceasedOn   *civil.Date
	MovedOutOn   *civil.Date
}

// existingByIndex finds registered residents by ID-number blind index,
// locked (FOR UPDATE) when lock is set, keyed by the index.
func existingByIndex(ctx context.Context, db *gorm.DB, bidx [][]byte, lock bool) (map[string]*existing, error) {
	out := map[string]*existing{}
	if len(bidx) == 0 {
		return out, nil
	}
	q := `SELECT id, name, id_number_bidx, phone_bidx, address, community_id, grid_id, org_path, statuses, care_level, deceased_on, moved_out_on
		FROM residents WHERE id_number_bidx = ANY(?::bytea[])`
	if lock {
		q += " ORDER BY id FOR UPDATE"
	}
	var rows []existing
	if err := db.WithContext(ctx).Raw(q, pgArray(bidx)).Scan(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("resident: import existing: %w", err))
	}
	for i := range rows {
		out[string(rows[i].IDNumberBidx)] = &rows[i]
	}
	return out, nil
}

// plan is what applying one row does, and what it has to say.
type plan struct {
	outcome  outcome
	gridID   *uuid.UUID
	path     string
	problems []RowProblem
}

// classify decides one checked row against the registry: a new resident
// is inserted with the row's initial facts; a registered one is updated
// (phone, address, place: an empty cell keeps the stored value) or left
// unchanged, never its statuses, care level or death (those are checked
// changes: a differing value is a FACT_CHANGE_NEEDS_REVIEW notice). A
// registered resident outside the uploader's jurisdiction, under another
// name, deceased or moved away is an error: the row is not applied.
func classify(l layout, c *staged, ex *existing, sc policy.Scope) plan {
	p := plan{gridID: c.GridID, path: c.Path}
	flag := func(col string, code ImportCode, msg string) {
		p.problems = append(p.problems, rowProblem(c.RowNo, l[col], code, msg))
	}
	if !sc.Covers(uuid.Nil, c.Path) {
		flag(ColCommunity, ImportOutOfScope, "the community is outside your jurisdiction")
		return p
	}
	if ex == nil {
		p.outcome = outcomeInsert
		return p
	}
	switch {
	case !sc.Covers(ex.ID, ex.OrgPath):
		flag(ColIDNumber, ImportOutOfScope, "the resident with this ID number is registered outside your jurisdiction")
		return p
	case ex.DeceasedOn != nil || ex.MovedOutOn != nil:
		flag(ColIDNumber, ImportInactive, "the resident with this ID number is recorded as deceased or moved out")
		return p
	case ex.Name != c.Name:
		flag(ColName, ImportNameMismatch, "the name differs from the registered resident's with this ID number")
		return p
	}
	if c.GridID == nil && c.CommunityID == ex.CommunityID {
		// No grid given in the resident's own community: theirs stays.
		p.gridID, p.path = ex.GridID, ex.OrgPath
	}
	changed := (c.PhoneBidx != nil && !bytes.Equal(c.PhoneBidx, ex.PhoneBidx)) ||
		(c.Address != nil && (ex.Address == nil || *c.Address != *ex.Address)) ||
		c.CommunityID != ex.CommunityID || !sameID(p.gridID, ex.GridID) || p.path != ex.OrgPath
	if c.Statuses != nil && !sameSet(c.Statuses, ex.Statuses) {
		flag(ColStatuses, ImportFactChange, "the statuses differ from the registry's; an import does not change them, submit a checked change")
	}
	if c.CareLevel != nil && *c.CareLevel != ex.CareLevel {
		flag(ColCareLevel, ImportFactChange, "the care level differs from the registry's; an import does not change it, submit a checked change")
	}
	p.outcome = outcomeUnchanged
	if changed {
		p.outcome = outcomeUpdate
	}
	return p
}

func sameID(a, b *uuid.UUID) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

// pgArray is xs as one Postgres array parameter: GORM would expand a
// plain slice into one parameter per element.
func pgArray[T any](xs []T) pgtype.Array[T] {
	return pgtype.Array[T]{Elements: xs, Dims: []pgtype.ArrayDimension{{Length: int32(len(xs)), LowerBound: 1}}, Valid: true}
}

func pgUUID(id *uuid.UUID) pgtype.UUID {
	if id == nil {
		return pgtype.UUID{}
	}
	return pgtype.UUID{Bytes: *id, Valid: true}
}

// stageRows stores the good rows for the run, 5,000 per statement. A
// name's terms travel joined by termSep (unnest cannot take an array of
// arrays of different lengths).
func stageRows(ctx context.Context, tx *gorm.DB, importID uuid.UUID, good []*candidate) error {
	for start := 0; start < len(good); start += 5000 {
		chunk := good[start:min(start+5000, len(good))]
		n := len(chunk)
		seq, rowNo := make([]int32, n), make([]int32, n)
		name, terms, enc, masked, gender, birth := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		bidx, pbidx := make([][]byte, n), make([][]byte, n)
		penc, pmasked, addr, statuses, care := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
		comm, grid := make([]pgtype.UUID, n), make([]pgtype.UUID, n)
		for i, c := range chunk {
			r := &c.res
			seq[i], rowNo[i] = int32(start+i), int32(c.row)
			name[i], terms[i], enc[i], masked[i], gender[i], birth[i] = r.Name, strings.Join(r.NameTerms, termSep), r.IDNumberEnc, r.IDNumberMasked, r.Gender, r.BirthDate.String()
			bidx[i] = r.IDNumberBidx
			if c.phoneGiven {
				penc[i], pbidx[i], pmasked[i] = r.PhoneEnc, r.PhoneBidx, r.PhoneMasked
			}
			if c.addressGiven {
				addr[i] = r.Address
			}
			if c.statuses != nil {
				j := strings.Join(c.statuses, ",")
				statuses[i] = &j
			}
			care[i] = c.careLevel
			comm[i], grid[i] = pgUUID(&r.CommunityID), pgUUID(r.GridID)
		}
		err := tx.WithContext(ctx).Exec(`INSERT INTO resident_import_rows (import_id, seq, row_no, name, name_terms, id_number_enc, id_number_bidx,
				id_number_masked, phone_enc, phone_bidx, phone_masked, gender, birth_date, address, community_id, grid_id, statuses, care_level)
			SELECT ?, u.seq, u.row_no, u.name, string_to_array(u.terms, E'\x1f'), u.enc, u.bidx, u.masked, u.penc, u.pbidx, u.pmasked,
				u.gender, u.birth::date, u.addr, u.comm, u.grid, string_to_array(u.statuses, ','), u.care
			FROM unnest(?::int[], ?::int[], ?::text[], ?::text[], ?::text[], ?::bytea[], ?::text[], ?::text[], ?::bytea[], ?::text[],
				?::text[], ?::text[], ?::text[], ?::uuid[], ?::uuid[], ?::text[], ?::text[])
				AS u(seq, row_no, name, terms, enc, bidx, masked, penc, pbidx, pmasked, gender, birth, addr, comm, grid, statuses, care)`,
			importID, pgArray(seq), pgArray(rowNo), pgArray(name), pgArray(terms), pgArray(enc), pgArray(bidx), pgArray(masked),
			pgArray(penc), pgArray(pbidx), pgArray(pmasked), pgArray(gender), pgArray(birth), pgArray(addr), pgArray(comm), pgArray(grid),
			pgArray(statuses), pgArray(care)).Error
		if err != nil {
			return fmt.Errorf("stage rows: %w", err)
		}
	}
	return nil
}

type problemRow struct {
	ID         uuid.UUID
	ImportID   uuid.UUID
	RowNo      int
	ColumnName string
	Cell       string
	Code       string
	Severity   string
	Message    string
}

func (problemRow) TableName() string { return "resident_import_problems" }

func (r problemRow) problem() RowProblem {
	return RowProblem{Row: r.RowNo, Column: r.ColumnName, Cell: r.Cell, Code: ImportCode(r.Code), Severity: Severity(r.Severity), Message: r.Message}
}

// insertProblems stores problems in their order (their UUIDv7 ids keep it).
func insertProblems(ctx context.Context, tx *gorm.DB, importID uuid.UUID, ps []RowProblem) error {
	for start := 0; start < len(ps); start += 10000 {
		chunk := ps[start:min(start+10000, len(ps))]
		n := len(chunk)
		ids := make([]pgtype.UUID, n)
		rowNo := make([]int32, n)
		col, cell, code, sev, msg := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i, p := range chunk {
			id := uuid.Must(uuid.NewV7())
			ids[i], rowNo[i] = pgUUID(&id), int32(p.Row)
			col[i], cell[i], code[i], sev[i], msg[i] = p.Column, p.Cell, string(p.Code), string(p.Severity), p.Message
		}
		err := tx.WithContext(ctx).Exec(`INSERT INTO resident_import_problems (id, import_id, row_no, column_name, cell, code, severity, message)
			SELECT u.id, ?, u.row_no, u.col, u.cell, u.code, u.sev, u.msg
			FROM unnest(?::uuid[], ?::int[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[]) AS u(id, row_no, col, cell, code, sev, msg)`,
			importID, pgArray(ids), pgArray(rowNo), pgArray(col), pgArray(cell), pgArray(code), pgArray(sev), pgArray(msg)).Error
		if err != nil {
			return fmt.Errorf("import problems: %w", err)
		}
	}
	return nil
}

// importer is the handler of import runs: each chunk applies the next
// staged rows, each row all or nothing (a row that fails is reported and
// skipped; the chunk's good rows are applied in the same transaction that
// moves the run's progress, so an interrupted run resumes after its last
// committed chunk and never applies a row twice).
type importer struct {
	s     *Service
	chunk int
}

func (h importer) Step(ctx context.Context, tx *gorm.DB, r *run.Run) (bool, error) {
	var p importParams
	if err := json.Unmarshal(r.Params, &p); err != nil {
		return false, fmt.Errorf("resident: import params: %w", err)
	}
	if !r.Planned() {
		total := int64(p.Staged)
		r.Total = &total
		return total == 0, nil
	}
	ctx = asStarter(ctx, r)
	var rows []staged
	if err := tx.WithContext(ctx).Raw(`SELECT seq, row_no, name, id_number_bidx, phone_bidx, address, community_id, grid_id, statuses, care_level
		FROM resident_import_rows WHERE import_id = ? AND seq >= ? AND seq < ? ORDER BY seq`,
		r.SubjectID, r.Done, r.Done+int64(h.chunk)).Scan(&rows).Error; err != nil {
		return false, database.Classify(fmt.Errorf("resident: import chunk: %w", err))
	}
	sc := policy.Scope{Reach: policy.District}
	if r.ScopePath != "" {
		sc = policy.Scope{Reach: policy.Subtree, Path: r.ScopePath}
	}
	l := layoutFromLetters(p.Columns)
	res, err := h.apply(ctx, tx, r.SubjectID, l, sc, rows)
	if err != nil {
		return false, err
	}
	r.Done += int64(len(rows))
	r.Count += int64(res.Inserted + res.Updated)
	r.Skipped += int64(res.Unchanged)
	return r.Done >= r.TotalOrZero(), nil
}

// asStarter is ctx as the uploader, in the upload's request: the
// residents' audit entries name who imported them.
func asStarter(ctx context.Context, r *run.Run) context.Context {
	if r.StartedBy != nil {
		ctx = auth.WithViewer(ctx, &auth.Viewer{Kind: auth.SubjectKind(r.StartedByKind), ID: *r.StartedBy})
	}
	return auth.WithRequestID(ctx, r.RequestID)
}

// apply classifies and writes one chunk of staged rows.
func (h importer) apply(ctx context.Context, tx *gorm.DB, importID uuid.UUID, l layout, sc policy.Scope, rows []staged) (*importRow, error) {
	bidx := make([][]byte, len(rows))
	var unitIDs []uuid.UUID
	for i := range rows {
		bidx[i] = rows[i].IDNumberBidx
		unitIDs = append(unitIDs, rows[i].CommunityID)
		if rows[i].GridID != nil {
			unitIDs = append(unitIDs, *rows[i].GridID)
		}
	}
	ex, err := existingByIndex(ctx, tx, bidx, true)
	if err != nil {
		return nil, err
	}
	var units []importUnit
	// Held until the chunk commits (as lockPlace holds a registration's):
	// a unit retired or moved meanwhile has committed, and one retired
	// after this counts the chunk's residents.
	if err := tx.WithContext(ctx).Raw("SELECT id, kind, code, name, path, parent_id, retired_at FROM org_units WHERE id = ANY(?) ORDER BY path FOR SHARE", database.UUIDs(unitIDs)).
		Scan(&units).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("resident: import units: %w", err))
	}
	byID := map[uuid.UUID]*importUnit{}
	for i := range units {
		byID[units[i].ID] = &units[i]
	}
	var (
		counts            importRow
		probs             []RowProblem
		insSeq, updSeq    []int32
		insID, updID      []pgtype.UUID
		insPath, updPath  []string
		updGrid           []pgtype.UUID
		inserted, updated []uuid.UUID
	)
	for i := range rows {
		c := &rows[i]
		// The place as the org tree has it now (it may have moved since
		// the upload; a unit removed since fails the row).
		comm := byID[c.CommunityID]
		if comm == nil || comm.Kind != "COMMUNITY" {
			probs = append(probs, rowProblem(c.RowNo, l[ColCommunity], ImportUnknownCommunity, "the community no longer exists"))
			counts.Failed++
			continue
		}
		if comm.RetiredAt != nil {
			probs = append(probs, rowProblem(c.RowNo, l[ColCommunity], ImportUnknownCommunity, "the community has been retired"))
			counts.Failed++
			continue
		}
		c.Path = comm.Path
		if c.GridID != nil {
			g := byID[*c.GridID]
			if g == nil || g.Kind != "GRID" || g.ParentID == nil || *g.ParentID != comm.ID {
				probs = append(probs, rowProblem(c.RowNo, l[ColGrid], ImportUnknownGrid, "the grid no longer exists"))
				counts.Failed++
				continue
			}
			if g.RetiredAt != nil {
				probs = append(probs, rowProblem(c.RowNo, l[ColGrid], ImportUnknownGrid, "the grid has been retired"))
				counts.Failed++
				continue
			}
			c.Path = g.Path
		}
		pl := classify(l, c, ex[string(c.IDNumberBidx)], sc)
		probs = append(probs, pl.problems...)
		counts.count(pl.outcome)
		switch pl.outcome {
		case outcomeInsert:
			id := uuid.Must(uuid.NewV7())
			inserted = append(inserted, id)
			insSeq, insID, insPath = append(insSeq, int32(c.Seq)), append(insID, pgUUID(&id)), append(insPath, pl.path)
		case outcomeUpdate:
			id := ex[string(c.IDNumberBidx)].ID
			updated = append(updated, id)
			updSeq, updID, updPath, updGrid = append(updSeq, int32(c.Seq)), append(updID, pgUUID(&id)), append(updPath, pl.path), append(updGrid, pgUUID(pl.gridID))
		}
	}
	now := h.s.now()
	if len(insSeq) > 0 {
		err := tx.WithContext(ctx).Exec(`INSERT INTO residents (id, name, name_terms, id_number_enc, id_number_bidx, id_number_masked,
				phone_enc, phone_bidx, phone_masked, gender, birth_date, address, community_id, grid_id, org_path, statuses, care_level,
				version, created_at, updated_at)
			SELECT n.id, s.name, s.name_terms, s.id_number_enc, s.id_number_bidx, s.id_number_masked, s.phone_enc, s.phone_bidx, s.phone_masked,
				s.gender, s.birth_date, s.address, s.community_id, s.grid_id, n.path, COALESCE(s.statuses, '{}'), COALESCE(s.care_level, 'INTACT'),
				1, ?, ?
			FROM unnest(?::int[], ?::uuid[], ?::text[]) AS n(seq, id, path)
			JOIN resident_import_rows s ON s.import_id = ? AND s.seq = n.seq`,
			now, now, pgArray(insSeq), pgArray(insID), pgArray(insPath), importID).Error
		if err != nil {
			return nil, fmt.Errorf("resident: import insert: %w", err)
		}
	}
	if len(updSeq) > 0 {
		err := tx.WithContext(ctx).Exec(`UPDATE residents r SET
				phone_enc = COALESCE(s.phone_enc, r.phone_enc), phone_bidx = COALESCE(s.phone_bidx, r.phone_bidx),
				phone_masked = COALESCE(s.phone_masked, r.phone_masked), address = COALESCE(s.address, r.address),
				community_id = s.community_id, grid_id = n.grid, org_path = n.path, version = r.version + 1, updated_at = ?
			FROM unnest(?::int[], ?::uuid[], ?::uuid[], ?::text[]) AS n(seq, id, grid, path)
			JOIN resident_import_rows s ON s.import_id = ? AND s.seq = n.seq
			WHERE r.id = n.id`,
			now, pgArray(updSeq), pgArray(updID), pgArray(updGrid), pgArray(updPath), importID).Error
		if err != nil {
			return nil, fmt.Errorf("resident: import update: %w", err)
		}
	}
	if err := insertProblems(ctx, tx, importID, probs); err != nil {
		return nil, err
	}
	for _, p := range probs {
		if p.Severity == SeverityNotice {
			counts.Notices++
		}
	}
	if err := tx.WithContext(ctx).Exec(`UPDATE resident_imports SET inserted = inserted + ?, updated = updated + ?, unchanged = unchanged + ?,
			failed = failed + ?, notices = notices + ? WHERE id = ?`,
		counts.Inserted, counts.Updated, counts.Unchanged, counts.Failed, counts.Notices, importID).Error; err != nil {
		return nil, fmt.Errorf("resident: import counts: %w", err)
	}
	// One entry per resident written, by the uploader: which import
	// registered or changed a record stays answerable.
	if err := auditResidents(ctx, tx, importID, "inserted", inserted); err != nil {
		return nil, err
	}
	if err := auditResidents(ctx, tx, importID, "updated", updated); err != nil {
		return nil, err
	}
	return &counts, nil
}

// Ended deletes the staged rows (their job is done; the import keeps its
// counts and problems) and audits the run's end.
func (h importer) Ended(ctx context.Context, tx *gorm.DB, r *run.Run) error {
	if err := tx.WithContext(ctx).Exec("DELETE FROM resident_import_rows WHERE import_id = ?", r.SubjectID).Error; err != nil {
		return fmt.Errorf("resident: import end: %w", err)
	}
	var c importRow
	if err := tx.WithContext(ctx).Where("id = ?", r.SubjectID).Take(&c).Error; err != nil {
		return fmt.Errorf("resident: import end: %w", err)
	}
	return audit.Record(ctx, tx, audit.ActionResidentImports, audit.EntityResidentImport, &r.SubjectID, map[string]any{
		"status": string(r.Status), "inserted": c.Inserted, "updated": c.Updated, "unchanged": c.Unchanged, "failed": c.Failed})
}

// auditResidents appends one audit entry per resident in one statement
// (audit.RecordMany's GORM batch bound 9 parameters a row: 45,000 for a
// chunk, most of its audit time).
func auditResidents(ctx context.Context, tx *gorm.DB, importID uuid.UUID, outcome string, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	st := audit.NewStamp(ctx)
	entries, residents := make([]pgtype.UUID, len(ids)), make([]pgtype.UUID, len(ids))
	for i := range ids {
		e := uuid.Must(uuid.NewV7())
		entries[i], residents[i] = pgUUID(&e), pgUUID(&ids[i])
	}
	detail, _ := json.Marshal(map[string]any{"import": importID, "outcome": outcome})
	err := tx.WithContext(ctx).Exec(audit.Insert+`
		SELECT u.id, ?, ?, ?, ?, ?, u.resident, ?, CAST(? AS jsonb) FROM unnest(?::uuid[], ?::uuid[]) AS u(id, resident)`,
		st.At, st.ActorID, st.ActorKind, string(audit.ActionResidentImports), string(audit.EntityResident), st.RequestID, string(detail),
		pgArray(entries), pgArray(residents)).Error
	if err != nil {
		return fmt.Errorf("resident: import audit: %w", err)
	}
	return nil
}
