package homecare

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// Card states.
const (
	CardActive   = "ACTIVE"
	CardLocked   = "LOCKED"
	CardLost     = "LOST"
	CardReplaced = "REPLACED"
)

// MaxPINAttempts wrong PINs lock a card until a counter unlocks it.
const MaxPINAttempts = 5

// ValidPIN reports whether pin is six ASCII digits.
func ValidPIN(pin string) bool {
	if len(pin) != 6 {
		return false
	}
	for i := 0; i < len(pin); i++ {
		if pin[i] < '0' || pin[i] > '9' {
			return false
		}
	}
	return true
}

// weakPIN refuses the PINs guessed first (all one digit, runs).
func weakPIN(pin string) bool {
	same, up, down := true, true, true
	for i := 1; i < len(pin); i++ {
		same = same && pin[i] == pin[0]
		up = up && pin[i] == pin[i-1]+1
		down = down && pin[i] == pin[i-1]-1
	}
	return same || up || down
}

// requireResident checks v may take a (a counter action) on resident id.
func requireResident(ctx context.Context, db *gorm.DB, a policy.Action, id uuid.UUID) (*auth.Viewer, error) {
	f, err := factsOf(ctx, db, id)
	if err != nil {
		return nil, err
	}
	if f == nil {
		if _, err := policy.Require(ctx, a); err != nil {
			return nil, err
		}
		return nil, problem.New(problem.NotFound, "居民不存在", "input", "residentId")
	}
	v, err := policy.Require(ctx, a)
	if err != nil {
		return nil, err
	}
	ok, err := policy.On(v, a, policy.Subject{ID: id, OrgPath: f.OrgPath})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, policy.OutOfJurisdiction("input", "residentId")
	}
	if !f.Living {
		return nil, problem.New(problem.NotEligible, "该居民已故", "input", "residentId")
	}
	return v, nil
}

// SetHome records a resident's home position, entered at a counter:
// check-in distances are measured from it.
func (s *Service) SetHome(ctx context.Context, residentID uuid.UUID, p Position) error {
	v, err := requireResident(ctx, s.db, policy.ManageServiceCards, residentID)
	if err != nil {
		return err
	}
	if ue := validPosition(p, "position"); ue != nil {
		return ue
	}
	return database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if err := tx.Exec(`INSERT INTO care_homes (resident_id, latitude, longitude, set_at, set_by) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (resident_id) DO UPDATE SET latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
			set_at = EXCLUDED.set_at, set_by = EXCLUDED.set_by`, residentID, p.Latitude, p.Longitude, s.now(), v.ID).Error; err != nil {
			return database.Classify(err)
		}
		return audit.Record(ctx, tx, audit.ActionSetResidentHome, audit.EntityResident, &residentID, nil)
	})
}

// IssueCard issues an elder service card at a counter with the PIN the
// elder sets there (stored as argon2id at the PIN parameters: pin.go). A
// resident holding a usable card gets a new one and the old one is
// REPLACED: a card reported lost is replaced the same way.
func (s *Service) IssueCard(ctx context.Context, residentID uuid.UUID, pin string) (*Card, error) {
	v, err := requireResident(ctx, s.db, policy.ManageServiceCards, residentID)
	if err != nil {
		return nil, err
	}
	if !ValidPIN(pin) {
		return nil, problem.New(problem.Invalid, "密码须为6位数字", "input", "pin")
	}
	if weakPIN(pin) {
		return nil, problem.New(problem.WeakPassword, "密码过于简单(相同或连续数字), 请另设", "input", "pin")
	}
	hash, err := hashPIN(pin)
	if err != nil {
		return nil, err
	}
	var out *Card
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		now := s.now()
		if err := tx.Exec("UPDATE service_cards SET status = ?, ended_at = ? WHERE resident_id = ? AND status IN ('ACTIVE', 'LOCKED')",
			CardReplaced, now, residentID).Error; err != nil {
			return database.Classify(err)
		}
		for attempt := 0; ; attempt++ {
			num, err := cardNumber()
			if err != nil {
				return err
			}
			r := cardRow{ID: newID(), ResidentID: residentID, CardNumber: num, PinHash: hash, Status: CardActive, IssuedAt: now, IssuedBy: v.ID}
			err = tx.Exec("SAVEPOINT card").Error
			if err == nil {
				err = tx.Create(&r).Error
			}
			if c, dup := database.IsUniqueViolation(err); dup && c == "service_cards_number_key" && attempt < 3 {
				if err := tx.Exec("ROLLBACK TO SAVEPOINT card").Error; err != nil {
					return database.Classify(err)
				}
				continue
			}
			if err != nil {
				return database.Classify(err)
			}
			out = r.card()
			break
		}
		return audit.Record(ctx, tx, audit.ActionIssueServiceCard, audit.EntityResident, &residentID, map[string]any{"cardNumber": out.CardNumber})
	})
	return out, err
}

