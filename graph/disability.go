package graph

import (
	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/internal/disability"
)

// disabilityServicePayload maps a service-record result to its payload.
func disabilityServicePayload(rec *disability.ServiceRecord, err error) (*model.DisabilityServicePayload, error) {
	ues, err := userErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.DisabilityServicePayload{Service: rec, UserErrors: ues}, nil
}
