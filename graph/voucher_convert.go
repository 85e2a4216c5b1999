package graph

import (
	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/internal/voucher"
)

// TypeResidentRef is the global-ID type name of residents, as the resident
// domain encodes them (its TypeResident constant at merge).
const TypeResidentRef = "Resident"

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
