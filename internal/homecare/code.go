package homecare

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/notify"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/resident"
)

// The one-time SMS code: the third way an elder confirms a visit, for one
// without a card at hand and without a smartphone. At check-out (or just
// before) the worker asks for a code; six random digits are texted to the
// resident's own phone (a VISIT_CODE notification written in the same
// transaction); the elder reads them to the worker once the service was
// done, and the worker's app submits them with its position.
const (
	// CodeTTL is how long a code is valid.
	CodeTTL = 5 * time.Minute
	// MaxCodeAttempts wrong codes end a code: a new one must be asked for.
	MaxCodeAttempts = 5
	// CodeInterval is the least time between two codes for one order.
	CodeInterval = time.Minute
	// MaxCodeSends is how many codes one order may have sent, in all: with
	// MaxCodeAttempts, at most 25 guesses at one visit's codes of 10^6.
	MaxCodeSends = 5
)

// CodeSent is what the worker is told of a code sent: to which phone
// (masked) and until when it is valid.
type CodeSent struct {
	MaskedPhone string
	ExpiresAt   time.Time
}

type codeRow struct {
	OrderID     uuid.UUID `gorm:"primaryKey"`
	CodeHash    string
	ExpiresAt   time.Time
	Attempts    int
	Sends       int
	LastSentAt  time.Time
	RequestedBy uuid.UUID
	UsedAt      *time.Time
}

func (codeRow) TableName() string { return "visit_codes" }

// SetSMS says whether the app sends SMS (SMS_API_BASE set): without it a
// code could never arrive, so none is made.
func (s *Service) SetSMS(on bool) { s.sms = on }

// RequestCode texts a new one-time code for the visit to the resident's
// own phone. Only the visit's worker asks, on a visit checked in or
// checked out; at most one code a minute and MaxCodeSends in all per
// order. A new code replaces the previous one (its tries start again).
// The code is stored as an argon2id hash (pin.go's parameters); the
// outbox row holds it only until it is sent.
func (s *Service) RequestCode(ctx context.Context, orderID uuid.UUID) (*CodeSent, error) {
	v, err := policy.Require(ctx, policy.PerformVisit)
	if err != nil {
		return nil, err
	}
	var out *CodeSent
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		o, err := s.requireOn(ctx, tx, v, policy.PerformVisit, orderID, "orderId")
		if err != nil {
			return err
		}
		if st := Status(o.Status); st != CheckedIn && st != CheckedOut {
			return problem.New(problem.InvalidTransition, "签到后、确认前才能发送确认码", "input", "orderId")
		}
		if !s.sms {
			return problem.New(problem.NotEligible, "短信服务未开通, 请用服务卡或小程序确认", "input", "orderId")
		}
		var phones []*string
		if err := tx.Raw(resident.PhoneMaskedSQL("?"), o.ResidentID).Scan(&phones).Error; err != nil {
			return database.Classify(err)
		}
		if len(phones) == 0 || phones[0] == nil || *phones[0] == "" {
			return problem.New(problem.NotEligible, "该居民未登记手机号, 请用服务卡或小程序确认", "input", "orderId")
		}
		now := s.now()
		var prev []codeRow
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("order_id = ?", o.ID).Find(&prev).Error; err != nil {
			return database.Classify(err)
		}
		sends := 1
		if len(prev) == 1 {
			p := prev[0]
			switch {
			case p.UsedAt != nil:
				return problem.New(problem.InvalidTransition, "确认码已使用", "input", "orderId")
			case p.Sends >= MaxCodeSends:
				return problem.New(problem.TooManyAttempts, "该工单确认码发送次数已达上限, 请用服务卡或小程序确认", "input", "orderId")
			case now.Sub(p.LastSentAt) < CodeInterval:
				return problem.New(problem.TooManyAttempts, "确认码发送过于频繁, 请1分钟后再试", "input", "orderId")
			}
			sends = p.Sends + 1
		}
		code, err := newCode()
		if err != nil {
			return err
		}
		hash, err := hashPIN(code)
		if err != nil {
			return err
		}
		r := codeRow{OrderID: o.ID, CodeHash: hash, ExpiresAt: now.Add(CodeTTL), Sends: sends, LastSentAt: now, RequestedBy: v.ID}
		if err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "order_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"code_hash", "expires_at", "attempts", "sends", "last_sent_at", "requested_by"})}).
			Create(&r).Error; err != nil {
			return database.Classify(err)
		}
		if err := notify.Enqueue(ctx, tx, notify.VisitCode, notify.SMSResident, []uuid.UUID{o.ResidentID},
			map[string]any{"residentId": o.ResidentID, "orderId": o.ID, "code": code, "expiresAt": r.ExpiresAt}, now); err != nil {
			return err
		}
		out = &CodeSent{MaskedPhone: *phones[0], ExpiresAt: r.ExpiresAt}
		return audit.Record(ctx, tx, audit.ActionRequestServiceOrderCode, audit.EntityServiceOrder, &o.ID, map[string]any{"sends": sends})
	})
	return out, err
}

