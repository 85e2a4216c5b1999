package auth

import (
	"fmt"
	"io"
	"strconv"
)

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
)

// AllRoles lists every role in contract order.
var AllRoles = []Role{Resident, Clerk, CaseWorker, Operator, Provider, Admin, Auditor, Integration}

// Valid reports whether r is a contract role.
func (r Role) Valid() bool {
	for _, x := range AllRoles {
		if r == x {
			return true
		}
	}
	return false
}

// MarshalGQL writes the role as a GraphQL enum value.
func (r Role) MarshalGQL(w io.Writer) { io.WriteString(w, strconv.Quote(string(r))) }

// UnmarshalGQL reads a GraphQL enum value.
func (r *Role) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok || !Role(s).Valid() {
		return fmt.Errorf("not a Role")
	}
	*r = Role(s)
	return nil
}
