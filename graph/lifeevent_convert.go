package graph

import (
	"context"
	"sort"

	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/internal/resident"
)

// lifeEventCounts lists a life event's counts by kind, in a stable order.
func lifeEventCounts(m map[string]int64) []*model.LifeEventCount {
	out := make([]*model.LifeEventCount, 0, len(m))
	for k, n := range m {
		out = append(out, &model.LifeEventCount{Kind: k, Count: int(n)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// lifeEventPayload answers a life-event mutation with the event and the
// resident as it now stands for the viewer.
func (r *Resolver) lifeEventPayload(ctx context.Context, ev *resident.LifeEvent, err error) (*model.LifeEventPayload, error) {
	ues, err := userErrors(err)
	if err != nil || len(ues) > 0 {
		return &model.LifeEventPayload{UserErrors: ues}, err
	}
	res, err := r.Registry.Get(ctx, ev.ResidentID)
	if err != nil {
		return nil, err
	}
	return &model.LifeEventPayload{LifeEvent: ev, Resident: res, UserErrors: ues}, nil
}
