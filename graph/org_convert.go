package graph

import (
	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/internal/org"
)

// orgUnitPayload answers an org-tree edit.
func (r *Resolver) orgUnitPayload(u *org.Unit, err error) (*model.OrgUnitPayload, error) {
	ues, err := userErrors(err)
	if err != nil || len(ues) > 0 {
		return &model.OrgUnitPayload{UserErrors: ues}, err
	}
	return &model.OrgUnitPayload{OrgUnit: u, UserErrors: ues}, nil
}

// orgMovePayload answers a move with its counts per table, in table order.
func orgMovePayload(res *org.MoveResult, err error) (*model.OrgMovePayload, error) {
	ues, err := userErrors(err)
	if err != nil || len(ues) > 0 {
		return &model.OrgMovePayload{Changed: []*model.OrgMoveCount{}, UserErrors: ues}, err
	}
	return &model.OrgMovePayload{OrgUnit: res.Unit, Changed: moveCounts(res.Changed), Run: res.Run, UserErrors: ues}, nil
}
