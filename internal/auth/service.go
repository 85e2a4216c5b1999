// Package auth signs people and machines in, keeps their sessions, and holds
// the authorization policy (roles and org-unit jurisdiction) that every
// domain service calls.
package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/problem"
)

// User is a password account: staff, provider user or machine client.
type User struct {
	ID          uuid.UUID
	Username    string
	DisplayName string
	Roles       []Role
	OrgUnitID   *uuid.UUID
	ProviderID  *uuid.UUID
	Active      bool
}

// Grant is what a successful sign-in or refresh returns.
type Grant struct {
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time
	Viewer       *Viewer
}

// Service signs subjects in and out.
type Service struct {
	db         *gorm.DB
	tokens     *Tokens
	sessions   *Sessions
	logins     *LoginGuard
	hashes     *HashPool
	refreshTTL time.Duration
	now        func() time.Time
	// MayManageStaff and MayReadStaff are internal/policy's answers
	// (ManageStaff, ReadStaff), injected because policy builds on this
	// package's Viewer. Until wired they refuse everyone.
	MayManageStaff, MayReadStaff func(*Viewer) bool
	// MayChangeOwnPassword and MayResetPassword are the policy's
	// ChangeOwnPassword and ResetPassword, injected likewise.
	MayChangeOwnPassword, MayResetPassword func(*Viewer) bool
	// Audit appends an audit entry in tx for event e about the subject
	// (kind, id); injected to keep auth free of the audit package, which
	// names the event (audit.AuthHook).
	Audit func(ctx context.Context, tx *gorm.DB, e AuditEvent, kind SubjectKind, id uuid.UUID, detail map[string]any) error
}

// AuditEvent is a step of the auth service that the audit log records.
type AuditEvent int

// The audited steps.
const (
	AuditLogin AuditEvent = iota + 1
	AuditRefreshSession
	AuditLogout
	AuditCreateStaffUser
	AuditSetStaffUserActive
	AuditChangePassword
	AuditResetPassword
)

// NewService wires the auth service.
// logins throttles sign-ins; hashes bounds the argon2id work of every
// password check and hash.
func NewService(db *gorm.DB, tokens *Tokens, sessions *Sessions, logins *LoginGuard, hashes *HashPool, refreshTTL time.Duration, now func() time.Time) *Service {
	return &Service{db: db, tokens: tokens, sessions: sessions, logins: logins, hashes: hashes, refreshTTL: refreshTTL, now: now,
		Audit:          func(context.Context, *gorm.DB, AuditEvent, SubjectKind, uuid.UUID, map[string]any) error { return nil },
		MayManageStaff: func(*Viewer) bool { return false }, MayReadStaff: func(*Viewer) bool { return false },
		MayChangeOwnPassword: func(*Viewer) bool { return false }, MayResetPassword: func(*Viewer) bool { return false }}
}

// Hashes returns the password-hashing pool (its size and peak are what
// tests assert on).
func (s *Service) Hashes() *HashPool { return s.hashes }

// Sessions returns the session store (for long-lived connections).
func (s *Service) Sessions() *Sessions { return s.sessions }

// Authenticate turns a bearer token into the viewer of a live session.
// A bad or expired token, or an ended session, is ErrUnauthenticated;
// Redis unreachable is ErrUnavailable (fail closed).
func (s *Service) Authenticate(ctx context.Context, bearer string) (*Viewer, error) {
	_, subject, sid, err := s.tokens.Parse(bearer)
	if err != nil {
		return nil, problem.ErrUnauthenticated
	}
	v, err := s.sessions.Get(ctx, sid)
	if err != nil {
		return nil, err
	}
	if v == nil || v.ID != subject {
		return nil, problem.ErrUnauthenticated
	}
	return v, nil
}

// SessionAlive reports whether session sid still exists.
func (s *Service) SessionAlive(ctx context.Context, sid uuid.UUID) (bool, error) {
	v, err := s.sessions.Get(ctx, sid)
	return v != nil, err
}

