package emergency

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/periodic"
)

// Fault reasons.
const (
	FaultSilent     = "SILENT"
	FaultLowBattery = "LOW_BATTERY"
)

// LowBatteryPercent is the battery level under which a device raises a
// technical alarm.
const LowBatteryPercent = 20

// faultLockKey is the advisory lock that keeps the device job on one
// instance at a time.
const faultLockKey = 7_040_001

// faultChunk is how many devices one chunk (one statement, one
// transaction) of the device job raises alarms for.
const faultChunk = 1000

// raiseSQL opens a technical-alarm episode, with its DEVICE_FAULT call, the
// call's RECEIVED event and its audit entry (SYSTEM), for the next chunk
// of devices a scan finds, in one statement: the devices are locked (SKIP
// LOCKED: a heartbeat in flight is left for the next pass) and marked with
// their episode, which takes them out of both scans' partial indexes, so
// an episode is raised once. %s is the scan: the devices' id and keyset
// columns, in the order of its partial index. Parameters: @now, @reason,
// @chunk and the keyset position @k1 (timestamptz) and @k2 (uuid).
const raiseSQL = `
WITH d AS (%s),
x AS (
  SELECT d.id AS device_id, d.k1, d.resident_id, r.org_path, uuid_v7() AS call_id, uuid_v7() AS episode_id
    FROM d JOIN resident_facts r ON r.id = d.resident_id
),
calls AS (
  INSERT INTO emergency_calls (id, external_call_id, resident_id, device_id, org_path, kind, status, received_at, created_at, updated_at)
  SELECT call_id, 'device-fault:' || episode_id, resident_id, device_id, org_path, 'DEVICE_FAULT', 'RECEIVED', @now, @now, @now FROM x
),
ev AS (
  INSERT INTO emergency_call_events (id, call_id, at, kind, actor_name, detail)
  SELECT uuid_v7(), call_id, @now, 'RECEIVED', '设备监测', @reason FROM x
),
ep AS (
  INSERT INTO emergency_device_faults (id, device_id, call_id, reason, opened_at)
  SELECT episode_id, device_id, call_id, @reason, @now FROM x
),
mark AS (
  UPDATE emergency_devices SET fault_episode_id = x.episode_id FROM x WHERE emergency_devices.id = x.device_id
),
au AS (
  ` + audit.Insert + `
  SELECT uuid_v7(), @now, '00000000-0000-0000-0000-000000000000'::uuid, 'SYSTEM', '` + string(audit.ActionReceiveEmergencyCall) + `', '` + string(audit.EntityEmergencyCall) + `',
    call_id, '', jsonb_build_object('kind', 'DEVICE_FAULT', 'deviceFault', @reason::text, 'device', true) FROM x
)
SELECT x.call_id, x.org_path, x.k1, x.device_id FROM x ORDER BY x.k1, x.device_id`

// silentScan: devices overdue (silent_after passed), by the partial index
// emergency_devices_silent_idx (silent_after, id).
const silentScan = `
  SELECT id, resident_id, silent_after AS k1 FROM emergency_devices
   WHERE fault_episode_id IS NULL AND silent_after < @now AND (silent_after, id) > (@k1::timestamptz, @k2::uuid)
   ORDER BY silent_after, id LIMIT @chunk FOR UPDATE SKIP LOCKED`

// lowBatteryScan: devices under LowBatteryPercent, by the partial index
// emergency_devices_low_battery_idx (id); k1 is a constant.
const lowBatteryScan = `
  SELECT id, resident_id, @k1::timestamptz AS k1 FROM emergency_devices
   WHERE battery_percent < 20 AND fault_episode_id IS NULL AND id > @k2::uuid
   ORDER BY id LIMIT @chunk FOR UPDATE SKIP LOCKED`

// ScanDevices runs the technical-alarm job once: under a session advisory
// lock (another instance running it makes this call a no-op), it raises
// one DEVICE_FAULT call per episode for every device silent beyond its
// heartbeat interval, then for every device whose battery is under 20 %,
// in chunks of faultChunk by keyset, each chunk one statement (a crash
// loses at most the chunk under way; the next pass finds what is left).
// An episode ends when the device is heard from again (Heartbeat). It
// returns how many calls were raised.
func (s *Service) ScanDevices(ctx context.Context) (total int, err error) {
	_, err = database.Exclusively(ctx, s.db, faultLockKey, func(conn *sql.Conn) error {
		for _, scan := range []struct{ sql, reason string }{{silentScan, FaultSilent}, {lowBatteryScan, FaultLowBattery}} {
			k1, k2 := time.Time{}.UTC().AddDate(1, 0, 0), uuid.Nil
			for {
				n, last1, last2, err := s.raiseChunk(ctx, conn, scan.sql, scan.reason, k1, k2)
				if err != nil {
					return err
				}
				total += n
				if n < faultChunk {
					break
				}
				k1, k2 = last1, last2
			}
		}
		return nil
	})
	return total, err
}

