package graph

import "github.com/jinjiang/residents/graph/model"

// Global ID type names of the family objects. Neither is a Node: a proxy
// link is read through its resident or myProxies, a notification through
// myNotifications or its resident's deliveries.
const (
	TypeResidentProxy = "ResidentProxy"
	TypeNotification  = "Notification"
)

// okPayload maps a mutation that returns nothing but its errors.
func okPayload(err error) (*model.OkPayload, error) {
	ues, err := userErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.OkPayload{Ok: len(ues) == 0, UserErrors: ues}, nil
}

// firstOr is a list argument's size, def when it was not given.
func firstOr(first *int, def int) int {
	if first == nil {
		return def
	}
	return *first
}
