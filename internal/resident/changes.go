package resident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/page"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// ChangeKind is which benefit-deciding fact a change request changes.
type ChangeKind string

// The kinds of checked change.
const (
	ChangeResidentStatus  ChangeKind = "RESIDENT_STATUS"
	ChangeCareLevel       ChangeKind = "CARE_LEVEL"
	ChangeHouseholdStatus ChangeKind = "HOUSEHOLD_STATUS"
	ChangeDeath           ChangeKind = "DEATH"
)

// ChangeState is where a change request stands.
type ChangeState string

// The states: PENDING → APPROVED | REJECTED (by a checker) | WITHDRAWN (by
// the maker). Only PENDING moves.
const (
	ChangePending   ChangeState = "PENDING"
	ChangeApproved  ChangeState = "APPROVED"
	ChangeRejected  ChangeState = "REJECTED"
	ChangeWithdrawn ChangeState = "WITHDRAWN"
)

// StatusAction is what a status change does: a status starts (GRANT) or
// ends (END) on the effective date.
type StatusAction string

// The status actions.
const (
	GrantStatus StatusAction = "GRANT"
	EndStatus   StatusAction = "END"
)

// Change is what a request changes; which fields count depends on the kind.
type Change struct {
	// EffectiveOn is when the change holds from: a status's first day (or
	// first day no longer held), the assessment date, the date of death.
	EffectiveOn civil.Date
	// Status and Action: RESIDENT_STATUS, HOUSEHOLD_STATUS.
	Status Status
	Action StatusAction
	// CareLevel and its assessment: CARE_LEVEL.
	CareLevel  CareLevel
	Assessor   string
	Instrument string
	Score      *int
	// Source of a death report: DEATH.
	Source string
}

// changeJSON is Change as stored (fact_change_requests.change).
type changeJSON struct {
	EffectiveOn string `json:"effectiveOn"`
	Status      string `json:"status,omitempty"`
	Action      string `json:"action,omitempty"`
	CareLevel   string `json:"careLevel,omitempty"`
	Assessor    string `json:"assessor,omitempty"`
	Instrument  string `json:"instrument,omitempty"`
	Score       *int   `json:"score,omitempty"`
	Source      string `json:"source,omitempty"`
}

// Evidence is the document a change rests on.
type Evidence struct {
	DocumentType   string
	DocumentNumber string
	Note           *string
}

// ChangeRequest is a checked change of a benefit-deciding fact.
type ChangeRequest struct {
	ID           uuid.UUID
	Kind         ChangeKind
	State        ChangeState
	ResidentID   *uuid.UUID
	HouseholdID  *uuid.UUID
	OrgPath      string
	Change       Change
	Evidence     Evidence
	RequestedBy  uuid.UUID
	RequestedAt  time.Time
	DecidedBy    *uuid.UUID
	DecidedAt    *time.Time
	RejectReason *string
}

type changeRow struct {
	ID             uuid.UUID
	Kind           string
	State          string
	ResidentID     *uuid.UUID
	HouseholdID    *uuid.UUID
	OrgPath        string
	Change         []byte `gorm:"type:jsonb"`
	DocumentType   string
	DocumentNumber string
	Note           *string
	RequestedBy    uuid.UUID
	RequestedAt    time.Time
	DecidedBy      *uuid.UUID
	DecidedAt      *time.Time
	RejectReason   *string
}

func (changeRow) TableName() string { return "fact_change_requests" }

