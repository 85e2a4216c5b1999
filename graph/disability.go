package graph

import (
	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/internal/disability"
)

// Global-ID type names of other domains' Node types that disability inputs
// refer to. TODO(merge): replace with the resident and provider domains'
// TypeResident and TypeProvider constants.
const (
	typeResidentForDisability = "Resident"
	typeProviderForDisability = "Provider"
)

// disabilityServicePayload maps a service-record result to its payload.
func disabilityServicePayload(rec *disability.ServiceRecord, err error) (*model.DisabilityServicePayload, error) {
	ues, err := userErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.DisabilityServicePayload{Service: rec, UserErrors: ues}, nil
}
