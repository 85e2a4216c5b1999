package policy

import (
	"fmt"
	"strings"

	"github.com/jinjiang/residents/internal/auth"
)

var reachWords = map[Reach]string{
	Own:      "its own",
	Served:   "residents it has served",
	Self:     "their own",
	Subtree:  "in their unit's subtree",
	District: "district-wide",
}

// RoleTable is the policy as the README's "Who may do what" table
// (markdown): one row per role, each allowed action with its reach.
// TestREADMERoleTable keeps the README's copy identical.
func RoleTable() string {
	var b strings.Builder
	b.WriteString("| role | may |\n|---|---|\n")
	for _, r := range auth.AllRoles {
		var may []string
		for _, a := range Actions {
			g := grants[r][a.Action]
			if g == None {
				continue
			}
			if everywhere[a.Action] {
				may = append(may, a.Says)
				continue
			}
			may = append(may, fmt.Sprintf("%s (%s)", a.Says, reachWords[g]))
		}
		fmt.Fprintf(&b, "| %s | %s |\n", r, strings.Join(may, "; "))
	}
	return b.String()
}

// everywhere marks the actions that concern no particular resident, whose
// reach the table leaves unsaid.
var everywhere = map[Action]bool{
	ManageProviders: true, ManagePrograms: true, IssueVouchers: true, BackfillVouchers: true, ConfirmSettlement: true,
	ManageCatalog: true, ManageCalendar: true, ManageSubsidyRules: true, ManageOrgTree: true, FindDuplicates: true,
	ManageStaff: true, ResetPassword: true, ChangeOwnPassword: true, ReadStaff: true, ReadAuditLog: true, DeviceHeartbeat: true,
	TakeDistrictWideApplication: true, ReceiveEmergencyCall: true,
}
