package app

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/jinjiang/residents/graph"
	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/resident"
)

// MaxImportBytes caps an uploaded import file (the multipart body): a
// 100,000-row XLSX of the template's columns is about 6 MB.
const MaxImportBytes = 32 << 20

// ImportTimeout is an upload's deadline instead of the request timeout:
// checking and staging 100,000 rows takes seconds, not milliseconds.
const ImportTimeout = 3 * time.Minute

// importsPath is the upload endpoint; requestContext gives it its own
// body cap and deadline.
const importsPath = "/imports/residents"

// importResidents serves POST /imports/residents: a multipart form with
// the file in "file" and dryRun=true for a check that changes nothing.
// A dry run answers 200 with every row's problems; a commit answers 202
// with the import (its run goes on; follow it through GraphQL) and the
// problems found so far. Refusals answer {"errors":[{message,
// extensions:{code}}]} like GraphQL: 401 UNAUTHENTICATED, 403 FORBIDDEN,
// 413 FILE_TOO_LARGE, 400 BAD_USER_INPUT (no file), UNREADABLE_FILE or
// BAD_HEADER (with the header's problems).
func (a *App) importResidents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if auth.ViewerFrom(ctx) == nil {
		writeGraphQLError(w, http.StatusUnauthorized, "authentication required", "UNAUTHENTICATED")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxImportBytes)
	file, hdr, err := r.FormFile("file")
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || (err != nil && r.ContentLength > MaxImportBytes):
		writeGraphQLError(w, http.StatusRequestEntityTooLarge,
			localized(r, "文件过大，上限为 32 MB (the file is larger than 32 MB)"), "FILE_TOO_LARGE")
		return
	case err != nil:
		writeGraphQLError(w, http.StatusBadRequest, localized(r, "请以 multipart 表单字段 file 上传文件 (upload the file as the multipart field \"file\")"), "BAD_USER_INPUT")
		return
	}
	defer file.Close()
	data, err := io.ReadAll(file)
	if err != nil {
		writeGraphQLError(w, http.StatusRequestEntityTooLarge,
			localized(r, "文件过大，上限为 32 MB (the file is larger than 32 MB)"), "FILE_TOO_LARGE")
		return
	}
	dry, _ := strconv.ParseBool(r.FormValue("dryRun"))
	rep, err := a.Residents.ImportResidents(ctx, resident.ImportFile{Name: hdr.Filename, Data: data, DryRun: dry})
	var fe *resident.FileError
	switch {
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": []map[string]any{{
			"message": localized(r, fe.Message), "extensions": map[string]any{"code": fe.Code, "problems": problemsJSON(fe.Problems)}}}})
		return
	case errors.Is(err, problem.ErrForbidden):
		writeGraphQLError(w, http.StatusForbidden, localized(r, err.Error()), "FORBIDDEN")
		return
	case err != nil:
		a.downloadError(w, r, "resident import", err)
		return
	}
	status := http.StatusOK
	if !dry {
		status = http.StatusAccepted
	}
	writeJSON(w, status, map[string]any{"import": importJSON(rep.Import), "problems": problemsJSON(rep.Problems)})
}

// importTemplate serves GET /imports/residents/template.xlsx: the header
// row, the ID number and phone columns formatted as text, an example row
// and a sheet of notes. It holds no personal data.
func (a *App) importTemplate(w http.ResponseWriter, r *http.Request) {
	data, err := resident.ImportTemplate()
	if a.downloadError(w, r, "import template", err) {
		return
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", `attachment; filename="residents-import-template.xlsx"`)
	if _, err := w.Write(data); err != nil {
		a.Log.WarnContext(r.Context(), "template write failed", "request_id", auth.RequestID(r.Context()), "err", err.Error())
	}
}

// localized is msg ("中文 (English)" or a catalog message) in the
// language the request prefers: Chinese unless it asks for English.
func localized(r *http.Request, msg string) string {
	return problem.Message(problem.ParseAcceptLanguage(r.Header.Get("Accept-Language")), "", msg)
}

func importJSON(imp *resident.Import) map[string]any {
	out := map[string]any{
		"id": relay.ID(graph.TypeResidentImport, imp.ID), "dryRun": imp.DryRun, "status": imp.Status, "fileName": imp.FileName,
		"format": imp.Format, "rowsTotal": imp.RowsTotal, "rowsDone": imp.RowsDone, "inserted": imp.Inserted, "updated": imp.Updated,
		"unchanged": imp.Unchanged, "failed": imp.Failed, "notices": imp.Notices,
	}
	if imp.ErrorCode != nil {
		out["errorCode"], out["error"] = *imp.ErrorCode, imp.Error
	}
	return out
}

func problemsJSON(ps []resident.RowProblem) []map[string]any {
	out := make([]map[string]any, len(ps))
	for i, p := range ps {
		out[i] = map[string]any{"row": p.Row, "column": p.Column, "cell": p.Cell, "code": p.Code, "severity": p.Severity, "message": p.Message}
	}
	return out
}
