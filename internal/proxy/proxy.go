// Package proxy keeps family proxies: links letting a WeChat account act
// for a resident within scopes (policy.ProxyScope), each on a consent
// record (from the elder's own bound account in the mini-program, or at a
// counter by a clerk with the elder present: who, when, how, evidence).
// Consent travels in an invitation code the proxy's account accepts; the
// elder, the proxy or a clerk revokes a link. Links are never deleted.
// policy.ActFor asks ActiveLink; nothing here makes a proxy the elder.
package proxy

import (
	"context"

	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// Relation is the proxy's relation to the resident.
type Relation string

// The relations (子女, 配偶, 其他亲属, 监护人).
const (
	Child    Relation = "CHILD"
	Spouse   Relation = "SPOUSE"
	Relative Relation = "RELATIVE"
	Guardian Relation = "GUARDIAN"
)

// ConsentMethod is how the resident consented.
type ConsentMethod string

// The consent methods.
const (
	// ElderAccount: in the mini-program, by the resident's own bound
	// account (consent_by is that account).
	ElderAccount ConsentMethod = "ELDER_ACCOUNT"
	// Counter: at a service counter, the elder present (consent_by is the
	// clerk; the evidence says what was checked).
	Counter ConsentMethod = "COUNTER"
)

// InvitationTTL is how long an invitation may be accepted.
const InvitationTTL = 24 * time.Hour

// Link is one proxy link.
type Link struct {
	ID              uuid.UUID
	ResidentID      uuid.UUID
	AccountID       uuid.UUID
	Relation        Relation
	Scopes          []policy.ProxyScope
	ConsentMethod   ConsentMethod
	ConsentBy       uuid.UUID
	ConsentEvidence string
	ConsentedAt     time.Time
	CreatedAt       time.Time
	RevokedAt       *time.Time
	RevokedByKind   *string
	RevokeReason    *string
}

type linkRow struct {
	ID              uuid.UUID
	ResidentID      uuid.UUID
	AccountID       uuid.UUID
	Relation        string
	Scopes          pq.StringArray `gorm:"type:text[]"`
	ConsentMethod   string
	ConsentBy       uuid.UUID
	ConsentEvidence string
	ConsentedAt     time.Time
	CreatedAt       time.Time
	RevokedAt       *time.Time
	RevokedBy       *uuid.UUID
	RevokedByKind   *string
	RevokeReason    *string
}

func (linkRow) TableName() string { return "resident_proxies" }

func (r linkRow) link() *Link {
	sc := make([]policy.ProxyScope, len(r.Scopes))
	for i, s := range r.Scopes {
		sc[i] = policy.ProxyScope(s)
	}
	return &Link{ID: r.ID, ResidentID: r.ResidentID, AccountID: r.AccountID, Relation: Relation(r.Relation), Scopes: sc,
		ConsentMethod: ConsentMethod(r.ConsentMethod), ConsentBy: r.ConsentBy, ConsentEvidence: r.ConsentEvidence,
		ConsentedAt: r.ConsentedAt, CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt, RevokedByKind: r.RevokedByKind,
		RevokeReason: r.RevokeReason}
}

// Service keeps the links.
type Service struct {
	db     *gorm.DB
	now    func() time.Time
	limits Limits
}

// Limits throttle acceptInvitation like bindResident (the app passes the
// binding throttles; the keys here are the invitations' own): tries per
// mini-program account, per client address, and per code, whoever tries
// it. A nil throttle does not limit.
type Limits struct {
	PerAccount, PerClient, PerCode *auth.Throttle
}

// NewService returns the proxy service.
func NewService(db *gorm.DB, now func() time.Time, limits Limits) *Service {
	return &Service{db: db, now: now, limits: limits}
}

// The refusals of the invitation throttles (TOO_MANY_ATTEMPTS).
var (
	errTriesPerAccount = problem.New(problem.TooManyAttempts, "尝试次数过多，请15分钟后再试 (too many attempts; try again later)", "input", "code")
	errTriesPerClient  = problem.New(problem.TooManyAttempts, "本地址尝试次数过多，请15分钟后再试 (too many attempts from this address; try again later)", "input", "code")
	errTriesPerCode    = problem.New(problem.TooManyAttempts, "该码尝试次数过多，请15分钟后再试 (this code was tried too often; try again later)", "input", "code")
)

// attempt counts a try of an invitation code against each throttle; the
// per-code one only for a well-formed code (a malformed one is refused
// without a look-up).
func (s *Service) attempt(ctx context.Context, v *auth.Viewer, hash string) error {
	for _, l := range []struct {
		t       *auth.Throttle
		key     string
		refusal error
	}{
		{s.limits.PerAccount, "invite:" + v.ID.String(), errTriesPerAccount},
		{s.limits.PerClient, "invite:client:" + auth.ClientKey(ctx), errTriesPerClient},
		{s.limits.PerCode, "invite:code:" + hash, errTriesPerCode},
	} {
		if l.t == nil || (l.key == "invite:code:" && hash == "") {
			continue
		}
		if err := l.t.Take(ctx, l.key, l.refusal); err != nil {
			return err
		}
	}
	return nil
}

// accepted forgets the account's and the address's failed tries after an
// accepted invitation (the code is used: its count no longer matters).
func (s *Service) accepted(ctx context.Context, v *auth.Viewer) error {
	if s.limits.PerAccount != nil {
		if err := s.limits.PerAccount.Release(ctx, "invite:"+v.ID.String()); err != nil {
			return err
		}
	}
	if s.limits.PerClient != nil {
		return s.limits.PerClient.Release(ctx, "invite:client:"+auth.ClientKey(ctx))
	}
	return nil
}

// ActiveLink implements policy.ProxyLinks.
func (s *Service) ActiveLink(ctx context.Context, account, resident uuid.UUID, scope policy.ProxyScope) (uuid.UUID, bool, error) {
	var ids []uuid.UUID
	err := s.db.WithContext(ctx).Raw(`SELECT id FROM resident_proxies
		WHERE account_id = ? AND resident_id = ? AND revoked_at IS NULL AND ? = ANY (scopes)`, account, resident, string(scope)).Scan(&ids).Error
	if err != nil {
		return uuid.Nil, false, database.Classify(fmt.Errorf("proxy: link: %w", err))
	}
	if len(ids) == 0 {
		return uuid.Nil, false, nil
	}
	return ids[0], true, nil
}

// ActFor is policy.ActFor answered by this service's links: the one check
// "may the WeChat viewer in ctx act for resident r with scope sc".
func (s *Service) ActFor(ctx context.Context, r uuid.UUID, sc policy.ProxyScope) (policy.Acting, error) {
	return policy.ActFor(ctx, s, r, sc)
}

// InviteInput is a consent to a link, before the proxy's account is known.
type InviteInput struct {
	// ResidentID: for a clerk, the resident present at the counter; for
	// the elder's own account, nil (its own record).
	ResidentID *uuid.UUID
	Relation   Relation
	Scopes     []policy.ProxyScope
	// Evidence: at a counter, what the clerk checked (required).
	Evidence string
}

// Invitation is an issued invitation: the code is shown once.
type Invitation struct {
	Code      string
	ExpiresAt time.Time
}

func validRelation(r Relation) bool {
	return r == Child || r == Spouse || r == Relative || r == Guardian
}

// checkScopes validates and de-duplicates scopes.
func checkScopes(in []policy.ProxyScope) ([]string, error) {
	seen := map[policy.ProxyScope]bool{}
	out := []string{}
	for _, sc := range in {
		if !policy.ValidScope(sc) {
			return nil, problem.New(problem.Invalid, "代理权限无效 (unknown scope)", "input", "scopes")
		}
		if !seen[sc] {
			seen[sc] = true
			out = append(out, string(sc))
		}
	}
	if len(out) == 0 {
		return nil, problem.New(problem.Invalid, "请至少选择一项代理权限 (choose at least one scope)", "input", "scopes")
	}
	return out, nil
}

// residentPath is a resident's org path from the registry's facts; false
// when there is no such resident.
func residentPath(ctx context.Context, db *gorm.DB, id uuid.UUID) (string, bool, error) {
	var paths []string
	if err := db.WithContext(ctx).Raw("SELECT org_path FROM resident_facts WHERE id = ?", id).Scan(&paths).Error; err != nil {
		return "", false, database.Classify(fmt.Errorf("proxy: resident: %w", err))
	}
	if len(paths) == 0 {
		return "", false, nil
	}
	return paths[0], true, nil
}

// Invite records a consent as an invitation. The elder's own bound
// account consents for itself; a clerk (ManageProxies on the resident)
// consents at the counter with the elder present, naming the evidence.
func (s *Service) Invite(ctx context.Context, in InviteInput) (*Invitation, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	if !validRelation(in.Relation) {
		return nil, problem.New(problem.Invalid, "关系无效 (unknown relation)", "input", "relation")
	}
	scopes, err := checkScopes(in.Scopes)
	if err != nil {
		return nil, err
	}
	evidence := strings.TrimSpace(in.Evidence)
	var method ConsentMethod
	var resident uuid.UUID
	if v.Kind == auth.SubjectWechat {
		// Only the elder's own account consents in the mini-program: a
		// proxy cannot invite more proxies, since it never becomes the elder.
		if v.ResidentID == nil || in.ResidentID != nil && *in.ResidentID != *v.ResidentID {
			return nil, problem.Forbidden("only the resident's own bound account consents to a proxy")
		}
		method, resident = ElderAccount, *v.ResidentID
		if evidence == "" {
			evidence = "本人在小程序中确认 (confirmed in the mini-program by the resident's own account)"
		}
	} else {
		if in.ResidentID == nil {
			return nil, problem.New(problem.Invalid, "请选择居民 (choose the resident)", "input", "residentId")
		}
		if _, err := policy.Require(ctx, policy.ManageProxies); err != nil {
			return nil, err
		}
		path, found, err := residentPath(ctx, s.db, *in.ResidentID)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, problem.New(problem.NotFound, "未找到该居民 (no such resident)", "input", "residentId")
		}
		if ok, err := policy.On(v, policy.ManageProxies, policy.Subject{ID: *in.ResidentID, OrgPath: path}); err != nil {
			return nil, err
		} else if !ok {
			return nil, policy.OutOfJurisdiction("input", "residentId")
		}
		if evidence == "" {
			return nil, problem.New(problem.Invalid, "请填写核验情况，如“本人到场，已核验身份证” (say what was checked with the elder present)", "input", "evidence")
		}
		method, resident = Counter, *in.ResidentID
	}
	if utf8.RuneCountInString(evidence) > 500 {
		return nil, problem.New(problem.Invalid, "核验情况最多500字 (at most 500 characters)", "input", "evidence")
	}
	code := NewCode()
	norm, _ := NormalizeCode(code)
	now := s.now()
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		if err := tx.WithContext(ctx).Exec(`INSERT INTO proxy_invitations (code_hash, resident_id, relation, scopes, consent_method,
			consent_by, consent_evidence, created_at, expires_at) VALUES (decode(?, 'hex'), ?, ?, ?, ?, ?, ?, ?, ?)`,
			HashCode(norm), resident, string(in.Relation), pq.StringArray(scopes), string(method), v.ID, evidence, now, now.Add(InvitationTTL)).Error; err != nil {
			return database.Classify(fmt.Errorf("proxy: invite: %w", err))
		}
		return audit.Record(ctx, tx, audit.ActionCreateProxyInvitation, audit.EntityResident, &resident,
			map[string]any{"relation": in.Relation, "scopes": scopes, "consentMethod": method})
	})
	if err != nil {
		return nil, err
	}
	return &Invitation{Code: code, ExpiresAt: now.Add(InvitationTTL)}, nil
}

