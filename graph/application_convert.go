package graph

import (
	"strings"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/model"
	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/application"
	"github.com/jinjiang/residents/internal/page"
)

func submittedMaterials(in []*model.MaterialInput) []application.SubmittedMaterial {
	out := make([]application.SubmittedMaterial, 0, len(in))
	for _, m := range in {
		out = append(out, application.SubmittedMaterial{Name: m.Name, Reference: m.Reference})
	}
	return out
}

func itemInput(in model.ServiceItemInput) (application.ItemInput, error) {
	dept, err := relay.ParseOptional(TypeOrgUnit, in.DepartmentID)
	if err != nil {
		return application.ItemInput{}, err
	}
	vp, err := relay.ParseOptional(TypeVoucherProgram, in.VoucherProgramID)
	if err != nil {
		return application.ItemInput{}, err
	}
	out := application.ItemInput{Code: in.Code, Name: in.Name, DepartmentID: dept, TimeLimitWorkingDays: in.TimeLimitWorkingDays,
		PromisedLimitWorkingDays: in.PromisedLimitWorkingDays,
		ExtensionWorkingDays:     deref(in.ExtensionWorkingDays), DistrictWide: in.DistrictWide, VoucherProgramID: vp,
		Materials: make([]application.Material, 0, len(in.Materials))}
	for _, m := range in.Materials {
		out.Materials = append(out.Materials, application.Material{Name: m.Name, Required: m.Required})
	}
	return out, nil
}

func applicationFilter(in *model.ApplicationFilter) (application.Filter, error) {
	var f application.Filter
	if in == nil {
		return f, nil
	}
	var err error
	if f.HandlingUnitID, err = relay.ParseOptional(TypeOrgUnit, in.HandlingUnitID); err != nil {
		return f, err
	}
	if f.ApplicantID, err = relay.ParseOptional(TypeResident, in.ApplicantID); err != nil {
		return f, err
	}
	if f.CenterID, err = relay.ParseOptional(TypeServiceCenter, in.CenterID); err != nil {
		return f, err
	}
	if f.ItemID, err = relay.ParseOptional(TypeServiceItem, in.ItemID); err != nil {
		return f, err
	}
	f.Status, f.Overdue, f.Statuses, f.Open = in.Status, in.Overdue, in.Statuses, in.Open
	f.SubmittedFrom, f.SubmittedTo, f.DeadlineBefore = in.SubmittedFrom, in.SubmittedTo, in.DeadlineBefore
	if in.OrderBy != nil {
		f.Order = *in.OrderBy
	}
	return f, nil
}

func applicationPayload(a *application.Application, err error) (*model.ApplicationPayload, error) {
	ues, err := userErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.ApplicationPayload{Application: a, UserErrors: ues}, nil
}

func applicationConnection(res page.Result[*application.Application], err error) (*model.ApplicationConnection, error) {
	if err != nil {
		return nil, err
	}
	conn := &model.ApplicationConnection{PageInfo: pageInfo(res, func(a *application.Application) uuid.UUID { return a.ID }),
		TotalCount: res.TotalCount, Edges: make([]*model.ApplicationEdge, 0, len(res.Items))}
	for _, a := range res.Items {
		conn.Edges = append(conn.Edges, &model.ApplicationEdge{Cursor: page.EncodeCursor(a.ID), Node: a})
	}
	return conn, nil
}

func supplements(in []*model.SupplementItemInput) []application.Supplement {
	out := make([]application.Supplement, 0, len(in))
	for _, x := range in {
		out = append(out, application.Supplement{Material: x.Material, Reason: x.Reason})
	}
	return out
}

// NoticePath is where a written notice of an application is downloaded
// (internal/app serves it).
func NoticePath(id uuid.UUID, k application.NoticeKind) string {
	return "/applications/" + relay.ID(TypeApplication, id) + "/notices/" + strings.ToLower(string(k)) + ".pdf"
}
