package resident

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/idnumber"
	"github.com/jinjiang/residents/internal/page"
	"github.com/jinjiang/residents/internal/pii"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/run"
)

// SessionUpdater rewrites a live session, and ends every session of a
// subject (auth.Service implements it).
type SessionUpdater interface {
	UpdateSession(ctx context.Context, v *auth.Viewer) error
	EndSessions(ctx context.Context, tx *gorm.DB, subject uuid.UUID) error
}

// Service is the registry: its rules, authorization and queries.
type Service struct {
	db       *gorm.DB
	keys     *pii.Keyring
	now      func() time.Time
	served   ServedChecker
	sessions SessionUpdater
	binds    BindLimits
	lookups  []*auth.Throttle
	// maxBindings is how many WeChat accounts may be bound to one resident.
	maxBindings int
	// consequences close what other domains hold when a life event is
	// recorded (AddLifeEventConsequence).
	consequences []Consequence
	// proxies answers policy.ActFor for family proxies (internal/proxy).
	proxies policy.ProxyLinks
	// runs works imports, duplicates reports and big exports (SetRuns).
	runs     *run.Worker
	runChunk int
	// directExport overrides DirectExportLimit when above 0.
	directExport int
}

// SetRuns wires the run worker for imports, duplicates reports and big
// exports, and the chunk size of their steps (at start-up).
func (s *Service) SetRuns(w *run.Worker, chunk int) {
	s.runs, s.runChunk = w, chunk
	w.Handle(run.ImportResidents, importer{s: s, chunk: importChunkOf(chunk)})
	w.Handle(run.FindDuplicates, dupFinder{s: s})
	w.Handle(run.ExportResidents, exporter{s: s})
}

// SetProxies installs the family proxy links: a proxy with VIEW reads the
// resident's record (masked). Called while wiring.
func (s *Service) SetProxies(p policy.ProxyLinks) { s.proxies = p }

// DefaultMaxBindings is WECHAT_MAX_BINDINGS_PER_RESIDENT's default.
const DefaultMaxBindings = 3

// BindLimits throttle bindResident, which answers "do these name, ID number
// and phone belong together": per WeChat account (5 per 15 minutes), and
// per client address (auth.ClientKey), since one person can hold many
// WeChat accounts. The per-client limit leaves room for a mobile carrier's
// shared address.
//
// PerCode limits the tries of one code (a counter's binding code; the
// proxy service's invitation codes use the same throttles under keys of
// their own): however many accounts and addresses try it.
type BindLimits struct {
	PerAccount, PerClient, PerCode *auth.Throttle
}

// Per-code limit of binding and invitation codes.
const (
	CodeLimit  = 5
	CodeWindow = 15 * time.Minute
)

// Per-client bindResident limit.
const (
	BindClientLimit  = 20
	BindClientWindow = 15 * time.Minute
)

// Look-ups by full ID number (residentByIdNumber) per staff user. The blind
// index answers "does this number live here" for any candidate, so without a
// bound a script could enumerate the registry: one region, birth date and
// gender leave only ~500 candidate numbers. A counter clerk serves one
// resident every few minutes and looks up each once or twice, so even a
// queue at an enrollment drive stays far below the burst limit (one look-up
// every 20 s for 10 minutes) and a full day's work below the daily one, while
// the daily limit does not cover the candidates of a single birth date.
const (
	LookupBurstLimit  = 30
	LookupBurstWindow = 10 * time.Minute
	LookupDailyLimit  = 300
	LookupDailyWindow = 24 * time.Hour
)

// NewService wires the registry. served answers for providers; binds
// throttle bindResident per WeChat account and per client; lookups (all of them apply,
// normally one per window above) throttle residentByIdNumber per staff user.
func NewService(db *gorm.DB, keys *pii.Keyring, now func() time.Time, served ServedChecker, sessions SessionUpdater, binds BindLimits, lookups ...*auth.Throttle) *Service {
	if served == nil {
		served = NeverServed{}
	}
	return &Service{db: db, keys: keys, now: now, served: served, sessions: sessions, binds: binds, lookups: lookups, maxBindings: DefaultMaxBindings}
}

