package graph

import (
	"sort"

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
	out := &model.OrgMovePayload{OrgUnit: res.Unit, Changed: make([]*model.OrgMoveCount, 0, len(res.Changed)), UserErrors: ues}
	for t, n := range res.Changed {
		out.Changed = append(out.Changed, &model.OrgMoveCount{Table: t, Count: int(n)})
	}
	sort.Slice(out.Changed, func(i, j int) bool { return out.Changed[i].Table < out.Changed[j].Table })
	return out, nil
}
