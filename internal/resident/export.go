package resident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/run"
	"github.com/jinjiang/residents/internal/sheet"
)

// ExportStatus is an export's state.
type ExportStatus string

// Export states.
const (
	ExportRunning ExportStatus = "RUNNING"
	ExportReady   ExportStatus = "READY"
	ExportFailed  ExportStatus = "FAILED"
)

// Export is an XLSX export of a residents list.
type Export struct {
	ID          uuid.UUID
	RequestedBy uuid.UUID
	Status      ExportStatus
	RowCount    int64
	RowsTotal   *int64
	CreatedAt   time.Time
	FinishedAt  *time.Time
}

// DirectExportLimit is the most rows an export writes within the request;
// a bigger list is a run.
const DirectExportLimit = 2000

// SetDirectExportLimit changes DirectExportLimit for this service (tests
// drive the run with a small list).
func (s *Service) SetDirectExportLimit(n int) { s.directExport = n }

func (s *Service) directExportLimit() int64 {
	if s.directExport > 0 {
		return int64(s.directExport)
	}
	return DirectExportLimit
}

type exportRow struct {
	ID          uuid.UUID
	RequestedBy uuid.UUID
	Filter      json.RawMessage `gorm:"type:jsonb"`
	Status      string
	RowCount    int64
	File        []byte
	RunID       *uuid.UUID
	CreatedAt   time.Time
	FinishedAt  *time.Time
}

func (exportRow) TableName() string { return "resident_exports" }

func (r exportRow) export(total *int64) *Export {
	return &Export{ID: r.ID, RequestedBy: r.RequestedBy, Status: ExportStatus(r.Status), RowCount: r.RowCount, RowsTotal: total,
		CreatedAt: r.CreatedAt, FinishedAt: r.FinishedAt}
}

// exportParams is an export run's frozen input: the compiled selection
// and the requester as they were, whose view of each resident decides
// what the file shows of them (policy.ResidentView, as in GraphQL).
type exportParams struct {
	ExportID  uuid.UUID   `json:"exportId"`
	Selection Selection   `json:"selection"`
	Viewer    auth.Viewer `json:"viewer"`
}

// ExportResidents exports the residents f matches within the viewer's
// jurisdiction (as the residents list), masked as the viewer sees them;
// audited with the filter and, once written, the row count.
func (s *Service) ExportResidents(ctx context.Context, f Filter) (*Export, error) {
	v, err := policy.Require(ctx, policy.ExportResidents)
	if err != nil {
		return nil, err
	}
	scope := policy.ScopeOf(v, policy.ExportResidents)
	if scope.Reach < policy.Subtree {
		return nil, problem.Forbidden("your role does not allow exporting residents")
	}
	sel, err := Select(ctx, s.db, f, scope, s.Today())
	if err != nil {
		return nil, err
	}
	n, err := sel.Count(ctx, s.db)
	if err != nil {
		return nil, err
	}
	filter, _ := json.Marshal(sel)
	p := exportParams{Selection: sel, Viewer: *v}
	row := exportRow{ID: uuid.Must(uuid.NewV7()), RequestedBy: v.ID, Filter: filter, Status: string(ExportRunning), CreatedAt: s.now()}
	p.ExportID = row.ID
	var r *run.Run
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if n > s.directExportLimit() {
			params, _ := json.Marshal(p)
			r = &run.Run{Kind: run.ExportResidents, SubjectID: row.ID, Params: params, ScopePath: scope.Path,
				StartedBy: &v.ID, StartedByKind: string(v.Kind), RequestID: auth.RequestID(ctx), StartedAt: row.CreatedAt}
			if err := s.runs.Create(ctx, tx, r); err != nil {
				return err
			}
			row.RunID = &r.ID
		}
		if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
			return fmt.Errorf("resident: create export: %w", err)
		}
		if err := audit.Record(ctx, tx, audit.ActionExportResidents, audit.EntityResidentExport, &row.ID,
			map[string]any{"filter": json.RawMessage(filter), "matched": n}); err != nil {
			return err
		}
		if r != nil {
			return nil
		}
		// A small list: staged and written now, in this transaction.
		if _, _, err := s.stageExport(ctx, tx, p, uuid.Nil, int(n)+1, row.CreatedAt); err != nil {
			return err
		}
		return s.finishExport(ctx, tx, row.ID)
	})
	if err != nil {
		return nil, database.Classify(err)
	}
	if r != nil {
		s.runs.Go(r.ID)
	}
	return s.exportByID(ctx, s.db, row.ID, &n)
}

// exportCells is the header of the sheet; exportCellsOf fills a row.
var exportHeader = []string{"姓名", "身份证号（脱敏）", "性别", "年龄", "出生日期", "手机号（脱敏）", "住址", "社区", "网格", "状态", "能力等级", "死亡日期", "迁出日期"}