func (r *changeRow) request() *ChangeRequest {
	var c changeJSON
	_ = json.Unmarshal(r.Change, &c)
	on, _ := civil.ParseDate(c.EffectiveOn)
	return &ChangeRequest{ID: r.ID, Kind: ChangeKind(r.Kind), State: ChangeState(r.State), ResidentID: r.ResidentID,
		HouseholdID: r.HouseholdID, OrgPath: r.OrgPath,
		Change: Change{EffectiveOn: on, Status: Status(c.Status), Action: StatusAction(c.Action), CareLevel: CareLevel(c.CareLevel),
			Assessor: c.Assessor, Instrument: c.Instrument, Score: c.Score, Source: c.Source},
		Evidence:    Evidence{DocumentType: r.DocumentType, DocumentNumber: r.DocumentNumber, Note: r.Note},
		RequestedBy: r.RequestedBy, RequestedAt: r.RequestedAt, DecidedBy: r.DecidedBy, DecidedAt: r.DecidedAt, RejectReason: r.RejectReason}
}

// ChangeInput is requestFactChange's input.
type ChangeInput struct {
	Kind        ChangeKind
	ResidentID  *uuid.UUID
	HouseholdID *uuid.UUID
	Change      Change
	Evidence    Evidence
}

func validStatus(s Status) bool {
	switch s {
	case LowIncome, ExtremePoverty, LivingAlone, EmptyNest, BereavedParent:
		return true
	}
	return false
}

func validCareLevel(c CareLevel) bool {
	switch c {
	case Intact, Mild, Moderate, Severe, Total:
		return true
	}
	return false
}

// validate checks the input's shape; the subject's state is checked when
// requested and again when approved.
func (s *Service) validateChange(in *ChangeInput) problem.UserErrors {
	var ues problem.UserErrors
	bad := func(msg string, field ...string) {
		ues = append(ues, problem.New(problem.Invalid, msg, append([]string{"input"}, field...)...))
	}
	in.Evidence.DocumentType = strings.TrimSpace(in.Evidence.DocumentType)
	in.Evidence.DocumentNumber = strings.TrimSpace(in.Evidence.DocumentNumber)
	if n := utf8.RuneCountInString(in.Evidence.DocumentType); n < 1 || n > 64 {
		bad("证明材料类型须为1至64个字符 (the document type must be 1 to 64 characters)", "evidence", "documentType")
	}
	if n := utf8.RuneCountInString(in.Evidence.DocumentNumber); n < 1 || n > 64 {
		bad("证明材料编号须为1至64个字符 (the document number must be 1 to 64 characters)", "evidence", "documentNumber")
	}
	in.Evidence.Note = trimmed(in.Evidence.Note)
	if in.Evidence.Note != nil && utf8.RuneCountInString(*in.Evidence.Note) > 500 {
		bad("备注最多500个字符 (the note is at most 500 characters)", "evidence", "note")
	}
	if in.Change.EffectiveOn.IsZero() || in.Change.EffectiveOn.After(s.Today()) {
		bad("日期不能晚于今天 (the date cannot be in the future)", "effectiveOn")
	}
	switch in.Kind {
	case ChangeHouseholdStatus:
		if in.HouseholdID == nil || in.ResidentID != nil {
			bad("户的状态变更须指定 householdId (a household's status change names the household only)", "householdId")
		}
		if !HouseholdStatus(in.Change.Status) {
			bad("户只能持有低保或特困状态 (a household holds only LOW_INCOME or EXTREME_POVERTY)", "status")
		}
	case ChangeResidentStatus, ChangeCareLevel, ChangeDeath:
		if in.ResidentID == nil || in.HouseholdID != nil {
			bad("须指定 residentId (the change names the resident only)", "residentId")
		}
	default:
		bad("未知的变更类型 (unknown kind of change)", "kind")
	}
	switch in.Kind {
	case ChangeResidentStatus, ChangeHouseholdStatus:
		if !validStatus(in.Change.Status) {
			bad("须指定状态 (a status is required)", "status")
		}
		if in.Change.Action != GrantStatus && in.Change.Action != EndStatus {
			bad("须指定 GRANT 或 END (the action must be GRANT or END)", "action")
		}
	case ChangeCareLevel:
		c := &in.Change
		c.Assessor, c.Instrument = strings.TrimSpace(c.Assessor), strings.TrimSpace(c.Instrument)
		if !validCareLevel(c.CareLevel) {
			bad("须指定能力等级 (a care level is required)", "careLevel")
		}
		if n := utf8.RuneCountInString(c.Assessor); n < 1 || n > 64 {
			bad("评估人须为1至64个字符 (the assessor must be 1 to 64 characters)", "assessment", "assessor")
		}
		if n := utf8.RuneCountInString(c.Instrument); n < 1 || n > 100 {
			bad("评估工具须为1至100个字符 (the instrument must be 1 to 100 characters)", "assessment", "instrument")
		}
		if c.Score != nil && (*c.Score < 0 || *c.Score > 1000) {
			bad("评估得分须在0至1000之间 (the score must be between 0 and 1000)", "assessment", "score")
		}
	case ChangeDeath:
		in.Change.Source = strings.TrimSpace(in.Change.Source)
		if n := utf8.RuneCountInString(in.Change.Source); n < 1 || n > 200 {
			bad("须填写1至200个字符 (1 to 200 characters required)", "source")
		}
	}
	return ues
}