var errBadCredentials = problem.New(problem.InvalidCredentials, "用户名或密码错误 (wrong username or password)")

// Login checks a username and password. Every attempt, for known and
// unknown usernames alike, passes the LoginGuard (per username and client
// address, per client address, overall, and the username's backoff) before
// any hashing, and the hashing runs in the bounded pool: an unknown
// username is checked against a dummy hash so the answer takes as long.
func (s *Service) Login(ctx context.Context, username, password string) (*Grant, error) {
	username = strings.TrimSpace(username)
	if username == "" || len(username) > 64 || len(password) > 256 {
		return nil, errBadCredentials
	}
	at, err := s.logins.Admit(ctx, username)
	if err != nil {
		return nil, err
	}
	u, err := findUserByName(ctx, s.db, username)
	if err != nil {
		return nil, err
	}
	hash := dummyHash()
	if u != nil {
		hash = u.PasswordHash
	}
	match, err := s.hashes.Verify(ctx, hash, password)
	if errors.Is(err, problem.ErrUnavailable) {
		if gerr := s.logins.Untried(ctx, at); gerr != nil {
			return nil, gerr
		}
		return nil, err
	}
	if err != nil || u == nil || !match || !u.Active {
		if ferr := s.logins.Failed(ctx, at); ferr != nil {
			return nil, ferr
		}
		return nil, errBadCredentials
	}
	if err := s.logins.Succeeded(ctx, at); err != nil {
		return nil, err
	}
	v, err := s.userViewer(ctx, s.db, u)
	if err != nil {
		return nil, err
	}
	var g *Grant
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		g, err = s.startSession(ctx, tx, v)
		if err != nil {
			return err
		}
		return s.Audit(WithViewer(ctx, v), tx, AuditLogin, v.Kind, v.ID, nil)
	})
	return g, err
}

func (s *Service) userViewer(ctx context.Context, db *gorm.DB, u *userRow) (*Viewer, error) {
	path, err := orgPath(ctx, db, u.OrgUnitID)
	if err != nil {
		return nil, err
	}
	uu := u.user()
	return &Viewer{Kind: SubjectUser, ID: u.ID, DisplayName: u.DisplayName, Roles: uu.Roles, OrgUnitID: u.OrgUnitID, OrgPath: path, ProviderID: u.ProviderID}, nil
}

// StartSession opens a session for v (its SessionID is assigned here) and
// issues the first tokens of a new refresh family, inside tx.
func (s *Service) StartSession(ctx context.Context, tx *gorm.DB, v *Viewer) (*Grant, error) {
	return s.startSession(ctx, tx, v)
}

func (s *Service) startSession(ctx context.Context, tx *gorm.DB, v *Viewer) (*Grant, error) {
	// One session per refresh family: the family id is the session id, so
	// revoking a family ends exactly the session it belongs to.
	v.SessionID = uuid.Must(uuid.NewV7())
	refresh, hash := newRefreshToken()
	row := refreshRow{ID: uuid.Must(uuid.NewV7()), FamilyID: v.SessionID, SubjectKind: string(v.Kind), SubjectID: v.ID,
		SessionID: v.SessionID, TokenHash: hash, CreatedAt: s.now(), ExpiresAt: s.now().Add(s.refreshTTL)}
	if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("auth: store refresh token: %w", err))
	}
	access, exp, err := s.tokens.Issue(v.Kind, v.ID, v.SessionID)
	if err != nil {
		return nil, err
	}
	if err := s.sessions.Put(ctx, v); err != nil {
		return nil, err
	}
	return &Grant{AccessToken: access, RefreshToken: refresh, ExpiresAt: exp, Viewer: v}, nil
}

// UpdateSession rewrites the live session of v (e.g. after a WeChat account
// was bound to a resident).
func (s *Service) UpdateSession(ctx context.Context, v *Viewer) error { return s.sessions.Put(ctx, v) }

