package resident

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/idnumber"
	"github.com/jinjiang/residents/internal/pii"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// BindInput is what a WeChat user types to prove who they are.
type BindInput struct {
	Name, IDNumber, Phone string
}

// errNoMatch is the one answer for every mismatch, so bindResident cannot
// tell a prober which of the three values was wrong.
var errNoMatch = problem.New(problem.NotFound, "未找到与姓名、身份证号和电话均匹配的居民 (no resident matches all three of name, ID number and phone)")

// The refusals of the bind throttles.
var (
	errBindsPerAccount = problem.New(problem.TooManyAttempts, "尝试次数过多，请15分钟后再试 (too many attempts; try again later)")
	errBindsPerClient  = problem.New(problem.TooManyAttempts, "本地址尝试次数过多，请15分钟后再试 (too many attempts from this address; try again later)")
)

// bindAttempt lets a mini-program account try a binding (three factors or
// a counter's code) and counts the try against the throttles per account
// and per client address: either path is guessed no faster than the other.
func (s *Service) bindAttempt(ctx context.Context) (*auth.Viewer, error) {
	v, err := policy.Require(ctx, policy.BindResident)
	if err != nil {
		return nil, err
	}
	if v.Kind != auth.SubjectWechat {
		return nil, problem.Forbidden("only a WeChat mini-program account can bind a resident")
	}
	if err := s.binds.PerAccount.Take(ctx, "bind:"+v.ID.String(), errBindsPerAccount); err != nil {
		return nil, err
	}
	if err := s.binds.PerClient.Take(ctx, "bind:client:"+auth.ClientKey(ctx), errBindsPerClient); err != nil {
		return nil, err
	}
	return v, nil
}

// bound ends a successful binding: the throttles forget the account's and
// the address's failed tries, and the live session gets the resident, so
// me.resident works at once.
func (s *Service) bound(ctx context.Context, v *auth.Viewer, residentID uuid.UUID) error {
	if err := s.binds.PerAccount.Release(ctx, "bind:"+v.ID.String()); err != nil {
		return err
	}
	if err := s.binds.PerClient.Release(ctx, "bind:client:"+auth.ClientKey(ctx)); err != nil {
		return err
	}
	nv := *v
	nv.ResidentID = &residentID
	return s.sessions.UpdateSession(ctx, &nv)
}

// Bind links the signed-in WeChat account to the resident whose name, ID
// number and phone all match. Attempts are throttled per WeChat account
// (5 per 15 minutes) and per client address (BindLimits) so the registry
// cannot be probed; at most WECHAT_MAX_BINDINGS_PER_RESIDENT accounts are
// bound to one resident, and the accounts already bound are told (bindTx);
// on success the live session is updated so me.resident works at once.
func (s *Service) Bind(ctx context.Context, in BindInput) (*Resident, error) {
	v, err := s.bindAttempt(ctx)
	if err != nil {
		return nil, err
	}
	num, err := idnumber.Parse(in.IDNumber, s.now())
	if err != nil {
		return nil, problem.New(problem.InvalidIDNumber, "身份证号码无效 (not a valid resident identity number)", "input", "idNumber")
	}
	phone, err := pii.NormalizePhone(in.Phone)
	if err != nil {
		return nil, problem.New(problem.Invalid, "电话号码无效 (not a valid phone number)", "input", "phone")
	}
	row, err := findByIDIndex(ctx, s.db, s.keys.BlindIndex(PurposeIDNumber, num.String()))
	if err != nil {
		return nil, err
	}
	if row == nil || strings.TrimSpace(in.Name) != row.Name ||
		subtle.ConstantTimeCompare(row.PhoneBidx, s.keys.BlindIndex(PurposePhone, phone)) != 1 {
		return nil, errNoMatch
	}
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		return s.bindTx(ctx, tx, v.ID, row.ID)
	})
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: bind: %w", err))
	}
	if err := s.bound(ctx, v, row.ID); err != nil {
		return nil, err
	}
	return row.resident().apply(policy.ViewFull), nil
}