// RequestChange records a change request with its evidence (CLERK, or a
// CASE_WORKER in their subtree). Nothing changes until a checker approves.
func (s *Service) RequestChange(ctx context.Context, in ChangeInput) (*ChangeRequest, error) {
	v, err := policy.Require(ctx, policy.RequestFactChange)
	if err != nil {
		return nil, err
	}
	if ues := s.validateChange(&in); len(ues) > 0 {
		return nil, ues
	}
	c := in.Change
	raw, _ := json.Marshal(changeJSON{EffectiveOn: c.EffectiveOn.String(), Status: string(c.Status), Action: string(c.Action),
		CareLevel: string(c.CareLevel), Assessor: c.Assessor, Instrument: c.Instrument, Score: c.Score, Source: c.Source})
	row := changeRow{ID: uuid.Must(uuid.NewV7()), Kind: string(in.Kind), State: string(ChangePending), ResidentID: in.ResidentID,
		HouseholdID: in.HouseholdID, Change: raw, DocumentType: in.Evidence.DocumentType, DocumentNumber: in.Evidence.DocumentNumber,
		Note: in.Evidence.Note, RequestedBy: v.ID, RequestedAt: s.now()}
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		sub, err := s.lockSubject(ctx, tx, &row)
		if err != nil {
			return err
		}
		field := "residentId"
		if row.HouseholdID != nil {
			field = "householdId"
		}
		if ok, err := policy.On(v, policy.RequestFactChange, policy.Subject{ID: sub.id, OrgPath: sub.orgPath}); err != nil {
			return err
		} else if !ok {
			return policy.OutOfJurisdiction("input", field)
		}
		if err := sub.check(ChangeKind(row.Kind), c); err != nil {
			return err
		}
		if err := pendingTwin(ctx, tx, &row, c); err != nil {
			return err
		}
		row.OrgPath = sub.orgPath
		if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.ActionRequestFactChange, audit.EntityFactChangeRequest, &row.ID,
			map[string]any{"kind": row.Kind, "subject": sub.id})
	})
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: request change: %w", err))
	}
	return row.request(), nil
}

// pendingTwin refuses a request while one for the same fact of the same
// subject waits for its checker: the same status (granted or ended) of a
// resident or household, a care level, a death. Two of them would be
// decided apart, and the second approval would fail on a state the first
// changed. The subject's row is locked (lockSubject), so two requests
// racing are taken one after the other.
func pendingTwin(ctx context.Context, tx *gorm.DB, row *changeRow, c Change) error {
	q := tx.WithContext(ctx).Model(&changeRow{}).Where("state = ? AND kind = ?", string(ChangePending), row.Kind)
	if row.HouseholdID != nil {
		q = q.Where("household_id = ?", *row.HouseholdID)
	} else {
		q = q.Where("resident_id = ?", *row.ResidentID)
	}
	if k := ChangeKind(row.Kind); k == ChangeResidentStatus || k == ChangeHouseholdStatus {
		q = q.Where("change->>'status' = ?", string(c.Status))
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return problem.New(problem.Duplicate, "已有一份同一事项的变更申请待审核, 请待其审核或撤回后再提交 (a request for the same change is already pending)", "input", "kind")
	}
	return nil
}

