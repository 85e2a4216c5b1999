package policy

import (
	"strings"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/auth"
)

// Scope is the set of residents an action reaches for one viewer, for
// lists: the widest reach over the viewer's roles, with what it needs.
type Scope struct {
	Reach Reach
	// Path is the org-unit path of a Subtree scope.
	Path string
	// ResidentID is the viewer's own record in a Self scope.
	ResidentID uuid.UUID
	// ProviderID is the viewer's provider in an Own or Served scope.
	ProviderID uuid.UUID
}

// ScopeOf is the scope of action a for v. A reach the viewer lacks the
// facts for (a subtree without an org unit, self without a bound record,
// served without a provider) is no reach.
func ScopeOf(v *auth.Viewer, a Action) Scope {
	switch r := ReachOf(v, a); r {
	case District:
		return Scope{Reach: District}
	case Subtree:
		if v.OrgPath != "" {
			return Scope{Reach: Subtree, Path: v.OrgPath}
		}
	case Self:
		if v.Kind == auth.SubjectWechat && v.ResidentID != nil {
			return Scope{Reach: Self, ResidentID: *v.ResidentID}
		}
	case Served, Own:
		if v.ProviderID != nil {
			return Scope{Reach: r, ProviderID: *v.ProviderID}
		}
	}
	return Scope{}
}

// All reports whether the scope is the whole district.
func (s Scope) All() bool { return s.Reach == District }

// OwnProvider reports whether the scope reaches the records of care
// provider id: all of them district-wide, else only the viewer's own.
func (s Scope) OwnProvider(id uuid.UUID) bool {
	return s.All() || ((s.Reach == Own || s.Reach == Served) && s.ProviderID == id)
}

// Covers reports whether a resident at orgPath with id lies in the scope
// (Served is not decided here: it needs the database).
func (s Scope) Covers(id uuid.UUID, orgPath string) bool {
	switch s.Reach {
	case District:
		return true
	case Subtree:
		return orgPath != "" && strings.HasPrefix(orgPath, s.Path)
	case Self:
		return id == s.ResidentID
	}
	return false
}

// Where is the scope as an SQL predicate over a row's resident: pathCol is
// the column holding the resident's org-unit path (or "" when the row has
// none and must be joined), idCol the resident id. Served scopes are
// domain-specific (which services count) and yield false here: the domain
// that has them adds its own predicate.
func (s Scope) Where(pathCol, idCol string) (string, []any) {
	switch s.Reach {
	case District:
		return "TRUE", nil
	case Subtree:
		if pathCol == "" {
			return idCol + " IN (SELECT id FROM resident_facts WHERE org_path LIKE ?)", []any{LikePrefix(s.Path)}
		}
		return pathCol + " LIKE ?", []any{LikePrefix(s.Path)}
	case Self:
		return idCol + " = ?", []any{s.ResidentID}
	}
	return "FALSE", nil
}

// LikeEscape escapes s's LIKE wildcards and backslashes (backslash is
// Postgres's default LIKE escape), so s matches only itself.
func LikeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// LikePrefix is a LIKE pattern matching every string that starts with p.
func LikePrefix(p string) string { return LikeEscape(p) + "%" }
