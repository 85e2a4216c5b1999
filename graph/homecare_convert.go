package graph

import (
	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/homecare"
)

func workerPayload(w *homecare.Worker, err error) (*model.CareWorkerPayload, error) {
	ues, err := userErrors(err)
	return &model.CareWorkerPayload{Worker: w, UserErrors: ues}, err
}

func cardPayload(c *homecare.Card, err error) (*model.ServiceCardPayload, error) {
	ues, err := userErrors(err)
	return &model.ServiceCardPayload{Card: c, UserErrors: ues}, err
}

func orderPayload(o *homecare.Order, err error) (*model.ServiceOrderPayload, error) {
	ues, err := userErrors(err)
	if len(ues) > 0 {
		o = nil
	}
	return &model.ServiceOrderPayload{Order: o, UserErrors: ues}, err
}

// parseAll decodes a list of global IDs that must all be of type typ.
func parseAll(typ string, gids []string) ([]uuid.UUID, error) {
	out := make([]uuid.UUID, len(gids))
	for i, g := range gids {
		id, err := relay.ParseAs(typ, g)
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
}
