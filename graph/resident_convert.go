package graph

import (
	"context"
	"errors"
	"slices"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/page"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/resident"
)

// TypeResident is the global-ID type of residents.
const TypeResident = "Resident"

func residentPayload(res *resident.Resident, err error) (*model.ResidentPayload, error) {
	var dup *resident.DuplicateError
	var existing *string
	if errors.As(err, &dup) && dup.Existing != nil {
		id := relay.ID(TypeResident, *dup.Existing)
		existing = &id
	}
	ues, err := userErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.ResidentPayload{Resident: res, UserErrors: ues, ExistingResidentID: existing}, nil
}

func contactInputs(in []*model.EmergencyContactInput) []resident.ContactInput {
	out := make([]resident.ContactInput, 0, len(in))
	for _, c := range in {
		out = append(out, resident.ContactInput{Name: c.Name, Relation: c.Relation, Phone: c.Phone, Priority: c.Priority})
	}
	return out
}

func registerInput(in model.RegisterResidentInput) (resident.NewResident, error) {
	comm, err := relay.ParseAs(TypeOrgUnit, in.CommunityID)
	if err != nil {
		return resident.NewResident{}, err
	}
	grid, err := relay.ParseOptional(TypeOrgUnit, in.GridID)
	if err != nil {
		return resident.NewResident{}, err
	}
	return resident.NewResident{Name: in.Name, IDNumber: in.IDNumber, Phone: in.Phone, Address: in.Address,
		CommunityID: comm, GridID: grid, Statuses: in.Statuses, CareLevel: in.CareLevel,
		Contacts: contactInputs(in.EmergencyContacts)}, nil
}

func updateInput(in model.UpdateResidentInput) (resident.Update, error) {
	id, err := relay.ParseAs(TypeResident, in.ID)
	if err != nil {
		return resident.Update{}, err
	}
	comm, err := relay.ParseOptional(TypeOrgUnit, in.CommunityID)
	if err != nil {
		return resident.Update{}, err
	}
	grid, err := relay.ParseOptional(TypeOrgUnit, in.GridID)
	if err != nil {
		return resident.Update{}, err
	}
	return resident.Update{ID: id, Version: in.Version, Phone: in.Phone, Address: in.Address, CommunityID: comm,
		GridID: grid, Statuses: in.Statuses, SetStatuses: in.Statuses != nil, CareLevel: in.CareLevel,
		Contacts: contactInputs(in.EmergencyContacts), SetContacts: in.EmergencyContacts != nil}, nil
}

func residentFilter(f *model.ResidentFilter) (resident.Filter, error) {
	if f == nil {
		return resident.Filter{}, nil
	}
	unit, err := relay.ParseOptional(TypeOrgUnit, f.OrgUnitID)
	if err != nil {
		return resident.Filter{}, err
	}
	return resident.Filter{OrgUnitID: unit, NameContains: deref(f.NameContains), Search: deref(f.Search), Phone: deref(f.Phone), Q: deref(f.Q), MinAge: f.MinAge, MaxAge: f.MaxAge,
		Statuses: f.Statuses, CareLevels: f.CareLevels}, nil
}

func residentConnection(res page.Result[*resident.Resident]) *model.ResidentConnection {
	edges := make([]*model.ResidentEdge, len(res.Items))
	for i, x := range res.Items {
		edges[i] = &model.ResidentEdge{Cursor: page.EncodeCursor(x.ID), Node: x}
	}
	return &model.ResidentConnection{Edges: edges, TotalCount: res.TotalCount, TotalCountIsEstimate: res.TotalIsEstimate,
		PageInfo: pageInfo(res, func(x *resident.Resident) uuid.UUID { return x.ID })}
}

