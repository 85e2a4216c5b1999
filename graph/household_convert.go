package graph

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/page"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/resident"
)

// nonZero is nil for a zero value (a change field its kind does not use).
func nonZero[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

// changeAssessment is a CARE_LEVEL request's assessment.
func changeAssessment(c *resident.ChangeRequest) *resident.CareAssessment {
	if c.Kind != resident.ChangeCareLevel {
		return nil
	}
	on, a, i := c.Change.EffectiveOn, c.Change.Assessor, c.Change.Instrument
	return &resident.CareAssessment{Level: c.Change.CareLevel, AssessedOn: &on, Assessor: &a, Instrument: &i, Score: c.Change.Score, RequestID: &c.ID}
}

// householdByID is a household the viewer may read, or null.
func (r *Resolver) householdByID(ctx context.Context, id *uuid.UUID) (*resident.Household, error) {
	if id == nil {
		return nil, nil
	}
	h, err := r.Registry.GetHousehold(ctx, *id)
	if errors.Is(err, problem.ErrForbidden) {
		return nil, nil
	}
	return h, err
}

// changeRequestOf is a change request the viewer may read, or null.
func (r *Resolver) changeRequestOf(ctx context.Context, id *uuid.UUID) (*resident.ChangeRequest, error) {
	if id == nil {
		return nil, nil
	}
	c, err := r.Registry.GetChange(ctx, *id)
	if errors.Is(err, problem.ErrForbidden) {
		return nil, nil
	}
	return c, err
}

func householdPayload(h *resident.Household, err error) (*model.HouseholdPayload, error) {
	ues, err := userErrors(err)
	if err != nil || len(ues) > 0 {
		return &model.HouseholdPayload{UserErrors: ues}, err
	}
	return &model.HouseholdPayload{Household: h, UserErrors: ues}, nil
}

// changePayload answers a change-request mutation with the request and
// its subject as they now stand for the viewer.
func (r *Resolver) changePayload(ctx context.Context, c *resident.ChangeRequest, err error) (*model.FactChangePayload, error) {
	ues, err := userErrors(err)
	if err != nil || len(ues) > 0 {
		return &model.FactChangePayload{UserErrors: ues}, err
	}
	out := &model.FactChangePayload{Request: c, UserErrors: ues}
	if c.ResidentID != nil {
		if out.Resident, err = r.Registry.Get(ctx, *c.ResidentID); err != nil && !errors.Is(err, problem.ErrForbidden) {
			return nil, err
		}
	}
	if out.Household, err = r.householdByID(ctx, c.HouseholdID); err != nil {
		return nil, err
	}
	return out, nil
}

func memberInput(household, res string, rel resident.Relation) (resident.MemberInput, error) {
	hid, err := relay.ParseAs(TypeHousehold, household)
	if err != nil {
		return resident.MemberInput{}, err
	}
	rid, err := relay.ParseAs(TypeResident, res)
	if err != nil {
		return resident.MemberInput{}, err
	}
	return resident.MemberInput{HouseholdID: hid, ResidentID: rid, Relation: rel}, nil
}

func headChange(in model.ChangeHouseholdHeadInput) (resident.HeadChange, error) {
	m, err := memberInput(in.HouseholdID, in.HeadID, resident.Head)
	if err != nil {
		return resident.HeadChange{}, err
	}
	out := resident.HeadChange{HouseholdID: m.HouseholdID, HeadID: m.ResidentID, FormerHeadRelation: in.FormerHeadRelation}
	for _, x := range in.Relations {
		rm, err := memberInput(in.HouseholdID, x.ResidentID, x.Relation)
		if err != nil {
			return resident.HeadChange{}, err
		}
		out.Relations = append(out.Relations, rm)
	}
	return out, nil
}

func changeInput(in model.RequestFactChangeInput) (resident.ChangeInput, error) {
	out := resident.ChangeInput{Kind: in.Kind, Change: resident.Change{EffectiveOn: in.EffectiveOn},
		Evidence: resident.Evidence{DocumentType: in.Evidence.DocumentType, DocumentNumber: in.Evidence.DocumentNumber, Note: in.Evidence.Note}}
	if in.ResidentID != nil {
		id, err := relay.ParseAs(TypeResident, *in.ResidentID)
		if err != nil {
			return out, err
		}
		out.ResidentID = &id
	}
	if in.HouseholdID != nil {
		id, err := relay.ParseAs(TypeHousehold, *in.HouseholdID)
		if err != nil {
			return out, err
		}
		out.HouseholdID = &id
	}
	if in.Status != nil {
		out.Change.Status = *in.Status
	}
	if in.StatusAction != nil {
		out.Change.Action = *in.StatusAction
	}
	if in.CareLevel != nil {
		out.Change.CareLevel = *in.CareLevel
	}
	if a := in.Assessment; a != nil {
		out.Change.Assessor, out.Change.Instrument, out.Change.Score = a.Assessor, a.Instrument, a.Score
	}
	if in.DeathSource != nil {
		out.Change.Source = *in.DeathSource
	}
	return out, nil
}

func householdFilter(f *model.HouseholdFilter) (resident.HouseholdFilter, error) {
	var out resident.HouseholdFilter
	if f == nil {
		return out, nil
	}
	if f.AddressContains != nil {
		out.AddressContains = *f.AddressContains
	}
	if f.MemberName != nil {
		out.MemberName = *f.MemberName
	}
	if f.CommunityID != nil {
		id, err := relay.ParseAs(TypeOrgUnit, *f.CommunityID)
		if err != nil {
			return out, err
		}
		out.CommunityID = &id
	}
	return out, nil
}

func changeFilter(f *model.FactChangeFilter) (resident.ChangeFilter, error) {
	var out resident.ChangeFilter
	if f == nil {
		return out, nil
	}
	out.States, out.Kinds = f.States, f.Kinds
	for _, x := range []struct {
		gid  *string
		typ  string
		dest **uuid.UUID
	}{{f.OrgUnitID, TypeOrgUnit, &out.OrgUnitID}, {f.ResidentID, TypeResident, &out.ResidentID}, {f.HouseholdID, TypeHousehold, &out.HouseholdID}} {
		if x.gid == nil {
			continue
		}
		id, err := relay.ParseAs(x.typ, *x.gid)
		if err != nil {
			return out, err
		}
		*x.dest = &id
	}
	return out, nil
}

func householdConnection(res page.Result[*resident.Household], err error) (*model.HouseholdConnection, error) {
	if err != nil {
		return nil, err
	}
	conn := &model.HouseholdConnection{PageInfo: pageInfo(res, func(h *resident.Household) uuid.UUID { return h.ID }),
		TotalCount: res.TotalCount, Edges: make([]*model.HouseholdEdge, 0, len(res.Items))}
	for _, h := range res.Items {
		conn.Edges = append(conn.Edges, &model.HouseholdEdge{Cursor: page.EncodeCursor(h.ID), Node: h})
	}
	return conn, nil
}

func changeConnection(res page.Result[*resident.ChangeRequest], err error) (*model.FactChangeRequestConnection, error) {
	if err != nil {
		return nil, err
	}
	conn := &model.FactChangeRequestConnection{PageInfo: pageInfo(res, func(c *resident.ChangeRequest) uuid.UUID { return c.ID }),
		TotalCount: res.TotalCount, Edges: make([]*model.FactChangeRequestEdge, 0, len(res.Items))}
	for _, c := range res.Items {
		conn.Edges = append(conn.Edges, &model.FactChangeRequestEdge{Cursor: page.EncodeCursor(c.ID), Node: c})
	}
	return conn, nil
}
