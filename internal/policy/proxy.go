package policy

import (
	"context"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/problem"
)

// Family proxies: a WeChat account acting for a resident who is not its
// own, within the scopes of a link the resident consented to
// (internal/proxy keeps the links). A proxy never becomes the resident:
// its session stays its own account's, each action it takes asks ActFor
// with the scope that action needs, and its audit entry carries both
// identities (Acting.Detail).

// ProxyScope is what a proxy link lets its account do for the resident.
type ProxyScope string

// The scopes.
const (
	// ScopeView reads the resident's record, vouchers, applications.
	ScopeView ProxyScope = "VIEW"
	// ScopeSpend spends vouchers (redemption tokens) and confirms home-care
	// visits, and receives the receipts.
	ScopeSpend ProxyScope = "SPEND"
	// ScopeApply submits, resubmits and withdraws applications, and
	// receives their notices.
	ScopeApply ProxyScope = "APPLY"
	// ScopeAlarms receives the resident's alarm notices.
	ScopeAlarms ProxyScope = "ALARMS"
)

// ProxyScopes lists every scope.
var ProxyScopes = []ProxyScope{ScopeView, ScopeSpend, ScopeApply, ScopeAlarms}

// ValidScope reports whether s is a scope.
func ValidScope(s ProxyScope) bool {
	for _, x := range ProxyScopes {
		if x == s {
			return true
		}
	}
	return false
}

// ProxyLinks answers whether a WeChat account holds an active (unrevoked)
// proxy link to a resident that includes a scope, and which link.
// internal/proxy implements it.
type ProxyLinks interface {
	ActiveLink(ctx context.Context, account, resident uuid.UUID, scope ProxyScope) (link uuid.UUID, ok bool, err error)
}

// Acting is a WeChat viewer acting for a resident: as that resident's own
// bound account (Link nil), or as a proxy through Link.
type Acting struct {
	Viewer     *auth.Viewer
	ResidentID uuid.UUID
	Link       *uuid.UUID
}

// Proxy reports whether the viewer acts as a proxy (not as the resident).
func (a Acting) Proxy() bool { return a.Link != nil }

// Detail adds, to an audit entry's detail, the resident acted for and,
// for a proxy, the link: with the entry's actor (the proxy's account) the
// entry names both identities.
func (a Acting) Detail(d map[string]any) map[string]any {
	if d == nil {
		d = map[string]any{}
	}
	if a.Link != nil {
		d["onBehalfOf"] = a.ResidentID
		d["proxyLinkId"] = *a.Link
	}
	return d
}

// ActFor is the one answer to "may the WeChat viewer in ctx act for
// resident r with scope s": yes as r's own bound account (every scope), or
// as a proxy holding an active link to r with s. Staff are not asked here
// (they act through their roles' grants). Refusals: ErrUnauthenticated
// without a session, ErrForbidden otherwise.
func ActFor(ctx context.Context, links ProxyLinks, r uuid.UUID, s ProxyScope) (Acting, error) {
	v := auth.ViewerFrom(ctx)
	if v == nil {
		return Acting{}, problem.ErrUnauthenticated
	}
	if v.Kind != auth.SubjectWechat || !ValidScope(s) {
		return Acting{}, problem.Forbidden("only a mini-program account acts for a resident")
	}
	if IsSelf(v, r) {
		return Acting{Viewer: v, ResidentID: r}, nil
	}
	if links == nil {
		return Acting{}, problem.Forbidden("not your record")
	}
	link, ok, err := links.ActiveLink(ctx, v.ID, r, s)
	if err != nil {
		return Acting{}, err
	}
	if !ok {
		return Acting{}, problem.Forbidden("no proxy link to this resident with scope " + string(s))
	}
	return Acting{Viewer: v, ResidentID: r, Link: &link}, nil
}

// proxyActions are the actions a proxy may take for a resident and the
// scope each needs: what the scopes name. Any other action is the
// resident's own account's (or staff's) alone.
var proxyActions = map[Action]ProxyScope{
	ReadResident: ScopeView, ReadVouchers: ScopeView, ReadRedemptions: ScopeView, ReadApplications: ScopeView,
	CreateRedemptionToken: ScopeSpend,
	ConfirmVisit:          ScopeSpend, DisputeVisit: ScopeSpend, CreateServiceOrder: ScopeSpend, CancelServiceOrder: ScopeSpend,
	SubmitApplication: ScopeApply, ResubmitApplication: ScopeApply, WithdrawApplication: ScopeApply,
}

// ScopeFor is the proxy scope action a needs; false when no proxy may take a.
func ScopeFor(a Action) (ProxyScope, bool) {
	s, ok := proxyActions[a]
	return s, ok
}

// ActForAction is ActFor for the mini-program account in ctx taking action
// a for resident r: its role must allow a on its own record, and it acts
// as r's own account or as a proxy whose link holds a's scope. Actions no
// proxy takes are refused to anyone but r's own account.
func ActForAction(ctx context.Context, links ProxyLinks, a Action, r uuid.UUID) (Acting, error) {
	v := auth.ViewerFrom(ctx)
	if v == nil {
		return Acting{}, problem.ErrUnauthenticated
	}
	if ReachOf(v, a) != Self {
		return Acting{}, problem.Forbidden("your role does not allow this")
	}
	s, ok := proxyActions[a]
	if !ok {
		if IsSelf(v, r) {
			return Acting{Viewer: v, ResidentID: r}, nil
		}
		return Acting{}, problem.Forbidden("not your record")
	}
	return ActFor(ctx, links, r, s)
}

// MayProxy reports whether the viewer is a mini-program account that is
// not r's own, so that a refusal by its role's Self reach may still be a
// proxy's allowance (ActForAction decides).
func MayProxy(v *auth.Viewer, r uuid.UUID) bool {
	return v != nil && v.Kind == auth.SubjectWechat && !IsSelf(v, r)
}