var statusLabels = map[string]string{"LOW_INCOME": "低保", "EXTREME_POVERTY": "特困", "LIVING_ALONE": "独居", "EMPTY_NEST": "空巢", "BEREAVED_PARENT": "失独"}
var careLabels = map[string]string{"INTACT": "能力完好", "MILD": "轻度失能", "MODERATE": "中度失能", "SEVERE": "重度失能", "TOTAL": "完全失能"}

// stageExport writes the next limit selected residents after cursor, each
// masked as the requester sees them, into resident_export_rows; it
// answers how many and the last id. Idempotent (the primary key), so a
// resumed run stages nothing twice.
func (s *Service) stageExport(ctx context.Context, tx *gorm.DB, p exportParams, cursor uuid.UUID, limit int, at time.Time) (int, *uuid.UUID, error) {
	var rows []residentRow
	if err := p.Selection.where(tx.WithContext(ctx)).Select(residentColumns).Where("id > ?", cursor).Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return 0, nil, fmt.Errorf("resident: export rows: %w", err)
	}
	if len(rows) == 0 {
		return 0, nil, nil
	}
	names, err := unitNames(ctx, tx)
	if err != nil {
		return 0, nil, err
	}
	today := civil.DateOf(at)
	type staged struct {
		ExportID   uuid.UUID
		ResidentID uuid.UUID
		Cells      json.RawMessage `gorm:"type:jsonb"`
	}
	out := make([]staged, 0, len(rows))
	for i := range rows {
		r := rows[i].resident()
		// Served is never asked: export is for staff with a jurisdiction.
		view, err := policy.ResidentView(&p.Viewer, policy.Subject{ID: r.ID, OrgPath: r.OrgPath, Served: func() (bool, error) { return false, nil }})
		if err != nil {
			return 0, nil, err
		}
		if view == policy.ViewNone {
			continue
		}
		r.apply(view)
		cells := []string{r.Name, r.IDNumberMasked, map[Gender]string{Male: "男", Female: "女"}[r.Gender], strconv.Itoa(r.Age(today)), "",
			deref(r.PhoneMasked), deref(r.Address), names[r.CommunityID], "", "", "", "", ""}
		if view.SeesBirthDate() {
			cells[4] = r.BirthDate.String()
		}
		if r.GridID != nil {
			cells[8] = names[*r.GridID]
		}
		st := make([]string, len(r.Statuses))
		for j, x := range r.Statuses {
			st[j] = statusLabels[string(x)]
		}
		cells[9] = strings.Join(st, "、")
		if view != policy.ViewLimited {
			cells[10] = careLabels[string(r.CareLevel)]
		}
		if r.DeceasedOn != nil {
			cells[11] = r.DeceasedOn.String()
		}
		if r.MovedOutOn != nil {
			cells[12] = r.MovedOutOn.String()
		}
		b, _ := json.Marshal(cells)
		out = append(out, staged{ExportID: p.ExportID, ResidentID: r.ID, Cells: b})
	}
	if len(out) > 0 {
		if err := tx.WithContext(ctx).Table("resident_export_rows").Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(out, 1000).Error; err != nil {
			return 0, nil, fmt.Errorf("resident: stage export: %w", err)
		}
	}
	last := rows[len(rows)-1].ID
	return len(rows), &last, nil
}

// unitNames maps every org unit to its name (a few hundred rows).
func unitNames(ctx context.Context, tx *gorm.DB) (map[uuid.UUID]string, error) {
	var us []struct {
		ID   uuid.UUID
		Name string
	}
	if err := tx.WithContext(ctx).Table("org_units").Select("id, name").Scan(&us).Error; err != nil {
		return nil, fmt.Errorf("resident: unit names: %w", err)
	}
	m := make(map[uuid.UUID]string, len(us))
	for _, u := range us {
		m[u.ID] = u.Name
	}
	return m, nil
}

// exportStreamBatch is how many staged rows are read at a time into the sheet.
const exportStreamBatch = 5000