// SetMaxBindings sets how many WeChat accounts may be bound to one resident
// at once (WECHAT_MAX_BINDINGS_PER_RESIDENT); below 1, the default.
func (s *Service) SetMaxBindings(n int) {
	if n < 1 {
		n = DefaultMaxBindings
	}
	s.maxBindings = n
}

// SetServedChecker replaces the provider check (the voucher domain wires
// its own at start-up).
func (s *Service) SetServedChecker(c ServedChecker) { s.served = c }

// Today is the business date (Asia/Shanghai) on the app clock.
func (s *Service) Today() civil.Date { return civil.DateOf(s.now()) }

// AgeOf is r's age today.
func (s *Service) AgeOf(r *Resident) int { return r.Age(s.Today()) }

// Get returns one resident as the viewer may see it: nil when it does not
// exist, ErrForbidden when the viewer may not see it.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*Resident, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	row, err := findByID(ctx, s.db, id)
	if err != nil || row == nil {
		return nil, err
	}
	a, err := s.viewOf(ctx, v, row.ID, row.OrgPath)
	if err != nil {
		return nil, err
	}
	if a == policy.ViewNone && policy.MayProxy(v, row.ID) {
		return s.getAsProxy(ctx, row)
	}
	if a == policy.ViewNone {
		return nil, problem.Forbidden("you may not see this resident")
	}
	return row.resident().apply(a), nil
}

// getAsProxy is a family proxy's read of the resident it acts for: the
// one check (policy.ActForAction, VIEW), the masked view (a proxy never
// reads the full ID number: it is not the elder), and an audit entry
// naming both identities (the proxy's account as actor, the resident,
// Acting.Detail).
func (s *Service) getAsProxy(ctx context.Context, row *residentRow) (*Resident, error) {
	acting, err := policy.ActForAction(ctx, s.proxies, policy.ReadResident, row.ID)
	if err != nil {
		return nil, err
	}
	if err := audit.Record(ctx, s.db.WithContext(ctx), audit.ActionResident, audit.EntityResident, &row.ID, acting.Detail(nil)); err != nil {
		return nil, err
	}
	return row.resident().apply(policy.ViewMasked), nil
}

// ByIDNumber looks a resident up by full ID number (staff only). Every call
// is audited, found or not, and counts against the viewer's look-up limits;
// a call over a limit is refused with TOO_MANY_ATTEMPTS (audited as
// "rate_limited") without touching the index.
func (s *Service) ByIDNumber(ctx context.Context, raw string) (*Resident, error) {
	v, err := policy.Require(ctx, policy.LookUpByIDNumber)
	if err != nil {
		return nil, err
	}
	var (
		out     *Resident
		outcome = "not_found"
		entity  *uuid.UUID
	)
	allowed := true
	for _, t := range s.lookups {
		// Reserve every window, so a refused call still counts everywhere.
		ok, err := t.Reserve(ctx, "idlookup:"+v.ID.String())
		if err != nil {
			return nil, err
		}
		allowed = allowed && ok
	}
	n, perr := idnumber.Parse(raw, s.now())
	switch {
	case !allowed:
		outcome = "rate_limited"
	case perr != nil:
		outcome = "invalid"
	default:
		row, err := findByIDIndex(ctx, s.db, s.keys.BlindIndex(PurposeIDNumber, n.String()))
		if err != nil {
			return nil, err
		}
		if row != nil {
			entity = &row.ID
			a, err := s.viewOf(ctx, v, row.ID, row.OrgPath)
			if err != nil {
				return nil, err
			}
			if a == policy.ViewNone {
				outcome = "forbidden"
			} else {
				outcome, out = "found", row.resident().apply(a)
			}
		}
	}
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		return audit.Record(ctx, tx, audit.ActionResidentByIDNumber, audit.EntityResident, entity, map[string]any{"outcome": outcome})
	})
	if err != nil {
		return nil, database.Classify(err)
	}
	switch outcome {
	case "rate_limited":
		return nil, errLookupLimited
	case "invalid":
		return nil, problem.BadInput("idNumber is not a valid resident identity number")
	case "forbidden":
		return nil, problem.Forbidden("you may not see this resident")
	}
	return out, nil
}