// Decision is an approval or a rejection.
type Decision struct {
	ID uuid.UUID
	// Reason is a rejection's, required there.
	Reason string
}

var errOwnRequest = problem.New(problem.NotPermitted, "不能审核自己提交的变更申请 (you cannot decide a change request you made)", "input", "id")

// Approve applies a pending request, in the same transaction, for a
// CASE_WORKER whose subtree holds the subject or an ADMIN, never the maker.
func (s *Service) Approve(ctx context.Context, id uuid.UUID) (*ChangeRequest, error) {
	return s.decide(ctx, Decision{ID: id}, ChangeApproved)
}

// Reject closes a pending request with a reason, for the same checkers.
func (s *Service) Reject(ctx context.Context, d Decision) (*ChangeRequest, error) {
	d.Reason = strings.TrimSpace(d.Reason)
	if n := utf8.RuneCountInString(d.Reason); n < 1 || n > 500 {
		return nil, problem.New(problem.Invalid, "须填写驳回原因（1至500个字符） (a reason of 1 to 500 characters is required)", "input", "reason")
	}
	return s.decide(ctx, d, ChangeRejected)
}

func (s *Service) decide(ctx context.Context, d Decision, to ChangeState) (*ChangeRequest, error) {
	v, err := policy.Require(ctx, policy.ReviewFactChange)
	if err != nil {
		return nil, err
	}
	var out *ChangeRequest
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		row, err := lockChange(ctx, tx, d.ID)
		if err != nil {
			return err
		}
		if row.RequestedBy == v.ID {
			return errOwnRequest
		}
		if row.State != string(ChangePending) {
			return problem.New(problem.InvalidTransition, "该申请已处理或已撤回 (the request is no longer pending)", "input", "id")
		}
		sub, err := s.lockSubject(ctx, tx, row)
		if err != nil {
			return err
		}
		if ok, err := policy.On(v, policy.ReviewFactChange, policy.Subject{ID: sub.id, OrgPath: sub.orgPath}); err != nil {
			return err
		} else if !ok {
			return policy.OutOfJurisdiction("input", "id")
		}
		now := s.now()
		set := map[string]any{"state": string(to), "decided_by": v.ID, "decided_at": now}
		detail := map[string]any{"kind": row.Kind, "subject": sub.id}
		action := audit.ActionRejectFactChange
		if to == ChangeRejected {
			set["reject_reason"] = d.Reason
		} else {
			action = audit.ActionApproveFactChange
			req := row.request()
			if err := sub.check(req.Kind, req.Change); err != nil {
				return err
			}
			applied, err := s.apply(ctx, tx, v, req, sub)
			if err != nil {
				return err
			}
			detail["applied"] = applied
		}
		if err := tx.WithContext(ctx).Model(&changeRow{}).Where("id = ?", row.ID).Updates(set).Error; err != nil {
			return err
		}
		if err := tx.WithContext(ctx).Where("id = ?", row.ID).Take(row).Error; err != nil {
			return err
		}
		out = row.request()
		return audit.Record(ctx, tx, action, audit.EntityFactChangeRequest, &row.ID, detail)
	})
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: decide change: %w", err))
	}
	return out, nil
}