// raiseChunk raises one chunk and publishes its calls to the live board.
func (s *Service) raiseChunk(ctx context.Context, conn *sql.Conn, scan, reason string, k1 time.Time, k2 uuid.UUID) (int, time.Time, uuid.UUID, error) {
	q, args := named(fmt.Sprintf(raiseSQL, scan), map[string]any{"now": s.now(), "reason": reason, "chunk": faultChunk, "k1": k1, "k2": k2})
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, k1, k2, database.Classify(fmt.Errorf("emergency: device faults: %w", err))
	}
	defer rows.Close()
	var raised []change
	for rows.Next() {
		var c change
		if err := rows.Scan(&c.ID, &c.Path, &k1, &k2); err != nil {
			return 0, k1, k2, database.Classify(fmt.Errorf("emergency: device faults: %w", err))
		}
		raised = append(raised, c)
	}
	if err := rows.Err(); err != nil {
		return 0, k1, k2, database.Classify(fmt.Errorf("emergency: device faults: %w", err))
	}
	for _, c := range raised {
		s.hub.publish(ctx, c.ID, c.Path)
	}
	return len(raised), k1, k2, nil
}

// named rewrites @name parameters to $n for database/sql.
func named(q string, params map[string]any) (string, []any) {
	var out []byte
	var args []any
	index := map[string]int{}
	for i := 0; i < len(q); i++ {
		if q[i] != '@' {
			out = append(out, q[i])
			continue
		}
		j := i + 1
		for j < len(q) && (q[j] == '_' || q[j] >= 'a' && q[j] <= 'z' || q[j] >= '0' && q[j] <= '9') {
			j++
		}
		name := q[i+1 : j]
		n, ok := index[name]
		if !ok {
			args = append(args, params[name])
			n = len(args)
			index[name] = n
		}
		out = append(out, fmt.Sprintf("$%d", n)...)
		i = j - 1
	}
	return string(out), args
}

// RunDeviceScan runs ScanDevices every interval until ctx ends.
func (s *Service) RunDeviceScan(ctx context.Context, interval time.Duration) {
	periodic.Every(ctx, interval, false, nil, func(ctx context.Context) {
		if n, err := s.ScanDevices(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("emergency: device scan failed", "err", err.Error())
		} else if n > 0 {
			s.log.Info("emergency: technical alarms raised", "count", n)
		}
	})
}

// endEpisode closes a device's open technical-alarm episode when the
// device is healthy again (heard from within its interval, battery not
// low), inside the heartbeat's transaction: the episode gets its end, the
// call a DEVICE_RECOVERED event, and the call is closed if still open
// (category OTHER). It returns the call changed, or nil.
func (s *Service) endEpisode(ctx context.Context, tx *gorm.DB, dev *deviceRow, now time.Time) (*callRow, error) {
	if dev.FaultEpisodeID == nil || !dev.SilentAfter.After(now) || (dev.BatteryPercent != nil && *dev.BatteryPercent < LowBatteryPercent) {
		return nil, nil
	}
	var callID uuid.UUID
	if err := tx.WithContext(ctx).Raw(`UPDATE emergency_device_faults SET closed_at = GREATEST(?::timestamptz, opened_at)
		WHERE id = ? AND closed_at IS NULL RETURNING call_id`, now, *dev.FaultEpisodeID).Row().Scan(&callID); err != nil {
		return nil, fmt.Errorf("emergency: end episode: %w", database.Classify(err))
	}
	if err := tx.WithContext(ctx).Exec("UPDATE emergency_devices SET fault_episode_id = NULL WHERE id = ?", dev.ID).Error; err != nil {
		return nil, fmt.Errorf("emergency: end episode: %w", database.Classify(err))
	}
	detail := "设备已恢复联络 (device heard from again)"
	if err := appendEvent(ctx, tx, callID, now, EventDeviceRecovered, nil, "", &detail, nil); err != nil {
		return nil, err
	}
	res := tx.WithContext(ctx).Model(&callRow{}).Where("id = ? AND status <> ?", callID, Closed).Updates(map[string]any{
		"status": string(Closed), "closed_at": gorm.Expr("GREATEST(?::timestamptz, received_at, answered_at, dispatched_at)", now),
		"category": string(Other), "outcome": detail, "updated_at": now})
	if res.Error != nil {
		return nil, fmt.Errorf("emergency: close fault call: %w", database.Classify(res.Error))
	}
	if res.RowsAffected == 1 {
		if err := appendEvent(ctx, tx, callID, now, EventClosed, nil, "", &detail, nil); err != nil {
			return nil, err
		}
		if err := audit.Record(ctx, tx, audit.ActionCloseEmergencyCall, audit.EntityEmergencyCall, &callID,
			map[string]any{"status": Closed, "deviceRecovered": true}); err != nil {
			return nil, err
		}
	}
	return callByID(ctx, tx, callID)
}