// errLookupLimited answers a look-up over the limits; the presenter gives
// it extensions.code TOO_MANY_ATTEMPTS.
var errLookupLimited = problem.New(problem.TooManyAttempts, "按身份证号查询次数过多，请稍后再试 (too many look-ups by ID number; try again later)")

// Filter narrows a resident list; zero fields match everything.
type Filter struct {
	OrgUnitID    *uuid.UUID
	NameContains string
	// Search is a counter search: part of the name, or its pinyin or
	// initials (search.go).
	Search string
	// Phone finds residents by phone number (its blind index); Q is the one
	// search box: an ID number, a phone number, or else a name as Search.
	// Both look up like residentByIdNumber (lookup.go): the list only.
	Phone, Q   string
	MinAge     *int
	MaxAge     *int
	Statuses   []Status
	CareLevels []CareLevel
}

// List returns one page of the residents the viewer may list, newest first.
func (s *Service) List(ctx context.Context, f Filter, p page.Request) (page.Result[*Resident], error) {
	var zero page.Result[*Resident]
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return zero, err
	}
	scope := policy.ScopeOf(v, policy.ListResidents)
	if scope.Reach < policy.Subtree {
		return zero, problem.Forbidden("your role does not allow listing residents")
	}
	ident, err := s.splitQuery(&f)
	if err != nil {
		return zero, err
	}
	if ident != nil {
		if err := s.lookUp(ctx, v, ident); err != nil {
			return zero, err
		}
	}
	q, err := compile(ctx, s.db, f, s.Today())
	if err != nil {
		return zero, err
	}
	if !scope.All() {
		q.prefixes = append(q.prefixes, scope.Path)
	}
	if ident != nil {
		q.identity = ident
	}
	rows, total, estimate, err := list(ctx, s.db, q, p)
	if err != nil {
		return zero, err
	}
	items := make([]*Resident, len(rows))
	for i := range rows {
		a, err := s.viewOf(ctx, v, rows[i].ID, rows[i].OrgPath)
		if err != nil {
			return zero, err
		}
		items[i] = rows[i].resident().apply(a)
	}
	res := page.Trim(p, items)
	res.TotalCount, res.TotalIsEstimate = total, estimate
	if ident != nil {
		outcome := "not_found"
		if len(res.Items) > 0 {
			outcome = "found"
		}
		if err := s.auditLookUp(ctx, ident, outcome, res.Items); err != nil {
			return zero, err
		}
	}
	return res, nil
}

// compile validates a list filter into its SQL terms, ages judged on
// today. The residents list and bulk enrollment (Selection) share it.
func compile(ctx context.Context, db *gorm.DB, f Filter, today civil.Date) (query, error) {
	q := query{}
	if f.Phone != "" || f.Q != "" {
		// A look-up by a personal number is audited and counted, which the
		// residents list does (List) and a bulk selection does not.
		return q, problem.BadInput("filter.phone and filter.q search the residents list only")
	}
	if f.OrgUnitID != nil {
		u, err := findUnit(ctx, db, *f.OrgUnitID)
		if err != nil {
			return q, err
		}
		if u == nil {
			return q, problem.BadInput("filter.orgUnitId: no such org unit")
		}
		// A resident's community_id and grid_id are their units; a street's
		// or the district's residents are found by path.
		switch u.Kind {
		case "COMMUNITY":
			q.community = &u.ID
		case "GRID":
			q.grid = &u.ID
		default:
			q.prefixes = append(q.prefixes, u.Path)
		}
	}
	if utf8.RuneCountInString(f.NameContains) > 64 {
		return q, problem.BadInput("filter.nameContains: at most 64 characters")
	}
	if utf8.RuneCountInString(f.Search) > 64 {
		return q, problem.BadInput("filter.search: at most 64 characters")
	}
	q.nameContains, q.search = f.NameContains, f.Search
	if f.MinAge != nil {
		if *f.MinAge < 0 || *f.MinAge > 150 {
			return q, problem.BadInput("filter.minAge must be between 0 and 150")
		}
		d := yearsBefore(today, *f.MinAge)
		q.bornOnOrBefore = &d
	}
	if f.MaxAge != nil {
		if *f.MaxAge < 0 || *f.MaxAge > 150 {
			return q, problem.BadInput("filter.maxAge must be between 0 and 150")
		}
		d := yearsBefore(today, *f.MaxAge+1)
		q.bornAfter = &d
	}
	for _, x := range f.Statuses {
		q.statuses = append(q.statuses, string(x))
	}
	for _, x := range f.CareLevels {
		q.careLevels = append(q.careLevels, string(x))
	}
	return q, nil
}