// Withdraw takes back a pending request; only its maker may.
func (s *Service) Withdraw(ctx context.Context, id uuid.UUID) (*ChangeRequest, error) {
	v, err := policy.Require(ctx, policy.RequestFactChange)
	if err != nil {
		return nil, err
	}
	var out *ChangeRequest
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		row, err := lockChange(ctx, tx, id)
		if err != nil {
			return err
		}
		if row.RequestedBy != v.ID {
			return problem.New(problem.NotPermitted, "只能撤回自己提交的申请 (only the maker may withdraw a request)", "input", "id")
		}
		if row.State != string(ChangePending) {
			return problem.New(problem.InvalidTransition, "该申请已处理或已撤回 (the request is no longer pending)", "input", "id")
		}
		now := s.now()
		if err := tx.WithContext(ctx).Model(&changeRow{}).Where("id = ?", row.ID).
			Updates(map[string]any{"state": string(ChangeWithdrawn), "decided_at": now}).Error; err != nil {
			return err
		}
		row.State, row.DecidedAt = string(ChangeWithdrawn), &now
		out = row.request()
		return audit.Record(ctx, tx, audit.ActionWithdrawFactChange, audit.EntityFactChangeRequest, &row.ID, nil)
	})
	if err != nil {
		return nil, database.Classify(fmt.Errorf("resident: withdraw change: %w", err))
	}
	return out, nil
}

func lockChange(ctx context.Context, tx *gorm.DB, id uuid.UUID) (*changeRow, error) {
	var row changeRow
	err := tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, problem.New(problem.NotFound, "没有这项变更申请 (no such change request)", "input", "id")
	}
	return &row, err
}

// GetChange returns a change request the viewer may read; nil when none.
func (s *Service) GetChange(ctx context.Context, id uuid.UUID) (*ChangeRequest, error) {
	row, err := oneInReach(ctx, s.db, policy.ReadFactChanges, id, func(r *changeRow) string { return r.OrgPath },
		"change request", "您无权查看该变更申请 (you may not see this change request)")
	if row == nil || err != nil {
		return nil, err
	}
	return row.request(), nil
}

// oneInReach reads the row of id of a table keyed by id, and answers it
// when the viewer may take action on its org path: nil when there is
// none, forbidden (with message) outside the viewer's reach.
func oneInReach[R any](ctx context.Context, db *gorm.DB, action policy.Action, id uuid.UUID, path func(*R) string, what, forbidden string) (*R, error) {
	v, err := policy.Require(ctx, action)
	if err != nil {
		return nil, err
	}
	var rows []R
	if err := db.WithContext(ctx).Where("id = ?", id).Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("resident: %s: %w", what, err))
	}
	if len(rows) == 0 {
		return nil, nil
	}
	if ok, err := policy.On(v, action, policy.Subject{OrgPath: path(&rows[0])}); err != nil || !ok {
		if err == nil {
			err = problem.Forbidden(forbidden)
		}
		return nil, err
	}
	return &rows[0], nil
}

// ChangeFilter narrows the change requests list (the checkers' queue is
// state PENDING).
type ChangeFilter struct {
	States      []ChangeState
	Kinds       []ChangeKind
	OrgUnitID   *uuid.UUID
	ResidentID  *uuid.UUID
	HouseholdID *uuid.UUID
}

