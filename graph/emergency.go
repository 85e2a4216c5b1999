package graph

import (
	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/graph/relay"
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

// callbackRequest maps requestOutboundCall's and revealContactNumber's ids.
func callbackRequest(callID string, target emergency.CallbackTarget, contactID *string) (emergency.CallbackRequest, error) {
	cid, err := relay.ParseAs(TypeEmergencyCall, callID)
	if err != nil {
		return emergency.CallbackRequest{}, err
	}
	ct, err := relay.ParseOptional(TypeEmergencyContact, contactID)
	return emergency.CallbackRequest{CallID: cid, Target: target, ContactID: ct}, err
}

func welfareDueConnection(res page.Result[*emergency.WelfareDue], err error) (*model.WelfareCheckDueConnection, error) {
	if err != nil {
		return nil, err
	}
	edges := make([]*model.WelfareCheckDueEdge, len(res.Items))
	for i, d := range res.Items {
		edges[i] = &model.WelfareCheckDueEdge{Cursor: page.EncodeCursor(d.ResidentID), Node: d}
	}
	key := func(d *emergency.WelfareDue) uuid.UUID { return d.ResidentID }
	return &model.WelfareCheckDueConnection{Edges: edges, PageInfo: pageInfo(res, key)}, nil
}

func escalationConnection(res page.Result[*emergency.WelfareEscalation], err error) (*model.WelfareEscalationConnection, error) {
	if err != nil {
		return nil, err
	}
	edges := make([]*model.WelfareEscalationEdge, len(res.Items))
	for i, e := range res.Items {
		edges[i] = &model.WelfareEscalationEdge{Cursor: page.EncodeCursor(e.ID), Node: e}
	}
	key := func(e *emergency.WelfareEscalation) uuid.UUID { return e.ID }
	return &model.WelfareEscalationConnection{Edges: edges, PageInfo: pageInfo(res, key)}, nil
}

// operatorKeys turns the per-operator groups' user ids into StaffUser
// global ids (opaque, like every id the API shows).
func operatorKeys(st *emergency.Stats, err error) (*emergency.Stats, error) {
	if err != nil {
		return nil, err
	}
	for i, g := range st.ByOperator {
		if id, err := uuid.Parse(g.Key); err == nil {
			st.ByOperator[i].Key = relay.ID(TypeStaffUser, id)
		}
	}
	return st, nil
}
