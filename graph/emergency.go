package graph

import (
	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/internal/emergency"
	"github.com/jinjiang/residents/internal/page"
)

func devicePayload(d *emergency.Device, err error) (*model.EmergencyDevicePayload, error) {
	ues, err := userErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.EmergencyDevicePayload{Device: d, UserErrors: ues}, nil
}

func callPayload(c *emergency.Call, err error) (*model.EmergencyCallPayload, error) {
	ues, err := userErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.EmergencyCallPayload{Call: c, UserErrors: ues}, nil
}

func callConnection(res page.Result[*emergency.Call], err error) (*model.EmergencyCallConnection, error) {
	if err != nil {
		return nil, err
	}
	edges := make([]*model.EmergencyCallEdge, len(res.Items))
	for i, c := range res.Items {
		edges[i] = &model.EmergencyCallEdge{Cursor: page.EncodeCursor(c.ID), Node: c}
	}
	key := func(c *emergency.Call) uuid.UUID { return c.ID }
	return &model.EmergencyCallConnection{Edges: edges, PageInfo: pageInfo(res, key), TotalCount: res.TotalCount}, nil
}

func eventPtrs(ev []emergency.Event) []*emergency.Event {
	out := make([]*emergency.Event, len(ev))
	for i := range ev {
		out[i] = &ev[i]
	}
	return out
}
