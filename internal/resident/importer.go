package resident

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/page"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/run"
	"github.com/jinjiang/residents/internal/sheet"
)

// Import limits. A district's counter imports a street's or a community's
// residents at a time (10^4-10^5 rows); a larger file is split.
const (
	MaxImportRows     = 200_000
	MaxImportUnzipped = 512 << 20
	// importChunk is how many staged rows one run chunk applies.
	importChunk = 5000
	// ImportAwait is how long an upload waits for its run before it
	// answers (a small file's answer is then final).
	ImportAwait = 3 * time.Second
)

// ImportStatus is where an import stands.
type ImportStatus string

// Statuses: a dry run is only a check; a commit runs until it SUCCEEDED
// or FAILED.
const (
	ImportDryRun    ImportStatus = "DRY_RUN"
	ImportRunning   ImportStatus = "RUNNING"
	ImportSucceeded ImportStatus = "SUCCEEDED"
	ImportFailed    ImportStatus = "FAILED"
)

// Import is one uploaded file and what came of it. A dry run's counts are
// what a commit would have done when it was checked.
type Import struct {
	ID         uuid.UUID
	DryRun     bool
	FileName   string
	Format     string
	ScopePath  string
	UploadedBy uuid.UUID
	UploadedAt time.Time
	RunID      *uuid.UUID
	RowsTotal  int
	RowsDone   int
	Inserted   int
	Updated    int
	Unchanged  int
	Failed     int
	Notices    int
	Status     ImportStatus
	FinishedAt *time.Time
	ErrorCode  *string
	Error      *string
}

// ImportReport answers an upload: the import and its problems, in row
// order (for a commit, those found so far).
type ImportReport struct {
	Import   *Import
	Problems []RowProblem
}

// ImportFile is an uploaded file.
type ImportFile struct {
	Name   string
	Data   []byte
	DryRun bool
}

// FileError refuses a whole file: it cannot be read (UNREADABLE_FILE), or
// its header lacks a required column or repeats one (BAD_HEADER, with the
// header's problems).
type FileError struct {
	Code     string
	Message  string
	Problems []RowProblem
}

func (e *FileError) Error() string { return e.Code + ": " + e.Message }

type importRow struct {
	ID         uuid.UUID
	DryRun     bool
	FileName   string
	FileSha256 []byte
	FileBytes  int64
	Format     string
	ScopePath  string
	UploadedBy uuid.UUID
	UploadedAt time.Time
	RequestID  string
	RunID      *uuid.UUID
	RowsTotal  int
	Inserted   int
	Updated    int
	Unchanged  int
	Failed     int
	Notices    int
}

func (importRow) TableName() string { return "resident_imports" }

// importParams is an import run's frozen input.
type importParams struct {
	// Columns are the file's headers and letters by column, for the
	// problems the run finds.
	Columns map[string][2]string `json:"columns"`
	Staged  int                  `json:"staged"`
}

// importChunkOf is the import runs' rows per chunk: RUN_CHUNK_SIZE, at
// most importChunk (a row written costs more than an issued voucher, with
// the resident's indexes and name terms; tests use small chunks to see a
// run resume).
func importChunkOf(chunk int) int {
	if chunk <= 0 || chunk > importChunk {
		return importChunk
	}
	return chunk
}

