package emergency

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/notify"
)

// The alarm notices: the resident's ALARMS proxies by WeChat and the first
// emergency contact by SMS (notify's audience for these kinds) hear that
// an alarm was received, a responder dispatched, the call closed.
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

// notifyReceived queues the notice of a new call. Intake is one
// autocommit statement (store.go), so this runs in its own transaction
// right after it: a crash between the two loses the notice, never a call,
// and a refused intake queues nothing. (Folding the insert into the
// intake statement is left for when that statement settles.)
func (s *Service) notifyReceived(ctx context.Context, c *callRow, now time.Time) error {
	if c.ResidentID == nil {
		return nil
	}
	return database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		return notify.ForResident(ctx, tx, notify.AlarmReceived, *c.ResidentID, map[string]any{"callId": c.ID, "at": c.ReceivedAt}, now)
	})
}
