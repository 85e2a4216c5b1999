package voucher

import (
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// Settlement sums a provider's COMPLETED redemptions of a month by service
// date, per program and category. A provider sees only its own; ADMIN and
// AUDITOR see every provider's.
func (s *Service) Settlement(ctx context.Context, providerID uuid.UUID, month string) (*Settlement, error) {
	v, err := policy.Require(ctx, policy.ReadSettlements)
	if err != nil {
		return nil, err
	}
	if !policy.ScopeOf(v, policy.ReadSettlements).OwnProvider(providerID) {
		return nil, problem.Forbidden("a provider sees only its own settlement")
	}
	m, err := civil.ParseMonth(month)
	if err != nil {
		return nil, problem.BadInput("month must be YYYY-MM")
	}
	return s.settlement(ctx, s.db.WithContext(ctx), providerID, m)
}

func (s *Service) settlement(ctx context.Context, db *gorm.DB, providerID uuid.UUID, m civil.Month) (*Settlement, error) {
	var name string
	if err := db.Raw("SELECT name FROM providers WHERE id = ?", providerID).Row().Scan(&name); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, problem.BadInput("unknown provider")
		}
		return nil, database.Classify(err)
	}
	out := &Settlement{ProviderID: providerID, ProviderName: name, Month: m.String(), Status: SettlementOpen, Lines: []*SettlementLine{}}
	var confirmed []time.Time
	if err := db.Raw("SELECT confirmed_at FROM settlements WHERE provider_id = ? AND month = ?", providerID, m.String()).
		Scan(&confirmed).Error; err != nil {
		return nil, database.Classify(err)
	}
	if len(confirmed) > 0 {
		out.Status, out.ConfirmedAt = SettlementConfirmed, &confirmed[0]
	}
	if err := db.Raw(`SELECT r.program_id, p.code AS program_code, p.name AS program_name, r.category,
			count(*) AS redemption_count, sum(r.amount_fen) AS total_fen
		FROM redemptions r JOIN voucher_programs p ON p.id = r.program_id
		WHERE r.provider_id = ? AND r.status = 'COMPLETED' AND r.service_date BETWEEN ? AND ?
		GROUP BY r.program_id, p.code, p.name, r.category ORDER BY p.code, r.category`,
		providerID, m.First(), m.Last()).Scan(&out.Lines).Error; err != nil {
		return nil, database.Classify(err)
	}
	for _, l := range out.Lines {
		out.RedemptionCount += l.RedemptionCount
		out.TotalFen += l.TotalFen
	}
	return out, nil
}

// ConfirmSettlement freezes a provider's month (ADMIN): afterwards no
// redemption dated in it and no reversal of one is accepted (SETTLED).
func (s *Service) ConfirmSettlement(ctx context.Context, providerID uuid.UUID, month string) (*Settlement, error) {
	v, err := policy.Require(ctx, policy.ConfirmSettlement)
	if err != nil {
		return nil, err
	}
	m, err := civil.ParseMonth(month)
	if err != nil {
		return nil, problem.New(problem.Invalid, "month must be YYYY-MM", "month")
	}
	if m.First().After(s.today()) {
		return nil, problem.New(problem.Invalid, "a future month cannot be confirmed", "month")
	}
	var out *Settlement
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if err := s.checkNotSettled(ctx, tx, providerID, m, true); err != nil {
			if ues, ok := problem.AsUserErrors(err); ok && ues[0].Code == problem.Settled {
				return problem.New(problem.InvalidTransition, "the month is already confirmed", "month")
			}
			return err
		}
		if s.hold != nil {
			n, err := s.hold(ctx, tx, providerID, m)
			if err != nil {
				return err
			}
			if n > 0 {
				return problem.New(problem.InvalidTransition,
					fmt.Sprintf("该月有%d笔上门服务待复核或处于争议中, 处理完毕前不能确认结算", n), "month")
			}
		}
		st, err := s.settlement(ctx, tx, providerID, m)
		if err != nil {
			return err
		}
		now := s.now()
		if err := tx.Exec(`INSERT INTO settlements (provider_id, month, redemption_count, total_fen, confirmed_at, confirmed_by)
			VALUES (?, ?, ?, ?, ?, ?)`, providerID, m.String(), st.RedemptionCount, st.TotalFen, now, v.ID).Error; err != nil {
			return database.Classify(fmt.Errorf("voucher: confirm settlement: %w", err))
		}
		st.Status, st.ConfirmedAt = SettlementConfirmed, &now
		out = st
		return audit.Record(ctx, tx, audit.ActionConfirmSettlement, audit.EntityProvider, &providerID, map[string]any{"month": m.String(), "totalFen": st.TotalFen})
	})
	return out, err
}

// WriteCSV writes a settlement for the finance office: one line per
// program and category, then a total line. Amounts are in fen and yuan.
// It opens in Excel on Chinese Windows as it reads: a UTF-8 byte-order mark
// first (without it Excel takes the file for GBK and garbles every Chinese
// cell), Chinese headings, category and status names. Every text cell goes
// through csvCell, so a provider or program name cannot become a live
// spreadsheet formula.
func WriteCSV(w io.Writer, st *Settlement) error {
	if _, err := io.WriteString(w, "\uFEFF"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	yuan := func(f int64) string { return fmt.Sprintf("%d.%02d", f/100, f%100) }
	row := func(cells ...string) {
		for i := range cells {
			cells[i] = csvCell(cells[i])
		}
		cw.Write(cells)
	}
	status := st.Status.Label()
	row("服务商", "月份", "结算状态", "项目编码", "项目名称", "服务类别", "核销笔数", "金额（分）", "金额（元）")
	for _, l := range st.Lines {
		row(st.ProviderName, st.Month, status, l.ProgramCode, l.ProgramName, l.Category.Label(),
			strconv.Itoa(l.RedemptionCount), strconv.FormatInt(l.TotalFen, 10), yuan(l.TotalFen))
	}
	row(st.ProviderName, st.Month, status, "", "合计", "", strconv.Itoa(st.RedemptionCount),
		strconv.FormatInt(st.TotalFen, 10), yuan(st.TotalFen))
	cw.Flush()
	return cw.Error()
}

// csvCell defuses a cell that a spreadsheet would read as a formula (one
// starting with =, +, -, @, a tab or a carriage return, OWASP's list) by
// prefixing an apostrophe, which Excel and WPS show as text.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