// ImportResidents checks an uploaded file row by row and, unless it is a
// dry run, starts the run that applies its good rows (insert or update by
// ID number). CLERK and CASE_WORKER import inside their unit's subtree
// (every row's community, and every resident a row updates), ADMIN
// anywhere. The upload is audited either way.
func (s *Service) ImportResidents(ctx context.Context, f ImportFile) (*ImportReport, error) {
	v, err := policy.Require(ctx, policy.ImportResidents)
	if err != nil {
		return nil, err
	}
	sc := policy.ScopeOf(v, policy.ImportResidents)
	if sc.Reach != policy.District && sc.Reach != policy.Subtree {
		return nil, problem.Forbidden("your role does not allow editing residents")
	}
	if s.runs == nil && !f.DryRun {
		return nil, errors.New("resident: import runs are not wired")
	}
	inScope := func(path string) bool { return sc.Covers(uuid.Nil, path) }
	tab, err := sheet.Read(f.Data, sheet.Limits{MaxRows: MaxImportRows, MaxUnzipped: MaxImportUnzipped})
	if err != nil {
		return nil, &FileError{Code: "UNREADABLE_FILE", Message: unreadableMessage(err)}
	}
	l, header := readLayout(tab.Header)
	if fatal(header) {
		return nil, &FileError{Code: "BAD_HEADER", Message: "文件表头有误 (the header row is wrong)", Problems: header}
	}
	units, err := s.importUnits(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	cands := s.readRows(l, tab.Rows, units, inScope, now)
	markDuplicates(l, cands)

	imp := importRow{ID: uuid.Must(uuid.NewV7()), DryRun: f.DryRun, FileName: fileName(f.Name), FileBytes: int64(len(f.Data)),
		Format: "CSV", ScopePath: sc.Path, UploadedBy: v.ID, UploadedAt: now, RequestID: auth.RequestID(ctx), RowsTotal: len(cands)}
	sum := sha256.Sum256(f.Data)
	imp.FileSha256 = sum[:]
	if strings.HasPrefix(string(f.Data), "PK\x03\x04") {
		imp.Format = "XLSX"
	}
	probs := append([]RowProblem{}, header...)
	var good []*candidate
	for _, c := range cands {
		probs = append(probs, c.problems...)
		if c.failed() {
			imp.Failed++
		} else {
			good = append(good, c)
		}
	}
	if f.DryRun {
		// What a commit would do now, against the registry as it is.
		more, err := s.predict(ctx, l, good, sc, &imp)
		if err != nil {
			return nil, err
		}
		probs = append(probs, more...)
	}
	sortProblems(l, probs)
	for _, p := range probs {
		if p.Severity == SeverityNotice {
			imp.Notices++
		}
	}

	var started *run.Run
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if !f.DryRun {
			params, _ := json.Marshal(importParams{Columns: l.letters(), Staged: len(good)})
			started = &run.Run{Kind: run.ImportResidents, SubjectID: imp.ID, Params: params, ScopePath: imp.ScopePath,
				StartedBy: &v.ID, StartedByKind: string(v.Kind), RequestID: auth.RequestID(ctx), StartedAt: now}
			if err := s.runs.Create(ctx, tx, started); err != nil {
				return err
			}
			imp.RunID = &started.ID
		}
		if err := tx.WithContext(ctx).Create(&imp).Error; err != nil {
			return err
		}
		if err := insertProblems(ctx, tx, imp.ID, probs); err != nil {
			return err
		}
		if !f.DryRun {
			if err := stageRows(ctx, tx, imp.ID, good); err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx, audit.ActionResidentImports, audit.EntityResidentImport, &imp.ID, map[string]any{
			"dryRun": f.DryRun, "sha256": fmt.Sprintf("%x", imp.FileSha256), "bytes": imp.FileBytes, "format": imp.Format,
			"rows": imp.RowsTotal, "failed": imp.Failed, "notices": imp.Notices})
	})
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: import: %w", err))
	}
	if started == nil {
		return &ImportReport{Import: importOf(&imp, nil), Problems: probs}, nil
	}
	s.runs.Go(started.ID)
	if _, err := s.runs.Wait(ctx, started.ID, ImportAwait); err != nil {
		return nil, err
	}
	return s.report(ctx, imp.ID)
}

// readRows checks the rows on every core: a row's romanization (search
// terms) and encryption are most of an upload's CPU, and rows are
// independent.
func (s *Service) readRows(l layout, rows []sheet.Row, units *unitDirectory, inScope func(string) bool, now time.Time) []*candidate {
	cands := make([]*candidate, len(rows))
	workers := max(1, min(runtime.GOMAXPROCS(0), len(rows)/1000))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(rows); i += workers {
				cands[i] = s.readRow(l, rows[i], units, inScope, now)
			}
		})
	}
	wg.Wait()
	return cands
}