// newCode is six random digits.
func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// ConfirmWithCode is the elder's confirmation by the code texted to them:
// the worker submits it with the phone's position. Like the card, in one
// transaction: the order and then the code locked (guesses one at a time),
// a wrong code counted and committed (MaxCodeAttempts end it), a right
// one used once and the visit confirmed and paid through the redemption
// engine, idempotent by order id.
func (s *Service) ConfirmWithCode(ctx context.Context, orderID uuid.UUID, code string, p Position) (*Order, error) {
	code = strings.TrimSpace(code)
	return s.confirmAtDoor(ctx, orderID, "", p, ViaSMSCode, audit.ActionConfirmServiceOrderWithCode,
		func(tx *gorm.DB, lv *lockedVisit) (error, error) {
			if !ValidPIN(code) {
				return problem.New(problem.InvalidCredentials, "确认码为6位数字", "input", "code"), nil
			}
			return s.checkCode(ctx, tx, &lv.Order, code)
		})
}

// checkCode verifies the visit's code inside the confirmation's
// transaction: a refusal (a wrong try counted, to commit) or an error.
func (s *Service) checkCode(ctx context.Context, tx *gorm.DB, o *orderRow, code string) (refusal, err error) {
	var c codeRow
	err = tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("order_id = ?", o.ID).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return problem.New(problem.InvalidTransition, "请先发送确认码", "input", "code"), nil
	}
	if err != nil {
		return nil, database.Classify(err)
	}
	now := s.now()
	switch {
	case c.UsedAt != nil:
		return problem.New(problem.TokenUsed, "确认码已使用", "input", "code"), nil
	case c.Attempts >= MaxCodeAttempts:
		return problem.New(problem.TooManyAttempts, "确认码错误次数过多, 请重新获取", "input", "code"), nil
	case !now.Before(c.ExpiresAt):
		return problem.New(problem.TokenExpired, "确认码已过期, 请重新获取", "input", "code"), nil
	}
	ok, _, err := s.verifyPIN(ctx, c.CodeHash, code)
	if err != nil {
		return nil, err
	}
	if ok {
		if err := tx.Model(&codeRow{}).Where("order_id = ?", o.ID).Update("used_at", now).Error; err != nil {
			return nil, database.Classify(err)
		}
		return nil, nil
	}
	c.Attempts++
	if err := tx.Model(&codeRow{}).Where("order_id = ?", o.ID).Update("attempts", c.Attempts).Error; err != nil {
		return nil, database.Classify(err)
	}
	if err := audit.Record(ctx, tx, audit.ActionConfirmServiceOrderWithCode, audit.EntityServiceOrder, &o.ID,
		map[string]any{"codeCorrect": false}); err != nil {
		return nil, err
	}
	msg := "确认码错误, 还可尝试" + string(rune('0'+MaxCodeAttempts-c.Attempts)) + "次"
	if c.Attempts >= MaxCodeAttempts {
		msg = "确认码错误次数过多, 请重新获取"
	}
	return problem.New(problem.InvalidCredentials, msg, "input", "code"), nil
}
