package emergency

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/pii"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// callerNumberAAD binds encrypted caller numbers to their column.
const callerNumberAAD = "emergency_call.caller_number"

// Service holds the emergency-call rules and the authorization decisions.
type Service struct {
	db   *gorm.DB
	keys *pii.Keyring
	now  func() time.Time
	log  *slog.Logger
	hub  *Hub
	// manual throttles calls taken in by hand, per operator.
	manual *auth.Throttle
	// alarm is the call-back wiring (SetAlarmCenter); outboundKick wakes
	// the outbound sender after a request.
	alarm        AlarmCenter
	outboundKick chan struct{}
}

// ManualIntakeWindow is the window of the manual-intake throttle: a call
// typed in by an operator looks its caller number up in the registry's
// phone index, so an operator may take in at most the configured number
// per window (EMERGENCY_MANUAL_INTAKE_PER_HOUR; one a minute by default,
// above the pace at which one person can answer calls by phone).
const ManualIntakeWindow = time.Hour

// NewService builds the service; the live board publishes and listens on a
// Redis channel under prefix; manual throttles calls operators take in by
// hand (per operator).
func NewService(db *gorm.DB, keys *pii.Keyring, rdb redis.UniversalClient, prefix string, now func() time.Time, log *slog.Logger, manual *auth.Throttle) *Service {
	s := &Service{db: db, keys: keys, now: now, log: log, manual: manual, outboundKick: make(chan struct{}, 1)}
	s.hub = newHub(rdb, prefix+"emergency:calls", log, s.callWithEvents)
	return s
}

// RunHub listens for call changes from every instance and fans them out
// to this instance's subscribers until ctx ends.
func (s *Service) RunHub(ctx context.Context) { s.hub.run(ctx) }

// --- authorization --------------------------------------------------------

// readScope returns the org path a staff viewer may read calls and devices
// under ("" = the whole district, unknown residents included). A resident
// reads their own through ownScope instead.
func readScope(ctx context.Context) (*auth.Viewer, string, error) {
	return staffScope(ctx, policy.ReadEmergencyCalls)
}

// staffScope is the org path prefix of the viewer's district-wide ("") or
// subtree reach for action a; FORBIDDEN for any narrower reach.
func staffScope(ctx context.Context, a policy.Action) (*auth.Viewer, string, error) {
	v, err := policy.Require(ctx, a)
	if err != nil {
		return nil, "", err
	}
	switch sc := policy.ScopeOf(v, a); sc.Reach {
	case policy.District:
		return v, "", nil
	case policy.Subtree:
		return v, sc.Path, nil
	}
	return nil, "", problem.Forbidden("no jurisdiction")
}

// ownScope reports whether v is the mini-program account of resident id
// (a resident sees their own calls and devices).
func ownScope(v *auth.Viewer, id uuid.UUID) bool {
	return policy.ScopeOf(v, policy.ReadEmergencyCalls).Reach == policy.Self && policy.IsSelf(v, id)
}

func canRead(v *auth.Viewer, orgPath string) bool {
	ok, _ := policy.On(v, policy.ReadEmergencyCalls, policy.Subject{OrgPath: orgPath})
	return ok
}

// scopeFor narrows the viewer's scope to an org unit's subtree.
func (s *Service) scopeFor(ctx context.Context, v *auth.Viewer, base string, unitID *uuid.UUID) (string, error) {
	if unitID == nil {
		return base, nil
	}
	var paths []string
	if err := s.db.WithContext(ctx).Table("org_units").Where("id = ?", *unitID).Limit(1).Pluck("path", &paths).Error; err != nil {
		return "", fmt.Errorf("emergency: org unit: %w", database.Classify(err))
	}
	if len(paths) == 0 {
		return "", problem.BadInput("unknown org unit")
	}
	if base != "" && !strings.HasPrefix(paths[0], base) {
		return "", problem.Forbidden("outside your jurisdiction")
	}
	return paths[0], nil
}