// Refresh rotates a refresh token: the presented one is used up and its
// successor returned. Presenting a token that was already used means it was
// stolen or replayed: the whole family and its session are revoked.
func (s *Service) Refresh(ctx context.Context, token string) (*Grant, error) {
	invalid := problem.New(problem.InvalidCredentials, "refresh token is not valid", "refreshToken")
	if !strings.HasPrefix(token, "rt_") || len(token) > 100 {
		return nil, invalid
	}
	var grant *Grant
	var outcome error
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		outcome = nil
		var r refreshRow
		err := tx.Clauses(lockForUpdate()).Where("token_hash = ?", hashRefresh(token)).Take(&r).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			outcome = invalid
			return nil
		}
		if err != nil {
			return fmt.Errorf("auth: refresh: %w", err)
		}
		now := s.now()
		switch {
		case r.RevokedAt != nil:
			outcome = invalid
			return nil
		case r.UsedAt != nil:
			// Reuse: revoke the family (committed) and refuse.
			if err := tx.Model(&refreshRow{}).Where("family_id = ? AND revoked_at IS NULL", r.FamilyID).
				Update("revoked_at", now).Error; err != nil {
				return err
			}
			if err := s.sessions.Delete(ctx, r.SessionID); err != nil {
				return err
			}
			outcome = invalid
			return nil
		case now.After(r.ExpiresAt):
			outcome = problem.New(problem.TokenExpired, "refresh token has expired; sign in again", "refreshToken")
			return nil
		}
		v, err := s.subjectViewer(ctx, tx, SubjectKind(r.SubjectKind), r.SubjectID)
		if err != nil {
			return err
		}
		if v == nil { // deactivated or deleted
			if err := s.sessions.Delete(ctx, r.SessionID); err != nil {
				return err
			}
			outcome = invalid
			return nil
		}
		// The session must still be live: logout ends the family too.
		alive, err := s.sessions.Get(ctx, r.SessionID)
		if err != nil {
			return err
		}
		if alive == nil {
			outcome = invalid
			return nil
		}
		if err := tx.Model(&refreshRow{}).Where("id = ?", r.ID).Update("used_at", now).Error; err != nil {
			return err
		}
		v.SessionID = r.SessionID
		next, hash := newRefreshToken()
		nr := refreshRow{ID: uuid.Must(uuid.NewV7()), FamilyID: r.FamilyID, SubjectKind: r.SubjectKind, SubjectID: r.SubjectID,
			SessionID: r.SessionID, TokenHash: hash, CreatedAt: now, ExpiresAt: r.ExpiresAt}
		if err := tx.Create(&nr).Error; err != nil {
			return err
		}
		access, exp, err := s.tokens.Issue(v.Kind, v.ID, v.SessionID)
		if err != nil {
			return err
		}
		if err := s.sessions.Put(ctx, v); err != nil {
			return err
		}
		grant = &Grant{AccessToken: access, RefreshToken: next, ExpiresAt: exp, Viewer: v}
		return s.Audit(WithViewer(ctx, v), tx, AuditRefreshSession, v.Kind, v.ID, map[string]any{"sessionId": v.SessionID})
	})
	if err != nil {
		return nil, err
	}
	if outcome != nil {
		return nil, outcome
	}
	return grant, nil
}

// subjectViewer rebuilds the viewer of a subject from the database; nil when
// the subject no longer may sign in.
func (s *Service) subjectViewer(ctx context.Context, db *gorm.DB, kind SubjectKind, id uuid.UUID) (*Viewer, error) {
	switch kind {
	case SubjectUser:
		u, err := findUser(ctx, db, id)
		if err != nil || u == nil || !u.Active {
			return nil, err
		}
		return s.userViewer(ctx, db, u)
	case SubjectWechat:
		var w wechatRow
		err := db.WithContext(ctx).Where("id = ?", id).Take(&w).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, database.Classify(err)
		}
		return WechatViewer(w.ID, w.ResidentID), nil
	}
	return nil, nil
}

// WechatViewer is the viewer of a WeChat mini-program account.
func WechatViewer(accountID uuid.UUID, residentID *uuid.UUID) *Viewer {
	return &Viewer{Kind: SubjectWechat, ID: accountID, DisplayName: "微信用户", Roles: []Role{Resident}, ResidentID: residentID}
}