// residentPrefetches are the batches prefetchResidents can start, each
// with the Resident fields it answers. Those fields are also the ones a
// residents page's nodes may select and still marshal in order
// (pagePrefetched, slices.go): one list for both, so a field is never
// taken as loaded that was not.
var residentPrefetches = []struct {
	fields []string
	start  func(ctx context.Context, l *Loaders, items []*resident.Resident, ids []uuid.UUID) (wait func())
}{
	{[]string{"community", "grid"}, func(ctx context.Context, l *Loaders, items []*resident.Resident, _ []uuid.UUID) func() {
		var units []uuid.UUID
		for _, x := range items {
			units = append(units, x.CommunityID)
			if x.GridID != nil {
				units = append(units, *x.GridID)
			}
		}
		return l.OrgUnit.Prefetch(ctx, units)
	}},
	{[]string{"emergencyContacts"}, func(ctx context.Context, l *Loaders, items []*resident.Resident, _ []uuid.UUID) func() {
		return thunk(l.Contacts.LoadAllThunk(ctx, items))
	}},
	{[]string{"idNumber"}, func(ctx context.Context, l *Loaders, items []*resident.Resident, _ []uuid.UUID) func() {
		return thunk(l.IDNumber.LoadAllThunk(ctx, items))
	}},
	{[]string{"vouchers", "voucherBalanceFen"}, func(ctx context.Context, l *Loaders, _ []*resident.Resident, ids []uuid.UUID) func() {
		return thunk(l.Vouchers.ResidentVouchers.LoadAllThunk(ctx, ids))
	}},
	{[]string{"disabilityCertificate"}, func(ctx context.Context, l *Loaders, _ []*resident.Resident, ids []uuid.UUID) func() {
		return thunk(l.DisabilityCertificate.LoadAllThunk(ctx, ids))
	}},
}

// pagePrefetched are the Resident fields residentPrefetches answers.
var pagePrefetched = func() map[string]bool {
	m := map[string]bool{}
	for _, p := range residentPrefetches {
		for _, f := range p.fields {
			m[f] = true
		}
	}
	return m
}()

// prefetchResidents loads, in one batch each, the nested fields want
// names (a residents page's, or one resident's), so the statement count
// stays fixed even when resolvers of a large page straggle past the
// loaders' batch window. The batches start together and run concurrently.
// Resident's fields resolve one after another (cmd/gqlgen): they then find
// every value in their loaders' caches instead of each waiting out a batch
// window in turn.
func (r *Resolver) prefetchResidents(ctx context.Context, items []*resident.Resident, want map[string]bool) {
	if len(items) == 0 {
		return
	}
	l := loaders(ctx)
	ids := make([]uuid.UUID, len(items))
	for i, x := range items {
		ids[i] = x.ID
	}
	// Errors are not handled here: they resurface in the field resolvers.
	var wait []func()
	for _, p := range residentPrefetches {
		if slices.ContainsFunc(p.fields, func(f string) bool { return want[f] }) {
			wait = append(wait, p.start(ctx, l, items, ids))
		}
	}
	for _, w := range wait {
		w()
	}
}

// prefetchResident is prefetchResidents for a resolver that returns one
// resident: the fields selected on it.
func (r *Resolver) prefetchResident(ctx context.Context, x *resident.Resident, err error) (*resident.Resident, error) {
	if err == nil && x != nil {
		r.prefetchResidents(ctx, []*resident.Resident{x}, requestedFields(ctx))
	}
	return x, err
}

// thunk drops a loader thunk's results: prefetching only fills the cache.
func thunk[V any](t func() (V, error)) func() { return func() { _, _ = t() } }

// residentSelectionTypes are the types whose fragments a selection on a
// resident, or on a page of them, may spread.
var residentSelectionTypes = []string{"Resident", "Node", "ResidentConnection", "ResidentEdge"}

// requestedFields names the fields selected under path below the current
// field (a resident, or a page of them).
func requestedFields(ctx context.Context, path ...string) map[string]bool {
	oc := graphql.GetOperationContext(ctx)
	fields := graphql.CollectFieldsCtx(ctx, residentSelectionTypes)
	for _, p := range path {
		var next []graphql.CollectedField
		for _, f := range fields {
			if f.Name == p {
				next = append(next, graphql.CollectFields(oc, f.Selections, residentSelectionTypes)...)
			}
		}
		fields = next
	}
	out := make(map[string]bool, len(fields))
	for _, f := range fields {
		out[f.Name] = true
	}
	return out
}

// requiredResident loads the resident behind a non-null reference (a
// voucher's, a redemption's, an applicant): one the viewer may not see is a
// FORBIDDEN error, never a null where the schema promises a value.
func requiredResident(ctx context.Context, id uuid.UUID) (*resident.Resident, error) {
	r, err := load(ctx, loaders(ctx).Resident, id)
	if err == nil && r == nil {
		return nil, problem.Forbidden("you may not see this resident")
	}
	return r, err
}