func underPath(q *gorm.DB, col, path string) *gorm.DB {
	if path == "" {
		return q
	}
	return q.Where(col+" LIKE ?", policy.LikePrefix(path))
}

// --- devices --------------------------------------------------------------

// RegisterDevice is the input of RegisterDevice.
type RegisterDevice struct {
	Serial     string
	Kind       DeviceKind
	ResidentID uuid.UUID
	// HeartbeatIntervalSeconds is how often the device reports (default
	// one hour; 60 s to 7 days).
	HeartbeatIntervalSeconds *int
}

// RegisterDevice binds a new device to a resident.
func (s *Service) RegisterDevice(ctx context.Context, in RegisterDevice) (*Device, error) {
	v, err := policy.Require(ctx, policy.RegisterDevice)
	if err != nil {
		return nil, err
	}
	serial := strings.TrimSpace(in.Serial)
	if serial == "" || utf8.RuneCountInString(serial) > 64 || strings.ContainsAny(serial, " \t\r\n") {
		return nil, problem.New(problem.Invalid, "serial must be 1 to 64 characters without spaces", "input", "serial")
	}
	interval := 0
	if n := in.HeartbeatIntervalSeconds; n != nil {
		if *n < 60 || *n > 604800 {
			return nil, problem.New(problem.Invalid, "心跳间隔须在 60 秒至 7 天之间 (heartbeatIntervalSeconds must be 60 to 604800)", "input", "heartbeatIntervalSeconds")
		}
		interval = *n
	}
	var out *Device
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		var paths []string
		if err := tx.Table("resident_facts").Where("id = ?", in.ResidentID).Limit(1).Pluck("org_path", &paths).Error; err != nil {
			return fmt.Errorf("emergency: resident: %w", database.Classify(err))
		}
		if len(paths) == 0 {
			return problem.New(problem.NotFound, "resident not found", "input", "residentId")
		}
		// Operators work district-wide; case workers only in their subtree.
		if ok, _ := policy.On(v, policy.RegisterDevice, policy.Subject{ID: in.ResidentID, OrgPath: paths[0]}); !ok {
			return problem.Forbidden("resident outside your jurisdiction")
		}
		row := deviceRow{ID: uuid.Must(uuid.NewV7()), Serial: serial, Kind: string(in.Kind), ResidentID: in.ResidentID, CreatedAt: s.now(),
			HeartbeatIntervalSeconds: interval}
		if err := tx.Omit("OrgPath").Create(&row).Error; err != nil {
			if _, ok := database.IsUniqueViolation(err); ok {
				return problem.New(problem.Duplicate, "a device with this serial is already registered", "input", "serial")
			}
			return fmt.Errorf("emergency: register device: %w", database.Classify(err))
		}
		// read back what the trigger computed (silent_after)
		got, err := deviceBySerial(ctx, tx, serial, false)
		if err != nil {
			return err
		}
		out = got.device()
		return audit.Record(ctx, tx, audit.ActionRegisterEmergencyDevice, audit.EntityEmergencyDevice, &row.ID, map[string]any{"kind": in.Kind})
	})
	return out, err
}