// Logout ends the viewer's session at once and revokes its refresh family.
func (s *Service) Logout(ctx context.Context) error {
	v, err := RequireViewer(ctx)
	if err != nil {
		return err
	}
	return database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if err := tx.Model(&refreshRow{}).Where("family_id = ? AND revoked_at IS NULL", v.SessionID).
			Update("revoked_at", s.now()).Error; err != nil {
			return err
		}
		if err := s.Audit(ctx, tx, AuditLogout, v.Kind, v.ID, map[string]any{"sessionId": v.SessionID}); err != nil {
			return err
		}
		return s.sessions.Delete(ctx, v.SessionID)
	})
}

// requireStaffManager refuses viewers the policy does not let manage staff.
func (s *Service) requireStaffManager(ctx context.Context) error {
	v, err := RequireViewer(ctx)
	if err != nil {
		return err
	}
	if !s.MayManageStaff(v) {
		return problem.Forbidden("your role does not allow this")
	}
	return nil
}

// NewUser is the input of CreateUser.
type NewUser struct {
	Username    string
	Password    string
	DisplayName string
	Roles       []Role
	OrgUnitID   *uuid.UUID
	ProviderID  *uuid.UUID
}

// CreateStaffUser creates a staff account (ADMIN only). Staff need an org unit.
func (s *Service) CreateStaffUser(ctx context.Context, in NewUser) (*User, error) {
	if err := s.requireStaffManager(ctx); err != nil {
		return nil, err
	}
	for _, r := range in.Roles {
		if r == Resident || r == Provider {
			return nil, problem.New(problem.Invalid, "staff accounts cannot hold RESIDENT or PROVIDER; residents sign in with WeChat and provider users come with registerProvider", "input", "roles")
		}
	}
	if in.OrgUnitID == nil {
		return nil, problem.New(problem.Invalid, "an org unit is required", "input", "orgUnitId")
	}
	var u *User
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		var err error
		u, err = s.CreateUserTx(ctx, tx, in)
		if err != nil {
			return err
		}
		return s.Audit(ctx, tx, AuditCreateStaffUser, SubjectUser, u.ID, nil)
	})
	return u, err
}

// CreateUserTx validates and inserts a password account inside tx. Callers
// check who may create it.
func (s *Service) CreateUserTx(ctx context.Context, tx *gorm.DB, in NewUser) (*User, error) {
	var errs problem.UserErrors
	in.Username = strings.TrimSpace(in.Username)
	if !validUsername(in.Username) {
		errs = append(errs, problem.New(problem.Invalid, "username must be 3-32 letters, digits, '.', '_' or '-'", "input", "username"))
	}
	if ue := CheckPassword(in.Username, in.Password, "input", "password"); ue != nil {
		errs = append(errs, ue)
	}
	if n := len([]rune(strings.TrimSpace(in.DisplayName))); n < 1 || n > 64 {
		errs = append(errs, problem.New(problem.Invalid, "display name must be 1 to 64 characters", "input", "displayName"))
	}
	if len(in.Roles) == 0 {
		errs = append(errs, problem.New(problem.Invalid, "at least one role is required", "input", "roles"))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if in.OrgUnitID != nil {
		var n int64
		if err := tx.WithContext(ctx).Table("org_units").Where("id = ?", *in.OrgUnitID).Count(&n).Error; err != nil {
			return nil, database.Classify(err)
		}
		if n == 0 {
			return nil, problem.New(problem.NotFound, "org unit not found", "input", "orgUnitId")
		}
	}
	hash, err := s.hashes.Hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	roles := make(pq.StringArray, 0, len(in.Roles))
	seen := map[Role]bool{}
	for _, r := range in.Roles {
		if !seen[r] {
			roles = append(roles, string(r))
			seen[r] = true
		}
	}
	r := userRow{ID: uuid.Must(uuid.NewV7()), Username: in.Username, PasswordHash: hash, DisplayName: strings.TrimSpace(in.DisplayName),
		Roles: roles, OrgUnitID: in.OrgUnitID, ProviderID: in.ProviderID, Active: true, CreatedAt: s.now()}
	if err := tx.WithContext(ctx).Create(&r).Error; err != nil {
		if _, ok := database.IsUniqueViolation(err); ok {
			return nil, problem.New(problem.Duplicate, "username is taken", "input", "username")
		}
		return nil, database.Classify(fmt.Errorf("auth: create user: %w", err))
	}
	u := r.user()
	return &u, nil
}

// SetUserActive activates or deactivates an account (ADMIN). Deactivating
// ends all its sessions at once and revokes its refresh tokens.
func (s *Service) SetUserActive(ctx context.Context, id uuid.UUID, active bool) (*User, error) {
	if err := s.requireStaffManager(ctx); err != nil {
		return nil, err
	}
	var u *User
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		res := tx.Model(&userRow{}).Where("id = ?", id).Update("active", active)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return problem.New(problem.NotFound, "user not found", "id")
		}
		r, err := findUser(ctx, tx, id)
		if err != nil {
			return err
		}
		uu := r.user()
		u = &uu
		if !active {
			if err := s.EndSessions(ctx, tx, id); err != nil {
				return err
			}
		}
		return s.Audit(ctx, tx, AuditSetStaffUserActive, SubjectUser, id, map[string]any{"active": active})
	})
	return u, err
}

