package graph

import (
	"encoding/base64"

	"github.com/google/uuid"
	"github.com/vikstrous/dataloadgen"

	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/page"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/run"
	"github.com/jinjiang/residents/internal/voucher"
)

// Global ID type names of the voucher domain.
const (
	TypeProvider       = "Provider"
	TypeVoucherProgram = "VoucherProgram"
	TypeVoucher        = "Voucher"
	TypeRedemption     = "Redemption"
	TypeLedgerEntry    = "LedgerEntry"
	TypeIssuanceRun    = "IssuanceRun"
	TypeEnrollmentRun  = "EnrollmentRun"
)

// voucherLoaders are the voucher domain's per-request loaders.
type voucherLoaders struct {
	Provider            *dataloadgen.Loader[uuid.UUID, *voucher.Provider]
	Program             *dataloadgen.Loader[uuid.UUID, *voucher.Program]
	ResidentVouchers    *dataloadgen.Loader[uuid.UUID, []*voucher.Voucher]
	Ledger              *dataloadgen.Loader[uuid.UUID, []*voucher.LedgerEntry]
	Redemption          *dataloadgen.Loader[uuid.UUID, *voucher.Redemption]
	ResidentRedemptions *dataloadgen.Loader[voucher.ResidentRedemptionsKey, []*voucher.Redemption]
	IdempotencyKey      *dataloadgen.Loader[uuid.UUID, *string]
}

func (r *Resolver) newVoucherLoaders(w dataloadgen.Option) *voucherLoaders {
	v := r.Vouchers
	return &voucherLoaders{
		Provider:            dataloadgen.NewMappedLoader(v.ProvidersByIDs, w),
		Program:             dataloadgen.NewMappedLoader(v.ProgramsByIDs, w),
		ResidentVouchers:    dataloadgen.NewMappedLoader(v.VouchersByResidents, w),
		Ledger:              dataloadgen.NewMappedLoader(v.LedgerByVouchers, w),
		Redemption:          dataloadgen.NewMappedLoader(v.RedemptionsByIDs, w),
		ResidentRedemptions: dataloadgen.NewMappedLoader(v.RedemptionsByResidents, w),
		IdempotencyKey:      dataloadgen.NewMappedLoader(v.IdempotencyKeys, w),
	}
}

func providerPayload(p *voucher.Provider, err error) (*model.ProviderPayload, error) {
	ues, err := userErrors(err)
	return &model.ProviderPayload{Provider: p, UserErrors: ues}, err
}

func programPayload(p *voucher.Program, err error) (*model.VoucherProgramPayload, error) {
	ues, err := userErrors(err)
	return &model.VoucherProgramPayload{Program: p, UserErrors: ues}, err
}

func redeemPayload(res *voucher.RedeemResult, err error) (*model.RedeemVoucherPayload, error) {
	ues, err := userErrors(err)
	if err != nil {
		return nil, err
	}
	out := &model.RedeemVoucherPayload{UserErrors: ues}
	if res != nil {
		out.Redemption, out.RemainingBalanceFen = res.Redemption, &res.RemainingFen
	}
	return out, nil
}

// issuePayload answers issueVouchers with its run: the counts once the run
// has ended, its failure as a user error.
func issuePayload(ir *voucher.IssuanceRun) *model.IssueVouchersPayload {
	out := &model.IssueVouchersPayload{Run: ir, UserErrors: []*model.UserError{}}
	switch {
	case ir.Status == run.Succeeded:
		out.IssuedCount, out.SkippedCount, out.IssuedFen = ir.IssuedCount, ir.SkippedCount, ir.IssuedFen
	case ir.ErrorCode != nil:
		out.UserErrors = append(out.UserErrors, &model.UserError{Field: []string{"input", "programId"}, Code: model.UserErrorCode(*ir.ErrorCode),
			Message: deref(ir.Error)})
	}
	return out
}

func userErrorCode(c *problem.Code) *model.UserErrorCode {
	if c == nil {
		return nil
	}
	out := model.UserErrorCode(*c)
	return &out
}

// runsArgs parses a runs list's arguments.
func runsArgs(programID *string, first *int, after *string) (*uuid.UUID, page.Request, error) {
	pid, err := relay.ParseOptional(TypeVoucherProgram, programID)
	if err != nil {
		return nil, page.Request{}, err
	}
	p, err := page.New(first, after)
	return pid, p, err
}

// TypeSettlement names settlement ids: a settlement is one provider's
// month, not a row with a key of its own.
const TypeSettlement = "Settlement"

// settlementID is a settlement's stable opaque id (provider and month).
func settlementID(st *voucher.Settlement) string {
	return base64.RawURLEncoding.EncodeToString([]byte(TypeSettlement + ":" + st.ProviderID.String() + ":" + st.Month))
}

func providerRedemptionFilter(f *model.ProviderRedemptionFilter) (voucher.RedemptionFilter, error) {
	if f == nil {
		return voucher.RedemptionFilter{}, nil
	}
	pid, err := relay.ParseOptional(TypeVoucherProgram, f.ProgramID)
	if err != nil {
		return voucher.RedemptionFilter{}, err
	}
	return voucher.RedemptionFilter{From: f.From, To: f.To, Status: f.Status, ProgramID: pid}, nil
}

func redemptionConnection(res page.Result[*voucher.Redemption], err error) (*model.RedemptionConnection, error) {
	if err != nil {
		return nil, err
	}
	conn := &model.RedemptionConnection{PageInfo: pageInfo(res, func(x *voucher.Redemption) uuid.UUID { return x.ID }), Edges: []*model.RedemptionEdge{}}
	for _, x := range res.Items {
		conn.Edges = append(conn.Edges, &model.RedemptionEdge{Cursor: page.EncodeCursor(x.ID), Node: x})
	}
	return conn, nil
}