// Heartbeat records that a device is alive. A heartbeat older than the
// last one recorded is ignored.
func (s *Service) Heartbeat(ctx context.Context, serial string, battery *int, at *time.Time) (*Device, error) {
	if _, err := policy.Require(ctx, policy.DeviceHeartbeat); err != nil {
		return nil, err
	}
	if battery != nil && (*battery < 0 || *battery > 100) {
		return nil, problem.New(problem.Invalid, "battery level must be between 0 and 100", "input", "batteryPercent")
	}
	// a far-future heartbeat would mask a device going silent
	when, err := reportedTime(at, s.now(), "at")
	if err != nil {
		return nil, err
	}
	serial = strings.TrimSpace(serial)
	var out *Device
	var recovered *callRow
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		recovered = nil
		res := tx.Model(&deviceRow{}).Where("serial = ? AND (last_heartbeat_at IS NULL OR last_heartbeat_at <= ?)", serial, when).
			Updates(map[string]any{"last_heartbeat_at": when, "battery_percent": gorm.Expr("COALESCE(?, battery_percent)", battery)})
		if res.Error != nil {
			return fmt.Errorf("emergency: heartbeat: %w", database.Classify(res.Error))
		}
		row, err := deviceBySerial(ctx, tx, serial, false)
		if err != nil {
			return err
		}
		if row == nil {
			return problem.New(problem.NotFound, "unknown device serial", "input", "serial")
		}
		// heard from again: a technical alarm's episode may end
		if recovered, err = s.endEpisode(ctx, tx, row, s.now()); err != nil {
			return err
		}
		if recovered != nil {
			row.FaultEpisodeID = nil
		}
		out = row.device()
		return audit.Record(ctx, tx, audit.ActionRecordDeviceHeartbeat, audit.EntityEmergencyDevice, &row.ID, nil)
	})
	if err == nil && recovered != nil {
		s.hub.publish(ctx, recovered.ID, recovered.OrgPath)
	}
	return out, err
}

// silentLimit bounds the silent-device list.
const silentLimit = 1000

// SilentDevices lists devices whose last heartbeat is older than since, or
// that never sent one, in the viewer's jurisdiction (never-heard first).
func (s *Service) SilentDevices(ctx context.Context, since time.Time) ([]*Device, error) {
	_, path, err := staffScope(ctx, policy.WatchBoard)
	if err != nil {
		return nil, err
	}
	var rows []deviceRow
	q := devices(s.db.WithContext(ctx)).Where("d.last_heartbeat_at IS NULL OR d.last_heartbeat_at < ?", since)
	if err := underPath(q, "r.org_path", path).Order("d.last_heartbeat_at NULLS FIRST, d.serial").Limit(silentLimit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("emergency: silent devices: %w", database.Classify(err))
	}
	out := make([]*Device, len(rows))
	for i, r := range rows {
		out[i] = r.device()
	}
	return out, nil
}

// Device returns one device the viewer may read, or nil.
func (s *Service) Device(ctx context.Context, id uuid.UUID) (*Device, error) {
	m, err := s.DevicesByIDs(ctx, []uuid.UUID{id})
	return m[id], err
}

// DevicesByIDs loads devices the viewer may read (others are left out).
func (s *Service) DevicesByIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*Device, error) {
	v, _, err := readScope(ctx)
	if err != nil {
		return map[uuid.UUID]*Device{}, nil
	}
	var rows []deviceRow
	if err := devices(s.db.WithContext(ctx)).Where("d.id = ANY(?)", database.UUIDs(ids)).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("emergency: devices: %w", database.Classify(err))
	}
	out := make(map[uuid.UUID]*Device, len(rows))
	for _, r := range rows {
		if canRead(v, r.OrgPath) {
			out[r.ID] = r.device()
		}
	}
	return out, nil
}

// DevicesByResidents loads the devices of residents (for Resident.emergencyDevices).
func (s *Service) DevicesByResidents(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]*Device, error) {
	out := make(map[uuid.UUID][]*Device, len(ids))
	v, _, err := readScope(ctx)
	if err != nil {
		// a resident in the mini-program sees their own devices only
		if rv := auth.ViewerFrom(ctx); rv != nil && rv.ResidentID != nil && ownScope(rv, *rv.ResidentID) {
			v, ids = rv, []uuid.UUID{*rv.ResidentID}
		} else {
			return out, nil
		}
	}
	var rows []deviceRow
	if err := devices(s.db.WithContext(ctx)).Where("d.resident_id = ANY(?)", database.UUIDs(ids)).Order("d.serial").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("emergency: devices: %w", database.Classify(err))
	}
	for _, r := range rows {
		if canRead(v, r.OrgPath) || ownScope(v, r.ResidentID) {
			out[r.ResidentID] = append(out[r.ResidentID], r.device())
		}
	}
	return out, nil
}
