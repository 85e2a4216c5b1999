package graph

import (
	"context"
	"errors"
	"net/http"
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
	OrgUnit     *dataloadgen.Loader[uuid.UUID, *org.Unit]
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
	ServiceItem         *dataloadgen.Loader[uuid.UUID, *application.Item]
	ApplicationEvents   *dataloadgen.Loader[uuid.UUID, []*application.Event]
}

const loaderWait = 500 * time.Microsecond

func (r *Resolver) newLoaders() *Loaders {
	w := dataloadgen.WithWait(loaderWait)
	return &Loaders{
		OrgUnit:     dataloadgen.NewMappedLoader(r.Org.UnitsByIDs, w),
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
		ServiceItem:           dataloadgen.NewMappedLoader(r.ApplicationService.ItemsByIDs, w),
		ApplicationEvents:     dataloadgen.NewMappedLoader(r.ApplicationService.EventsOf, w),
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

// load fetches one key; a missing row is the zero value, not an error.
func load[K comparable, V any](ctx context.Context, l *dataloadgen.Loader[K, V], key K) (V, error) {
	v, err := l.Load(ctx, key)
	if errors.Is(err, dataloadgen.ErrNotFound) {
		var zero V
		return zero, nil
	}
	return v, err
}

// loadOptional fetches an optional key.
func loadOptional[K comparable, V any](ctx context.Context, l *dataloadgen.Loader[K, V], key *K) (V, error) {
	if key == nil {
		var zero V
		return zero, nil
	}
	return load(ctx, l, *key)
}