// report reads an import back with all its problems (the answer to a
// commit, after its run had its time).
func (s *Service) report(ctx context.Context, id uuid.UUID) (*ImportReport, error) {
	var row importRow
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("resident: import: %w", err))
	}
	imp, err := s.importWithRun(ctx, &row)
	if err != nil {
		return nil, err
	}
	var rows []problemRow
	if err := s.db.WithContext(ctx).Where("import_id = ?", id).Order("id").Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("resident: import problems: %w", err))
	}
	out := make([]RowProblem, len(rows))
	for i, r := range rows {
		out[i] = r.problem()
	}
	slices.SortStableFunc(out, func(a, b RowProblem) int { return cmp.Compare(a.Row, b.Row) })
	return &ImportReport{Import: imp, Problems: out}, nil
}

func unreadableMessage(err error) string {
	_, why, _ := strings.Cut(err.Error(), sheet.ErrUnreadable.Error()+": ")
	return "无法读取文件，请上传 XLSX 或 CSV 文件 (the file cannot be read; upload an XLSX or CSV file): " + why
}

// fileName keeps the base name, at most 255 bytes of valid UTF-8.
func fileName(n string) string {
	n = filepath.Base(strings.ReplaceAll(n, `\`, "/"))
	if n == "." || n == "/" {
		n = ""
	}
	for len(n) > 255 {
		_, size := utf8.DecodeLastRuneInString(n)
		n = n[:len(n)-size]
	}
	return strings.ToValidUTF8(n, "")
}

// sortProblems orders problems by row, then by the column's place in the
// file.
func sortProblems(l layout, ps []RowProblem) {
	idx := map[string]int{}
	for _, c := range l {
		idx[c.header] = c.index
	}
	slices.SortStableFunc(ps, func(a, b RowProblem) int {
		return cmp.Or(cmp.Compare(a.Row, b.Row), cmp.Compare(idx[a.Column], idx[b.Column]))
	})
}

func (s *Service) importUnits(ctx context.Context) (*unitDirectory, error) {
	var units []importUnit
	// A retired unit takes no new residents: a file naming one is told the
	// district has no such place, and one that shares a name with a new
	// unit finds the new one.
	if err := s.db.WithContext(ctx).Table("org_units").Select("id, kind, code, name, path, parent_id").
		Where("kind IN ? AND retired_at IS NULL", []string{"COMMUNITY", "GRID"}).Find(&units).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("resident: import units: %w", err))
	}
	return newUnitDirectory(units), nil
}

// predict classifies the good rows against the registry as it is (the
// dry run): the counts a commit would reach now and the problems only the
// registry shows.
func (s *Service) predict(ctx context.Context, l layout, good []*candidate, sc policy.Scope, imp *importRow) ([]RowProblem, error) {
	var probs []RowProblem
	for chunk := range slices.Chunk(good, 5000) {
		bidx := make([][]byte, len(chunk))
		for i, c := range chunk {
			bidx[i] = c.res.IDNumberBidx
		}
		ex, err := existingByIndex(ctx, s.db, bidx, false)
		if err != nil {
			return nil, err
		}
		for _, c := range chunk {
			p := classify(l, stagedOf(c), ex[string(c.res.IDNumberBidx)], sc)
			probs = append(probs, p.problems...)
			imp.count(p.outcome)
		}
	}
	return probs, nil
}

func (r *importRow) count(o outcome) {
	switch o {
	case outcomeInsert:
		r.Inserted++
	case outcomeUpdate:
		r.Updated++
	case outcomeUnchanged:
		r.Unchanged++
	default:
		r.Failed++
	}
}

func importOf(r *importRow, rn *run.Run) *Import {
	imp := &Import{ID: r.ID, DryRun: r.DryRun, FileName: r.FileName, Format: r.Format, ScopePath: r.ScopePath, UploadedBy: r.UploadedBy,
		UploadedAt: r.UploadedAt, RunID: r.RunID, RowsTotal: r.RowsTotal, Inserted: r.Inserted, Updated: r.Updated,
		Unchanged: r.Unchanged, Failed: r.Failed, Notices: r.Notices, Status: ImportDryRun, RowsDone: r.RowsTotal}
	if r.DryRun {
		imp.FinishedAt = &imp.UploadedAt
		return imp
	}
	imp.Status = ImportRunning
	if rn == nil {
		return imp
	}
	imp.Status = ImportStatus(rn.Status)
	var p importParams
	_ = json.Unmarshal(rn.Params, &p)
	imp.RowsDone = r.RowsTotal - p.Staged + int(rn.Done)
	imp.FinishedAt, imp.ErrorCode, imp.Error = rn.FinishedAt, rn.ErrorCode, rn.Error
	return imp
}

func (s *Service) importWithRun(ctx context.Context, r *importRow) (*Import, error) {
	if r.RunID == nil {
		return importOf(r, nil), nil
	}
	rn, err := run.Get(ctx, s.db, *r.RunID)
	if err != nil {
		return nil, err
	}
	return importOf(r, rn), nil
}

// importScope is the ReadResidentImports scope as a predicate over
// resident_imports.scope_path: a subtree sees the imports started inside
// it, never the district-wide ones (”).
func importScope(v *auth.Viewer) (string, []any, bool) {
	sc := policy.ScopeOf(v, policy.ReadResidentImports)
	switch {
	case sc.All():
		return "TRUE", nil, true
	case sc.Reach == policy.Subtree:
		return "scope_path <> '' AND scope_path LIKE ?", []any{policy.LikePrefix(sc.Path)}, true
	}
	return "", nil, false
}

// ResidentImport returns one import the viewer may follow (nil when there
// is none or it is not theirs to see).
func (s *Service) ResidentImport(ctx context.Context, id uuid.UUID) (*Import, error) {
	v, err := policy.Require(ctx, policy.ReadResidentImports)
	if err != nil {
		return nil, err
	}
	where, args, ok := importScope(v)
	if !ok {
		return nil, nil
	}
	var rows []importRow
	if err := s.db.WithContext(ctx).Where("id = ?", id).Where(where, args...).Limit(1).Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("resident: import: %w", err))
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return s.importWithRun(ctx, &rows[0])
}

// ResidentImports lists the imports the viewer may follow, newest first.
func (s *Service) ResidentImports(ctx context.Context, p page.Request) (page.Result[*Import], error) {
	v, err := policy.Require(ctx, policy.ReadResidentImports)
	if err != nil {
		return page.Result[*Import]{}, err
	}
	where, args, ok := importScope(v)
	if !ok {
		return page.Result[*Import]{}, nil
	}
	q := s.db.WithContext(ctx).Where(where, args...)
	var rows []importRow
	if err := page.NewestFirst(q, "id", p).Find(&rows).Error; err != nil {
		return page.Result[*Import]{}, database.Classify(fmt.Errorf("resident: imports: %w", err))
	}
	out := make([]*Import, len(rows))
	for i := range rows {
		imp, err := s.importWithRun(ctx, &rows[i])
		if err != nil {
			return page.Result[*Import]{}, err
		}
		out[i] = imp
	}
	return page.Trim(p, out), nil
}

// ImportProblem is a stored problem with its id (the page cursor).
type ImportProblem struct {
	ID uuid.UUID
	RowProblem
}

// ImportProblems pages through an import's problems in the order they
// were found (the file's checks row by row, then the run's), optionally
// of one severity. The caller has read the import (ResidentImport).
func (s *Service) ImportProblems(ctx context.Context, importID uuid.UUID, sev *Severity, p page.Request) (page.Result[*ImportProblem], error) {
	q := s.db.WithContext(ctx).Where("import_id = ?", importID)
	if sev != nil {
		q = q.Where("severity = ?", string(*sev))
	}
	if p.After != nil {
		q = q.Where("id > ?", *p.After)
	}
	var rows []problemRow
	if err := q.Order("id").Limit(p.First + 1).Find(&rows).Error; err != nil {
		return page.Result[*ImportProblem]{}, database.Classify(fmt.Errorf("resident: import problems: %w", err))
	}
	out := make([]*ImportProblem, len(rows))
	for i, r := range rows {
		out[i] = &ImportProblem{ID: r.ID, RowProblem: r.problem()}
	}
	return page.Trim(p, out), nil
}
