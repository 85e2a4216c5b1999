package emergency

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/notify"
)

// The alarm notices: the resident's ALARMS proxies by WeChat and the first
// emergency contact by SMS (notify's audience for these kinds) hear that
// an alarm was received (queued by the intake statement itself:
// insertCallSQL's nt), a responder dispatched, the call closed.
var alarmNotices = map[Action]notify.Kind{
	ActDispatch: notify.AlarmDispatched,
	ActClose:    notify.AlarmClosed,
}

// notifyStep queues, inside tx, the notice of a handling step.
func notifyStep(ctx context.Context, tx *gorm.DB, row *callRow, act Action, now time.Time) error {
	kind, ok := alarmNotices[act]
	if !ok || row.ResidentID == nil {
		return nil
	}
	return notify.ForResident(ctx, tx, kind, *row.ResidentID, map[string]any{"callId": row.ID, "at": now}, now)
}