// Changes lists the change requests the viewer may read, newest first.
func (s *Service) Changes(ctx context.Context, f ChangeFilter, p page.Request) (page.Result[*ChangeRequest], error) {
	v, err := policy.Require(ctx, policy.ReadFactChanges)
	if err != nil {
		return page.Result[*ChangeRequest]{}, err
	}
	cond, args := policy.ScopeOf(v, policy.ReadFactChanges).Where("org_path", "")
	q := s.db.WithContext(ctx).Model(&changeRow{}).Where(cond, args...)
	if len(f.States) > 0 {
		q = q.Where("state IN ?", f.States)
	}
	if len(f.Kinds) > 0 {
		q = q.Where("kind IN ?", f.Kinds)
	}
	if f.OrgUnitID != nil {
		u, err := findUnit(ctx, s.db, *f.OrgUnitID)
		if err != nil {
			return page.Result[*ChangeRequest]{}, err
		}
		if u == nil {
			return page.Result[*ChangeRequest]{}, problem.BadInput("orgUnitId 不是已知的机构 (orgUnitId names no org unit)")
		}
		q = q.Where("org_path LIKE ?", policy.LikePrefix(u.Path))
	}
	if f.ResidentID != nil {
		q = q.Where("resident_id = ?", *f.ResidentID)
	}
	if f.HouseholdID != nil {
		q = q.Where("household_id = ?", *f.HouseholdID)
	}
	var total int64
	if p.Total {
		if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
			return page.Result[*ChangeRequest]{}, database.Classify(fmt.Errorf("resident: change requests: %w", err))
		}
	}
	var rows []changeRow
	if err := page.NewestFirst(q, "id", p).Find(&rows).Error; err != nil {
		return page.Result[*ChangeRequest]{}, database.Classify(fmt.Errorf("resident: change requests: %w", err))
	}
	out := make([]*ChangeRequest, len(rows))
	for i := range rows {
		out[i] = rows[i].request()
	}
	res := page.Trim(p, out)
	res.TotalCount = int(total)
	return res, nil
}

// subject is a change request's resident or household, locked, with what
// the checks and the application need.
type subject struct {
	id          uuid.UUID
	orgPath     string
	household   *householdRow
	resident    *lockedResident
	ownStatuses []string
	careLevel   string
}

func (s *Service) lockSubject(ctx context.Context, tx *gorm.DB, row *changeRow) (*subject, error) {
	if row.HouseholdID != nil {
		var hs []householdRow
		if err := tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", *row.HouseholdID).Find(&hs).Error; err != nil {
			return nil, err
		}
		if len(hs) == 0 {
			return nil, problem.New(problem.NotFound, "没有这一户 (no such household)", "input", "householdId")
		}
		return &subject{id: hs[0].ID, orgPath: hs[0].OrgPath, household: &hs[0], ownStatuses: hs[0].Statuses}, nil
	}
	res, err := lockForLifeEvent(ctx, tx, *row.ResidentID)
	if err != nil {
		return nil, err
	}
	var st pq.StringArray
	var level string
	if err := tx.WithContext(ctx).Raw("SELECT statuses, care_level FROM residents WHERE id = ?", res.ID).Row().Scan(&st, &level); err != nil {
		return nil, err
	}
	return &subject{id: res.ID, orgPath: res.OrgPath, resident: res, ownStatuses: st, careLevel: level}, nil
}

// check says whether the change still makes sense for the subject as it
// stands: a living resident, a status to grant not held, one to end held.
func (sub *subject) check(kind ChangeKind, c Change) error {
	if sub.resident != nil && (sub.resident.DeceasedOn != nil || sub.resident.MovedOutOn != nil) {
		return problem.New(problem.InvalidTransition, "该居民已登记死亡或迁出 (the resident is already recorded as deceased or moved out)", "input", "residentId")
	}
	if kind != ChangeResidentStatus && kind != ChangeHouseholdStatus {
		return nil
	}
	held := false
	for _, x := range sub.ownStatuses {
		held = held || x == string(c.Status)
	}
	if c.Action == GrantStatus && held {
		return problem.New(problem.InvalidTransition, "已持有该状态 (the status is held already)", "input", "status")
	}
	if c.Action == EndStatus && !held {
		return problem.New(problem.InvalidTransition, "未持有该状态 (the status is not held)", "input", "status")
	}
	return nil
}

// ViewerMayDecide says whether the viewer may approve or reject c now: a
// checker whose reach holds the subject, not its maker, while PENDING.
func (s *Service) ViewerMayDecide(ctx context.Context, c *ChangeRequest) bool {
	v := auth.ViewerFrom(ctx)
	if v == nil || c.State != ChangePending || c.RequestedBy == v.ID {
		return false
	}
	ok, _ := policy.On(v, policy.ReviewFactChange, policy.Subject{OrgPath: c.OrgPath})
	return ok
}