// cardNumber is 12 random digits, the first not 0 (printed on the card).
func cardNumber() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(900_000_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%012d", n.Int64()+100_000_000_000), nil
}

// ReportCardLost ends a resident's usable card at once (LOST): nobody can
// confirm with it any more. issueServiceCard gives a new one.
func (s *Service) ReportCardLost(ctx context.Context, residentID uuid.UUID) (*Card, error) {
	return s.changeCard(ctx, residentID, audit.ActionReportServiceCardLost,
		"UPDATE service_cards SET status = 'LOST', ended_at = ? WHERE resident_id = ? AND status IN ('ACTIVE', 'LOCKED')", true)
}

// UnlockCard unlocks a card that wrong PINs locked, at a counter (the
// elder shows up in person), and resets the count.
func (s *Service) UnlockCard(ctx context.Context, residentID uuid.UUID) (*Card, error) {
	return s.changeCard(ctx, residentID, audit.ActionUnlockServiceCard,
		"UPDATE service_cards SET status = 'ACTIVE', failed_attempts = 0 WHERE resident_id = ? AND status = 'LOCKED'", false)
}

// changeCard runs stmt on the resident's card (its parameters: the time
// when stamped, then the resident).
func (s *Service) changeCard(ctx context.Context, residentID uuid.UUID, action audit.Action, stmt string, stamped bool) (*Card, error) {
	if _, err := requireResident(ctx, s.db, policy.ManageServiceCards, residentID); err != nil {
		return nil, err
	}
	var out *Card
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		var r cardRow
		err := tx.Where("resident_id = ?", residentID).Order("issued_at DESC, id DESC").Take(&r).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return problem.New(problem.NotFound, "该居民没有服务卡", "input", "residentId")
		}
		if err != nil {
			return database.Classify(err)
		}
		args := []any{residentID}
		if stamped {
			args = []any{s.now(), residentID}
		}
		res := tx.Exec(stmt, args...)
		if res.Error != nil {
			return database.Classify(res.Error)
		}
		if res.RowsAffected == 0 {
			return problem.New(problem.InvalidTransition, "服务卡当前状态不允许此操作", "input", "residentId")
		}
		if err := tx.Where("id = ?", r.ID).Take(&r).Error; err != nil {
			return database.Classify(err)
		}
		out = r.card()
		return audit.Record(ctx, tx, action, audit.EntityResident, &residentID, map[string]any{"cardNumber": r.CardNumber})
	})
	return out, err
}

// Card is a resident's newest card, for staff who manage cards.
func (s *Service) Card(ctx context.Context, residentID uuid.UUID) (*Card, error) {
	if _, err := requireResident(ctx, s.db, policy.ManageServiceCards, residentID); err != nil {
		if ues, ok := problem.AsUserErrors(err); ok && len(ues) > 0 {
			return nil, problem.Forbidden(ues[0].Message)
		}
		return nil, err
	}
	var r cardRow
	err := s.db.WithContext(ctx).Where("resident_id = ?", residentID).Order("issued_at DESC, id DESC").Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, database.Classify(err)
	}
	return r.card(), nil
}
