package graph

import (
	"context"
	"sort"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/page"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/resident"
)

// intPtr is a run's optional count as GraphQL's Int.
func intPtr(n *int64) *int {
	if n == nil {
		return nil
	}
	v := int(*n)
	return &v
}

// runErrorCode is a run's stored error code as a UserErrorCode.
func runErrorCode(c *string) *model.UserErrorCode {
	if c == nil {
		return nil
	}
	code := problem.Code(*c)
	return userErrorCode(&code)
}

// moveCounts lists rows changed per table, in table order.
func moveCounts(m map[string]int64) []*model.OrgMoveCount {
	out := make([]*model.OrgMoveCount, 0, len(m))
	for t, n := range m {
		out = append(out, &model.OrgMoveCount{Table: t, Count: int(n)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Table < out[j].Table })
	return out
}

func candidateConnection(res page.Result[*resident.Candidate]) *model.DuplicateCandidateConnection {
	edges := make([]*model.DuplicateCandidateEdge, len(res.Items))
	for i, x := range res.Items {
		edges[i] = &model.DuplicateCandidateEdge{Cursor: page.EncodeCursor(x.ID), Node: x}
	}
	return &model.DuplicateCandidateConnection{Edges: edges,
		PageInfo: pageInfo(res, func(x *resident.Candidate) uuid.UUID { return x.ID })}
}

// mergePayload answers a merge with the survivor as the viewer now sees it.
func (r *Resolver) mergePayload(ctx context.Context, res *resident.MergeResult, err error) (*model.MergeResidentsPayload, error) {
	ues, err := userErrors(err)
	if err != nil || len(ues) > 0 {
		return &model.MergeResidentsPayload{Moved: []*model.MergeCount{}, UserErrors: ues}, err
	}
	surv, err := r.Registry.Get(ctx, res.Survivor)
	if err != nil {
		return nil, err
	}
	out := &model.MergeResidentsPayload{Candidate: res.Candidate, Survivor: surv, Moved: []*model.MergeCount{}, UserErrors: ues}
	for t, n := range res.Moved {
		out.Moved = append(out.Moved, &model.MergeCount{Table: t, Count: int(n)})
	}
	sort.Slice(out.Moved, func(i, j int) bool { return out.Moved[i].Table < out.Moved[j].Table })
	return out, nil
}

// ExportURL is where an export's requester downloads it (internal/app serves it).
func ExportURL(id uuid.UUID) string { return "/exports/" + relay.ID(TypeResidentExport, id) + ".xlsx" }