// finishExport streams the staged rows into the XLSX file (sheet.Writer:
// rows are written out as they come, not held as cells), stores it,
// drops the staged rows and audits the row count.
func (s *Service) finishExport(ctx context.Context, tx *gorm.DB, id uuid.UUID) error {
	w, err := sheet.NewWriter("Sheet1", exportHeader)
	if err != nil {
		return fmt.Errorf("resident: export sheet: %w", err)
	}
	n, after := 0, uuid.Nil
	for {
		var batch []struct {
			ResidentID uuid.UUID
			Cells      json.RawMessage
		}
		if err := tx.WithContext(ctx).Table("resident_export_rows").Select("resident_id, cells").
			Where("export_id = ? AND resident_id > ?", id, after).Order("resident_id").Limit(exportStreamBatch).Scan(&batch).Error; err != nil {
			return fmt.Errorf("resident: export read: %w", err)
		}
		for _, b := range batch {
			var cells []string
			if err := json.Unmarshal(b.Cells, &cells); err != nil {
				return fmt.Errorf("resident: export cells: %w", err)
			}
			n++
			if err := w.Row(cells); err != nil {
				return fmt.Errorf("resident: export row: %w", err)
			}
		}
		if len(batch) < exportStreamBatch {
			break
		}
		after = batch[len(batch)-1].ResidentID
	}
	file, err := w.Bytes()
	if err != nil {
		return fmt.Errorf("resident: export write: %w", err)
	}
	if err := tx.WithContext(ctx).Exec(`UPDATE resident_exports SET status = 'READY', file = ?, row_count = ?, finished_at = now() WHERE id = ?`,
		file, n, id).Error; err != nil {
		return fmt.Errorf("resident: export store: %w", err)
	}
	if err := tx.WithContext(ctx).Exec(`DELETE FROM resident_export_rows WHERE export_id = ?`, id).Error; err != nil {
		return fmt.Errorf("resident: export unstage: %w", err)
	}
	return audit.Record(ctx, tx, audit.ActionExportResidents, audit.EntityResidentExport, &id, map[string]any{"rows": n, "bytes": len(file)})
}

// exporter is the handler of big exports: a chunk of residents per step
// staged, then the file written in the last step.
type exporter struct{ s *Service }

func (h exporter) Step(ctx context.Context, tx *gorm.DB, r *run.Run) (bool, error) {
	var p exportParams
	if err := json.Unmarshal(r.Params, &p); err != nil {
		return false, fmt.Errorf("resident: export params: %w", err)
	}
	if !r.Planned() {
		n, err := p.Selection.Count(ctx, tx)
		if err != nil {
			return false, err
		}
		r.Total = &n
		return false, nil
	}
	n, last, err := h.s.stageExport(ctx, tx, p, r.CursorOrZero(), h.s.runChunk, r.StartedAt)
	if err != nil {
		return false, err
	}
	if n == 0 {
		return true, h.s.finishExport(ctx, tx, p.ExportID)
	}
	r.Done += int64(n)
	r.Count += int64(n)
	r.Cursor = last
	return false, nil
}

func (h exporter) Ended(ctx context.Context, tx *gorm.DB, r *run.Run) error {
	if r.Status == run.Succeeded {
		return nil
	}
	return tx.WithContext(ctx).Exec(`UPDATE resident_exports SET status = 'FAILED', finished_at = now() WHERE id = ?`, r.SubjectID).Error
}

// Downloadable reports whether v may download the file: its requester only.
func (x *Export) Downloadable(v *auth.Viewer) bool {
	return x.Status == ExportReady && v != nil && v.ID == x.RequestedBy
}

// ResidentExport returns an export: the viewer's own, or any for those
// who read the audit log (its entries name exports); the file stays the
// requester's (ExportFile).
func (s *Service) ResidentExport(ctx context.Context, id uuid.UUID) (*Export, error) {
	if _, err := auth.RequireViewer(ctx); err != nil {
		return nil, err
	}
	return s.exportByID(ctx, s.db, id, nil)
}

func (s *Service) exportByID(ctx context.Context, db *gorm.DB, id uuid.UUID, total *int64) (*Export, error) {
	v := auth.ViewerFrom(ctx)
	var row exportRow
	q := db.WithContext(ctx).Select("id, requested_by, status, row_count, run_id, created_at, finished_at").Where("id = ?", id)
	if !policy.Allowed(v, policy.ReadAuditLog) {
		q = q.Where("requested_by = ?", v.ID)
	}
	err := q.Take(&row).Error
	if err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil
		}
		return nil, database.Classify(fmt.Errorf("resident: export: %w", err))
	}
	out := row.export(total)
	if row.RunID != nil {
		r, err := run.Get(ctx, db, *row.RunID)
		if err != nil {
			return nil, err
		}
		if r != nil {
			out.RowsTotal = r.Total
			if row.Status == string(ExportRunning) {
				out.RowCount = r.Done
			}
		}
	}
	return out, nil
}

// ExportFile is a ready export's file, for its requester only (nil otherwise).
func (s *Service) ExportFile(ctx context.Context, id uuid.UUID) ([]byte, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	var row exportRow
	err = s.db.WithContext(ctx).Where("id = ? AND requested_by = ? AND status = 'READY'", id, v.ID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: export file: %w", err))
	}
	return row.File, nil
}
