package app

import (
	"errors"
	"net/http"

	"github.com/jinjiang/residents/graph"
	"github.com/jinjiang/residents/graph/relay"
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
	switch {
	case errors.Is(err, problem.ErrUnauthenticated):
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	case errors.Is(err, problem.ErrForbidden):
		http.Error(w, "not allowed", http.StatusForbidden)
		return
	case errors.Is(err, problem.ErrBadInput):
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case errors.Is(err, problem.ErrUnavailable):
		http.Error(w, "service temporarily unavailable", http.StatusServiceUnavailable)
		return
	case err != nil:
		a.Log.ErrorContext(ctx, "settlement export failed", "request_id", auth.RequestID(ctx), "err", err.Error())
		http.Error(w, "internal error; request id "+auth.RequestID(ctx), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="settlement-`+st.Month+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	if err := voucher.WriteCSV(w, st); err != nil {
		a.Log.WarnContext(ctx, "settlement export write failed", "request_id", auth.RequestID(ctx), "err", err.Error())
	}
}