var errBadInvitation = problem.New(problem.NotFound, "邀请码无效、已使用或已过期 (the invitation code is invalid, used or expired)", "input", "code")

type invitationRow struct {
	ResidentID      uuid.UUID
	Relation        string
	Scopes          pq.StringArray `gorm:"type:text[]"`
	ConsentMethod   string
	ConsentBy       uuid.UUID
	ConsentEvidence string
	CreatedAt       time.Time
	ExpiresAt       time.Time
	UsedAt          *time.Time
}

// Accept turns an invitation into a link for the signed-in WeChat account.
// The invitation is used once; an account already linked to the resident
// must have that link revoked first. Tries are throttled (Limits) per
// account, per client address and per code: TOO_MANY_ATTEMPTS.
func (s *Service) Accept(ctx context.Context, code string) (*Link, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	if v.Kind != auth.SubjectWechat {
		return nil, problem.Forbidden("only a mini-program account becomes a proxy")
	}
	norm, ok := NormalizeCode(code)
	hash := ""
	if ok {
		hash = HashCode(norm)
	}
	// Every try counts, well-formed or not, before anything is looked up.
	if err := s.attempt(ctx, v, hash); err != nil {
		return nil, err
	}
	if !ok {
		return nil, errBadInvitation
	}
	var out *Link
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		var inv []invitationRow
		if err := tx.WithContext(ctx).Raw(`SELECT resident_id, relation, scopes, consent_method, consent_by, consent_evidence,
			created_at, expires_at, used_at FROM proxy_invitations WHERE code_hash = decode(?, 'hex') FOR UPDATE`, HashCode(norm)).Scan(&inv).Error; err != nil {
			return database.Classify(fmt.Errorf("proxy: accept: %w", err))
		}
		now := s.now()
		if len(inv) == 0 || inv[0].UsedAt != nil || !now.Before(inv[0].ExpiresAt) {
			return errBadInvitation
		}
		in := inv[0]
		if v.ResidentID != nil && *v.ResidentID == in.ResidentID {
			return problem.New(problem.Conflict, "本人账号无需成为自己的代理 (this account is the resident's own)", "input", "code")
		}
		row := linkRow{ID: uuid.Must(uuid.NewV7()), ResidentID: in.ResidentID, AccountID: v.ID, Relation: in.Relation, Scopes: in.Scopes,
			ConsentMethod: in.ConsentMethod, ConsentBy: in.ConsentBy, ConsentEvidence: in.ConsentEvidence,
			ConsentedAt: in.CreatedAt, CreatedAt: now}
		if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
			if _, dup := database.IsUniqueViolation(err); dup {
				return problem.New(problem.Conflict, "您已是该居民的代理，请先撤销原授权 (already a proxy of this resident; revoke that link first)", "input", "code")
			}
			return database.Classify(fmt.Errorf("proxy: accept: %w", err))
		}
		if err := tx.WithContext(ctx).Exec("UPDATE proxy_invitations SET used_at = ?, used_by = ? WHERE code_hash = decode(?, 'hex')", now, v.ID, HashCode(norm)).Error; err != nil {
			return database.Classify(fmt.Errorf("proxy: accept: %w", err))
		}
		if err := audit.Record(ctx, tx, audit.ActionAcceptProxyInvitation, audit.EntityResident, &in.ResidentID,
			map[string]any{"proxyLinkId": row.ID, "proxyAccountId": v.ID, "scopes": []string(in.Scopes), "consentMethod": in.ConsentMethod}); err != nil {
			return err
		}
		out = row.link()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.accepted(ctx, v); err != nil {
		return nil, err
	}
	return out, nil
}

