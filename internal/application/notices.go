package application

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/notify"
)

// notices are the transitions the applicant (and the proxies holding
// APPLY) are told of, by kind.
var notices = map[Status]notify.Kind{
	Accepted:            notify.ApplicationAccepted,
	SupplementRequested: notify.ApplicationSupplementRequested,
	Approved:            notify.ApplicationDecided,
	Denied:              notify.ApplicationDecided,
	Completed:           notify.ApplicationCompleted,
}

// notifyApplicant queues, inside tx, the notice of a transition to to.
// A supplement request carries the one complete list: the required
// materials not yet submitted, and the clerk's note.
func notifyApplicant(ctx context.Context, tx *gorm.DB, row *applicationRow, it *Item, to Status, note *string, now time.Time) error {
	kind, ok := notices[to]
	if !ok {
		return nil
	}
	p := map[string]any{"applicationId": row.ID, "number": row.Number, "item": it.Name, "at": now}
	switch to {
	case SupplementRequested:
		var have []SubmittedMaterial
		_ = json.Unmarshal(row.Materials, &have)
		got := map[string]bool{}
		for _, m := range have {
			got[m.Name] = true
		}
		missing := []string{}
		for _, m := range it.Materials {
			if m.Required && !got[m.Name] {
				missing = append(missing, m.Name)
			}
		}
		if note != nil {
			missing = append(missing, *note)
		}
		p["missing"] = missing
	case Approved, Denied:
		p["outcome"] = string(to)
	}
	return notify.ForResident(ctx, tx, kind, row.ApplicantID, p, now)
}
