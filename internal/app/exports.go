package app

import (
	"errors"
	"net/http"
	"strings"

	"github.com/jinjiang/residents/graph"
	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/application"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/voucher"
)

// settlementCSV serves GET /exports/settlement.csv?providerId=…&month=…
// for the finance office, with the same authorization as the settlement
// query (the voucher service decides).
func (a *App) settlementCSV(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pid, err := relay.ParseAs(graph.TypeProvider, r.URL.Query().Get("providerId"))
	if err != nil {
		http.Error(w, "providerId must be a Provider id", http.StatusBadRequest)
		return
	}
	st, err := a.Vouchers.Settlement(ctx, pid, r.URL.Query().Get("month"))
	if a.downloadError(w, r, "settlement export", err) {
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="settlement-`+st.Month+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	if err := voucher.WriteCSV(w, st); err != nil {
		a.Log.WarnContext(ctx, "settlement export write failed", "request_id", auth.RequestID(ctx), "err", err.Error())
	}
}

// residentExport serves GET /exports/{id}.xlsx: a ready residents-list
// export, to the staff member who asked for it and nobody else (anyone
// else, like an export not ready, gets 404).
func (a *App) residentExport(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name, ok := strings.CutSuffix(r.PathValue("file"), ".xlsx")
	if !ok {
		http.Error(w, "no such export", http.StatusNotFound)
		return
	}
	id, err := relay.ParseAs(graph.TypeResidentExport, name)
	if err != nil {
		http.Error(w, "no such export", http.StatusNotFound)
		return
	}
	file, err := a.Residents.ExportFile(ctx, id)
	if a.downloadError(w, r, "resident export", err) {
		return
	}
	if file == nil {
		http.Error(w, "no such export", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", `attachment; filename="residents-`+id.String()+`.xlsx"`)
	w.Header().Set("Cache-Control", "no-store")
	if _, err := w.Write(file); err != nil {
		a.Log.WarnContext(ctx, "export write failed", "request_id", auth.RequestID(ctx), "err", err.Error())
	}
}

// applicationNotice serves GET /applications/{id}/notices/{kind}.pdf: a
// written notice of an application, to the applicant and to staff who may
// read it (the application service decides and audits the download).
func (a *App) applicationNotice(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := relay.ParseAs(graph.TypeApplication, r.PathValue("id"))
	if err != nil {
		http.Error(w, "id must be an Application id", http.StatusBadRequest)
		return
	}
	name, ok := strings.CutSuffix(r.PathValue("kind"), ".pdf")
	kind, known := application.ParseNoticeKind(name)
	if !ok || !known {
		http.Error(w, "no such notice", http.StatusNotFound)
		return
	}
	pdf, filename, err := a.Application.Notice(ctx, id, kind)
	if a.downloadError(w, r, "notice", err) {
		return
	}
	if pdf == nil {
		// No such application for this viewer: the same answer as none at all.
		http.Error(w, "no such application", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	w.Header().Set("Cache-Control", "no-store")
	if _, err := w.Write(pdf); err != nil {
		a.Log.WarnContext(ctx, "notice write failed", "request_id", auth.RequestID(ctx), "err", err.Error())
	}
}

// downloadError answers a failed download with the status its client can
// act on, and reports whether there was an error. A business refusal (a
// notice the application does not have) is 404 with its message.
func (a *App) downloadError(w http.ResponseWriter, r *http.Request, what string, err error) bool {
	ctx := r.Context()
	var ue *problem.UserError
	switch {
	case err == nil:
		return false
	case errors.Is(err, problem.ErrUnauthenticated):
		http.Error(w, "authentication required", http.StatusUnauthorized)
	case errors.Is(err, problem.ErrForbidden):
		http.Error(w, "not allowed", http.StatusForbidden)
	case errors.Is(err, problem.ErrBadInput):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.As(err, &ue):
		http.Error(w, ue.Message, http.StatusNotFound)
	case errors.Is(err, problem.ErrUnavailable):
		a.Log.ErrorContext(ctx, what+" unavailable", "request_id", auth.RequestID(ctx), "err", err.Error())
		http.Error(w, "service temporarily unavailable", http.StatusServiceUnavailable)
	default:
		a.Log.ErrorContext(ctx, what+" failed", "request_id", auth.RequestID(ctx), "err", err.Error())
		http.Error(w, "internal error; request id "+auth.RequestID(ctx), http.StatusInternalServerError)
	}
	return true
}