const linkSelect = `SELECT p.* FROM resident_proxies p`

// Revoke ends a link: by the elder's own account, by the proxy's account,
// or by staff allowed ManageProxies on the resident. The reason is kept.
func (s *Service) Revoke(ctx context.Context, id uuid.UUID, reason string) (*Link, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if utf8.RuneCountInString(reason) > 200 {
		return nil, problem.New(problem.Invalid, "撤销原因最多200字 (at most 200 characters)", "input", "reason")
	}
	var out *Link
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		var rows []linkRow
		if err := tx.WithContext(ctx).Raw(linkSelect+" WHERE p.id = ? FOR UPDATE OF p", id).Scan(&rows).Error; err != nil {
			return database.Classify(fmt.Errorf("proxy: revoke: %w", err))
		}
		if len(rows) == 0 {
			return problem.New(problem.NotFound, "未找到该代理授权 (no such proxy link)", "input", "id")
		}
		l := rows[0]
		var by string
		switch {
		case v.Kind == auth.SubjectWechat && v.ID == l.AccountID:
			by = "PROXY"
		case policy.IsSelf(v, l.ResidentID):
			by = "ELDER"
		case v.Kind == auth.SubjectUser && policy.Allowed(v, policy.ManageProxies):
			path, _, err := residentPath(ctx, tx, l.ResidentID)
			if err != nil {
				return err
			}
			if ok, err := policy.On(v, policy.ManageProxies, policy.Subject{ID: l.ResidentID, OrgPath: path}); err != nil {
				return err
			} else if !ok {
				return policy.OutOfJurisdiction("input", "id")
			}
			by = "STAFF"
			if reason == "" {
				return problem.New(problem.Invalid, "请填写撤销原因 (a reason is required at the counter)", "input", "reason")
			}
		default:
			return problem.Forbidden("only the resident, the proxy or a clerk revokes a proxy link")
		}
		if l.RevokedAt != nil {
			return problem.New(problem.InvalidTransition, "该代理授权已撤销 (already revoked)", "input", "id")
		}
		now := s.now()
		var why *string
		if reason != "" {
			why = &reason
		}
		if err := tx.WithContext(ctx).Exec(`UPDATE resident_proxies SET revoked_at = ?, revoked_by = ?, revoked_by_kind = ?, revoke_reason = ?
			WHERE id = ?`, now, v.ID, by, why, id).Error; err != nil {
			return database.Classify(fmt.Errorf("proxy: revoke: %w", err))
		}
		l.RevokedAt, l.RevokedBy, l.RevokedByKind, l.RevokeReason = &now, &v.ID, &by, why
		if err := audit.Record(ctx, tx, audit.ActionRevokeProxy, audit.EntityResident, &l.ResidentID,
			map[string]any{"proxyLinkId": id, "proxyAccountId": l.AccountID, "revokedBy": by}); err != nil {
			return err
		}
		out = l.link()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Mine lists the active links of the signed-in WeChat account: those it
// holds as a proxy and those to its own resident, newest first.
func (s *Service) Mine(ctx context.Context) ([]*Link, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	if v.Kind != auth.SubjectWechat {
		return []*Link{}, nil
	}
	var rows []linkRow
	q := linkSelect + " WHERE p.revoked_at IS NULL AND (p.account_id = ? OR p.resident_id = ?) ORDER BY p.created_at DESC"
	if err := s.db.WithContext(ctx).Raw(q, v.ID, v.ResidentID).Scan(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("proxy: mine: %w", err))
	}
	return links(rows), nil
}

// OfResident lists every link of a resident, revoked ones too, for the
// counter (ReadWechatBindings on the resident) and the resident's own
// account.
func (s *Service) OfResident(ctx context.Context, resident uuid.UUID, orgPath string) ([]*Link, error) {
	if _, err := policy.RequireOn(ctx, policy.ReadWechatBindings, policy.Subject{ID: resident, OrgPath: orgPath}); err != nil {
		v := auth.ViewerFrom(ctx)
		if !policy.IsSelf(v, resident) {
			return nil, err
		}
	}
	var rows []linkRow
	if err := s.db.WithContext(ctx).Raw(linkSelect+" WHERE p.resident_id = ? ORDER BY p.created_at DESC", resident).Scan(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("proxy: of resident: %w", err))
	}
	return links(rows), nil
}

func links(rows []linkRow) []*Link {
	out := make([]*Link, len(rows))
	for i, r := range rows {
		out[i] = r.link()
	}
	return out
}
