package graph

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/vikstrous/dataloadgen"

	"github.com/jinjiang/residents/internal/application"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/disability"
	"github.com/jinjiang/residents/internal/emergency"
	"github.com/jinjiang/residents/internal/org"
	"github.com/jinjiang/residents/internal/resident"
)

// Loaders are the per-request dataloaders: every nested field of a list
// resolves through one of them, so a page costs a fixed number of queries
// whatever its size. Domains add their loaders here.
type Loaders struct {
	// OrgUnit answers from the process-wide unit cache first.
	OrgUnit     *unitLoader
	OrgChildren *dataloadgen.Loader[uuid.UUID, []*org.Unit]
	Center      *dataloadgen.Loader[uuid.UUID, *org.Center]
	User        *dataloadgen.Loader[uuid.UUID, *auth.User]
	// DisabilityCertificate is keyed by resident: the current valid certificate.
	DisabilityCertificate *dataloadgen.Loader[uuid.UUID, *disability.Certificate]
	DisabilityServices    *dataloadgen.Loader[uuid.UUID, []*disability.ServiceRecord]
	// Resident loads residents referenced by other domains, trimmed to what
	// the viewer may see (the resident service decides).
	Resident *dataloadgen.Loader[uuid.UUID, *resident.Resident]
	// IDNumber reads (and audits, in one statement) full ID numbers.
	IDNumber *dataloadgen.Loader[*resident.Resident, *string]
	Contacts *dataloadgen.Loader[*resident.Resident, []*resident.Contact]
	Vouchers *voucherLoaders

	EmergencyDevice     *dataloadgen.Loader[uuid.UUID, *emergency.Device]
	EmergencyDevicesOf  *dataloadgen.Loader[uuid.UUID, []*emergency.Device]
	EmergencyCallEvents *dataloadgen.Loader[uuid.UUID, []emergency.Event]
	EmergencyDispatches *dataloadgen.Loader[uuid.UUID, []*emergency.Dispatch]
	OutboundCalls       *dataloadgen.Loader[uuid.UUID, []*emergency.OutboundCall]
	ServiceItem         *dataloadgen.Loader[uuid.UUID, *application.Item]
	ApplicationEvents   *dataloadgen.Loader[uuid.UUID, []*application.Event]
	ApplicationPauses   *dataloadgen.Loader[uuid.UUID, []*application.Pause]
}

const loaderWait = 500 * time.Microsecond

func (r *Resolver) newLoaders() *Loaders {
	w := dataloadgen.WithWait(loaderWait)
	units := r.unitCache()
	return &Loaders{
		OrgUnit:     &unitLoader{cache: units, l: dataloadgen.NewMappedLoader(units.fetch, w)},
		OrgChildren: dataloadgen.NewMappedLoader(r.Org.ChildrenOf, w),
		Center:      dataloadgen.NewMappedLoader(r.Org.CentersByIDs, w),
		User:        dataloadgen.NewMappedLoader(r.Auth.UsersByIDs, w),

		DisabilityCertificate: dataloadgen.NewMappedLoader(r.Disability.CurrentCertificates, w),
		DisabilityServices:    dataloadgen.NewMappedLoader(r.Disability.ServicesByResidents, w),
		Resident:              dataloadgen.NewMappedLoader(r.Registry.VisibleByIDs, w),
		IDNumber:              dataloadgen.NewLoader(r.Registry.IDNumbers, w, dataloadgen.WithBatchCapacity(200)),
		Contacts:              dataloadgen.NewMappedLoader(r.Registry.Contacts, w),
		Vouchers:              r.newVoucherLoaders(w),
		EmergencyDevice:       dataloadgen.NewMappedLoader(r.Emergency.DevicesByIDs, w),
		EmergencyDevicesOf:    dataloadgen.NewMappedLoader(r.Emergency.DevicesByResidents, w),
		EmergencyCallEvents:   dataloadgen.NewMappedLoader(r.Emergency.EventsByCalls, w),
		EmergencyDispatches:   dataloadgen.NewMappedLoader(r.Emergency.DispatchesByCalls, w),
		OutboundCalls:         dataloadgen.NewMappedLoader(r.Emergency.OutboundCallsByCalls, w),
		ServiceItem:           dataloadgen.NewMappedLoader(r.ApplicationService.ItemsByIDs, w),
		ApplicationEvents:     dataloadgen.NewMappedLoader(r.ApplicationService.EventsOf, w),
		ApplicationPauses:     dataloadgen.NewMappedLoader(r.ApplicationService.PausesOf, w),
	}
}

type loadersKey struct{}