// UsersByIDs loads accounts by id (for dataloaders and node lookups).
func (s *Service) UsersByIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*User, error) {
	var rows []userRow
	if err := s.db.WithContext(ctx).Where("id = ANY(?)", database.UUIDs(ids)).Find(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	out := make(map[uuid.UUID]*User, len(rows))
	for _, r := range rows {
		u := r.user()
		out[r.ID] = &u
	}
	return out, nil
}

// MayReadUser is the one rule for reading a password account, wherever it
// shows (node(id:), EmergencyCall.answeredBy, any field of type StaffUser):
// a viewer the policy lets read staff (ADMIN, AUDITOR), or the user
// themself.
func (s *Service) MayReadUser(v *Viewer, id uuid.UUID) bool {
	return v != nil && (s.MayReadStaff(v) || (v.Kind == SubjectUser && v.ID == id))
}

// errStaffForbidden is the refusal of MayReadUser.
var errStaffForbidden = problem.Forbidden("only administrators and auditors read staff accounts")

// RequireReadUser returns FORBIDDEN unless the viewer in ctx may read
// account id (MayReadUser); UNAUTHENTICATED without a viewer.
func (s *Service) RequireReadUser(ctx context.Context, id uuid.UUID) error {
	v, err := RequireViewer(ctx)
	if err != nil {
		return err
	}
	if !s.MayReadUser(v, id) {
		return errStaffForbidden
	}
	return nil
}

// StaffUser returns an account for a staff-reading viewer (ADMIN, AUDITOR,
// or the user themself).
func (s *Service) StaffUser(ctx context.Context, id uuid.UUID) (*User, error) {
	if err := s.RequireReadUser(ctx, id); err != nil {
		return nil, err
	}
	m, err := s.UsersByIDs(ctx, []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	return m[id], nil
}

func validUsername(s string) bool {
	if len(s) < 3 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// TokenExpiry returns when a valid access token expires.
func (s *Service) TokenExpiry(token string) (time.Time, error) { return s.tokens.Expiry(token) }

// OperatorViewer is the viewer of an active staff user by username, for
// the operator commands of the binary (residents issue): they act, and are
// audited, as that user, with that user's roles.
func (s *Service) OperatorViewer(ctx context.Context, username string) (*Viewer, error) {
	u, err := findUserByName(ctx, s.db, username)
	if err != nil {
		return nil, err
	}
	if u == nil || !u.Active {
		return nil, fmt.Errorf("auth: no active user %q", username)
	}
	return s.userViewer(ctx, s.db, u)
}
