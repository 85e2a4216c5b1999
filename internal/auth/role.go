package auth

// Role is one of the contract's Role enum values.
type Role string

// The roles of the client contract.
const (
	Resident    Role = "RESIDENT"
	Clerk       Role = "CLERK"
	CaseWorker  Role = "CASE_WORKER"
	Operator    Role = "OPERATOR"
	Provider    Role = "PROVIDER"
	Admin       Role = "ADMIN"
	Auditor     Role = "AUDITOR"
	Integration Role = "INTEGRATION"
	// CareWorker is one home-care worker of a provider: one login each,
	// created and deactivated by the provider's own users.
	CareWorker Role = "CARE_WORKER"
)

// AllRoles lists every role in contract order.
var AllRoles = []Role{Resident, Clerk, CaseWorker, Operator, Provider, Admin, Auditor, Integration, CareWorker}

// Valid reports whether r is a contract role.
func (r Role) Valid() bool {
	for _, x := range AllRoles {
		if r == x {
			return true
		}
	}
	return false
}