// WithLoaders wraps next so every request gets fresh loaders (no cache
// shared between viewers).
func (r *Resolver) WithLoaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx := context.WithValue(req.Context(), loadersKey{}, r.newLoaders())
		next.ServeHTTP(w, req.WithContext(ctx))
	})
}

func loaders(ctx context.Context) *Loaders {
	if l, ok := ctx.Value(loadersKey{}).(*Loaders); ok {
		return l
	}
	panic("graph: no loaders in context; wrap the handler with Resolver.WithLoaders")
}

// keyLoader is a per-request loader: a dataloader, or one in front of a cache.
type keyLoader[K comparable, V any] interface {
	Load(ctx context.Context, key K) (V, error)
}

// load fetches one key; a missing row is the zero value, not an error.
func load[K comparable, V any](ctx context.Context, l keyLoader[K, V], key K) (V, error) {
	v, err := l.Load(ctx, key)
	if errors.Is(err, dataloadgen.ErrNotFound) {
		var zero V
		return zero, nil
	}
	return v, err
}

// loadOptional fetches an optional key.
func loadOptional[K comparable, V any](ctx context.Context, l keyLoader[K, V], key *K) (V, error) {
	if key == nil {
		var zero V
		return zero, nil
	}
	return load(ctx, l, *key)
}

// unitTTL is how long a cached org unit is trusted. The ADMIN's edits of
// the tree empty the cache of every instance at once (ForgetOrgUnits, on
// org.Changes); the TTL bounds how long a unit shows stale when that
// message is missed, or after an edit by hand in SQL.
const unitTTL = time.Minute

// orgUnitCache keeps the org units of the process. Nearly every resident
// read shows its community (and the viewer's own unit is in `me`), so
// without it a resident(id) costs a second round trip to Postgres and every
// page one more statement, for rows that never change. Units are not
// trimmed per viewer, so sharing them between requests reveals nothing.
type orgUnitCache struct {
	load  func(context.Context, []uuid.UUID) (map[uuid.UUID]*org.Unit, error)
	mu    sync.RWMutex
	units map[uuid.UUID]cachedUnit
}

type cachedUnit struct {
	unit    *org.Unit
	expires time.Time
}

// unitCache returns the resolver's unit cache, created on first use.
func (r *Resolver) unitCache() *orgUnitCache {
	r.unitsOnce.Do(func() {
		r.units = &orgUnitCache{load: r.Org.UnitsByIDs, units: map[uuid.UUID]cachedUnit{}}
	})
	return r.units
}

// ForgetOrgUnits empties the unit cache (the org tree changed).
func (r *Resolver) ForgetOrgUnits() {
	c := r.unitCache()
	c.mu.Lock()
	c.units = map[uuid.UUID]cachedUnit{}
	c.mu.Unlock()
}

func (c *orgUnitCache) get(id uuid.UUID) (*org.Unit, bool) {
	c.mu.RLock()
	e, ok := c.units[id]
	c.mu.RUnlock()
	if !ok || time.Now().After(e.expires) {
		return nil, false
	}
	return e.unit, true
}

// fetch is the batch function of the per-request loader: it loads the
// misses and keeps them. A unit that does not exist is not cached.
func (c *orgUnitCache) fetch(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*org.Unit, error) {
	m, err := c.load(ctx, ids)
	if err != nil {
		return nil, err
	}
	exp := time.Now().Add(unitTTL)
	c.mu.Lock()
	for id, u := range m {
		c.units[id] = cachedUnit{unit: u, expires: exp}
	}
	c.mu.Unlock()
	return m, nil
}

// unitLoader answers from the cache and batches the misses of a request.
// Cached units are shared: resolvers must not modify them.
type unitLoader struct {
	cache *orgUnitCache
	l     *dataloadgen.Loader[uuid.UUID, *org.Unit]
}

// Load returns one unit.
func (u *unitLoader) Load(ctx context.Context, id uuid.UUID) (*org.Unit, error) {
	if unit, ok := u.cache.get(id); ok {
		return unit, nil
	}
	return u.l.Load(ctx, id)
}

// Prefetch starts loading, in one batch, the units of ids that are not
// cached, and returns the wait for it.
func (u *unitLoader) Prefetch(ctx context.Context, ids []uuid.UUID) func() {
	var miss []uuid.UUID
	for _, id := range ids {
		if _, ok := u.cache.get(id); !ok {
			miss = append(miss, id)
		}
	}
	if len(miss) == 0 {
		return func() {}
	}
	return thunk(u.l.LoadAllThunk(ctx, miss))
}
