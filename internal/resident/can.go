package resident

import (
	"context"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/policy"
)

// Permissions says what the viewer may do with one resident's record, so
// that clients show or hide their buttons without copying the role table:
// each answer is policy.On for the action the mutation or field asks for.
type Permissions struct {
	Update, Enroll, CreateToken, ReadIDNumber, ReadEmergencyCalls, ReadApplications bool
}

// ViewerCan answers Resident.viewerCan for r.
func (s *Service) ViewerCan(ctx context.Context, r *Resident) Permissions {
	v := auth.ViewerFrom(ctx)
	subject := policy.Subject{ID: r.ID, OrgPath: r.OrgPath}
	on := func(a policy.Action) bool {
		ok, _ := policy.On(v, a, subject) // no Served check: none of these is granted to served residents alone
		return ok
	}
	return Permissions{
		Update:             on(policy.EditResident),
		Enroll:             on(policy.EnrollResident),
		CreateToken:        on(policy.CreateRedemptionToken),
		ReadIDNumber:       on(policy.ReadFullIDNumber),
		ReadEmergencyCalls: on(policy.ReadEmergencyCalls),
		ReadApplications:   on(policy.ReadApplications),
	}
}
