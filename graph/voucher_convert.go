package graph

import (
	"github.com/google/uuid"
	"github.com/vikstrous/dataloadgen"

	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/internal/voucher"
)

// Global ID type names of the voucher domain.
const (
	TypeProvider       = "Provider"
	TypeVoucherProgram = "VoucherProgram"
	TypeVoucher        = "Voucher"
	TypeRedemption     = "Redemption"
	TypeLedgerEntry    = "LedgerEntry"
)

// voucherLoaders are the voucher domain's per-request loaders.
type voucherLoaders struct {
	Provider            *dataloadgen.Loader[uuid.UUID, *voucher.Provider]
	Program             *dataloadgen.Loader[uuid.UUID, *voucher.Program]
	ResidentVouchers    *dataloadgen.Loader[uuid.UUID, []*voucher.Voucher]
	Ledger              *dataloadgen.Loader[uuid.UUID, []*voucher.LedgerEntry]
	Redemption          *dataloadgen.Loader[uuid.UUID, *voucher.Redemption]
	ResidentRedemptions *dataloadgen.Loader[voucher.ResidentRedemptionsKey, []*voucher.Redemption]
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