// yearsBefore is the date n years before d; 29 February falls back to the
// 28th, so "born on or before" matches Resident.Age.
func yearsBefore(d civil.Date, n int) civil.Date {
	out := civil.Date{Year: d.Year - n, Month: d.Month, Day: d.Day}
	if t := out.In(time.UTC); t.Month() != d.Month {
		out.Day = 28
	}
	return out
}

// IDNumbers returns the full ID numbers of residents the viewer may see in
// full (nil for the others), writing one audit entry per number read, all
// in one statement. It backs a per-request loader, so a list costs one
// INSERT however many numbers it shows.
func (s *Service) IDNumbers(ctx context.Context, rs []*Resident) ([]*string, []error) {
	out := make([]*string, len(rs))
	var read []uuid.UUID
	for i, r := range rs {
		if r == nil || r.access != policy.ViewFull || r.idEnc == "" {
			continue
		}
		plain, err := s.keys.Decrypt(r.idEnc, PurposeIDNumber)
		if err != nil {
			return nil, []error{fmt.Errorf("resident: decrypt ID number: %w", err)}
		}
		out[i] = &plain
		read = append(read, r.ID)
	}
	if len(read) == 0 {
		return out, nil
	}
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		return audit.RecordMany(ctx, tx, audit.ActionIDNumber, audit.EntityResident, read, nil)
	})
	if err != nil {
		return nil, []error{database.Classify(err)}
	}
	return out, nil
}

// Contacts returns the emergency contacts of residents in priority order
// (none for a provider's limited view), in one query.
func (s *Service) Contacts(ctx context.Context, rs []*Resident) (map[*Resident][]*Contact, error) {
	var ids []uuid.UUID
	for _, r := range rs {
		if r.access > policy.ViewLimited {
			ids = append(ids, r.ID)
		}
	}
	out := make(map[*Resident][]*Contact, len(rs))
	for _, r := range rs {
		out[r] = []*Contact{}
	}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := contactsOf(ctx, s.db, ids)
	if err != nil {
		return nil, err
	}
	by := map[uuid.UUID][]*Contact{}
	for _, c := range rows {
		by[c.ResidentID] = append(by[c.ResidentID], &Contact{ID: c.ID, ResidentID: c.ResidentID, Name: c.Name,
			Relation: c.Relation, PhoneMasked: c.PhoneMasked, Priority: c.Priority})
	}
	for _, r := range rs {
		if cs, ok := by[r.ID]; ok && r.access > policy.ViewLimited {
			out[r] = cs
		}
	}
	return out, nil
}

// VisibleByIDs loads residents for other domains' references (a call's
// resident, a redemption's, an applicant) with the same per-viewer rules as
// Get: each comes trimmed to what the viewer may see, and residents the
// viewer may not see at all are left out. It is the batch function of the
// one resident dataloader.
func (s *Service) VisibleByIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*Resident, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	var rows []residentRow
	if err := s.db.WithContext(ctx).Select(residentColumns).Where("id = ANY(?)", database.UUIDs(ids)).Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("resident: by ids: %w", err))
	}
	out := make(map[uuid.UUID]*Resident, len(rows))
	for i := range rows {
		a, err := s.viewOf(ctx, v, rows[i].ID, rows[i].OrgPath)
		if err != nil {
			return nil, err
		}
		if a != policy.ViewNone {
			out[rows[i].ID] = rows[i].resident().apply(a)
		}
	}
	return out, nil
}
