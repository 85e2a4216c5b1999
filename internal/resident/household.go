package resident

import (
	"context"
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

// Relation is a household member's relation to the head (与户主关系).
type Relation string

// The relations. HEAD is the head themself (本人/户主).
const (
	Head       Relation = "HEAD"
	Spouse     Relation = "SPOUSE"
	Child      Relation = "CHILD"
	Parent     Relation = "PARENT"
	Grandchild Relation = "GRANDCHILD"
	Sibling    Relation = "SIBLING"
	OtherKin   Relation = "OTHER"
)

// Valid reports whether r is one of the relations.
func (r Relation) Valid() bool {
	switch r {
	case Head, Spouse, Child, Parent, Grandchild, Sibling, OtherKin:
		return true
	}
	return false
}

// HouseholdStatus reports whether s may be held by a household (低保,
// 特困); the other statuses are a person's.
func HouseholdStatus(s Status) bool { return s == LowIncome || s == ExtremePoverty }

// Household is a 户: an address in a community, a head and members. Its
// statuses are held by every member for the rules that decide benefits.
type Household struct {
	ID          uuid.UUID
	Address     string
	CommunityID uuid.UUID
	OrgPath     string
	HeadID      uuid.UUID
	Statuses    []Status
	Version     int
	CreatedAt   time.Time
}

// Member is a current member of a household.
type Member struct {
	HouseholdID uuid.UUID
	ResidentID  uuid.UUID
	Relation    Relation
	JoinedOn    civil.Date
}

type householdRow struct {
	ID           uuid.UUID
	Address      string
	AddressTerms pq.StringArray `gorm:"type:text[]"`
	CommunityID  uuid.UUID
	OrgPath      string
	HeadID       uuid.UUID
	Statuses     pq.StringArray `gorm:"type:text[]"`
	Version      int
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (householdRow) TableName() string { return "households" }

func (r *householdRow) household() *Household {
	st := make([]Status, len(r.Statuses))
	for i, x := range r.Statuses {
		st[i] = Status(x)
	}
	return &Household{ID: r.ID, Address: r.Address, CommunityID: r.CommunityID, OrgPath: r.OrgPath, HeadID: r.HeadID,
		Statuses: st, Version: r.Version, CreatedAt: r.CreatedAt}
}

type memberRow struct {
	ID          uuid.UUID
	HouseholdID uuid.UUID
	ResidentID  uuid.UUID
	Relation    string
	JoinedOn    civil.Date
	LeftOn      *civil.Date
	AddedBy     uuid.UUID
	RemovedBy   *uuid.UUID
}

func (memberRow) TableName() string { return "household_members" }

// addressTerms are the characters and character pairs of an address
// (grams, as of a name; lower-cased, spaces dropped), each once: what an
// address substring is found by. queryTerms picks those a substring must
// have.
func addressTerms(s string) pq.StringArray {
	seen := map[string]bool{}
	out := pq.StringArray{}
	for _, t := range grams(normalAddress(s)) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

func queryTerms(s string) pq.StringArray {
	r := []rune(s)
	if len(r) == 1 {
		return pq.StringArray{s}
	}
	out := pq.StringArray{}
	for i := 0; i+1 < len(r); i++ {
		out = append(out, string(r[i:i+2]))
	}
	return out
}

func normalAddress(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), "")) }

// NewHousehold is createHousehold's input.
type NewHousehold struct {
	Address string
	HeadID  uuid.UUID
}

var errInOtherHousehold = problem.New(problem.Duplicate, "该居民已属于另一户 (the resident already belongs to a household)", "input", "residentId")

// CreateHousehold creates a household in the head's community with the
// head as its first member. The head must not be in another household.
func (s *Service) CreateHousehold(ctx context.Context, in NewHousehold) (*Household, error) {
	v, err := policy.Require(ctx, policy.ManageHouseholds)
	if err != nil {
		return nil, err
	}
	in.Address = strings.TrimSpace(in.Address)
	if n := utf8.RuneCountInString(in.Address); n < 1 || n > 200 {
		return nil, problem.New(problem.Invalid, "地址须为1至200个字符 (the address must be 1 to 200 characters)", "input", "address")
	}
	now := s.now()
	row := householdRow{ID: uuid.Must(uuid.NewV7()), Address: in.Address, AddressTerms: addressTerms(in.Address),
		HeadID: in.HeadID, Statuses: pq.StringArray{}, Version: 1, CreatedAt: now, UpdatedAt: now}
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		head, err := lockMemberResident(ctx, tx, in.HeadID, "headId")
		if err != nil {
			return err
		}
		c, err := findUnit(ctx, tx, head.CommunityID)
		if err != nil {
			return err
		}
		row.CommunityID, row.OrgPath = c.ID, c.Path
		if err := onHousehold(v, policy.ManageHouseholds, row.OrgPath, "headId"); err != nil {
			return err
		}
		if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
			return err
		}
		if err := s.join(ctx, tx, v, &row, head, Head); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.ActionCreateHousehold, audit.EntityHousehold, &row.ID, map[string]any{"head": head.ID})
	})
	if err != nil {
		return nil, householdError(err, "create")
	}
	return row.household(), nil
}

// MemberInput names a resident and their relation to the head.
type MemberInput struct {
	HouseholdID uuid.UUID
	ResidentID  uuid.UUID
	Relation    Relation
}

// AddHouseholdMember adds a resident of the household's community who is
// in no household; HEAD is changeHouseholdHead's.
func (s *Service) AddHouseholdMember(ctx context.Context, in MemberInput) (*Household, error) {
	v, err := policy.Require(ctx, policy.ManageHouseholds)
	if err != nil {
		return nil, err
	}
	if !in.Relation.Valid() || in.Relation == Head {
		return nil, problem.New(problem.Invalid, "与户主关系无效；更换户主请用 changeHouseholdHead (not a member's relation; the head is changed by changeHouseholdHead)", "input", "relation")
	}
	var out *Household
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		h, err := lockHousehold(ctx, tx, v, in.HouseholdID)
		if err != nil {
			return err
		}
		res, err := lockMemberResident(ctx, tx, in.ResidentID, "residentId")
		if err != nil {
			return err
		}
		if res.CommunityID != h.CommunityID {
			return problem.New(problem.Invalid, "成员须与本户同属一个社区 (a member must live in the household's community)", "input", "residentId")
		}
		if err := s.join(ctx, tx, v, h, res, in.Relation); err != nil {
			return err
		}
		if err := touchHousehold(ctx, tx, h, s.now()); err != nil {
			return err
		}
		out = h.household()
		return audit.Record(ctx, tx, audit.ActionAddHouseholdMember, audit.EntityHousehold, &h.ID,
			map[string]any{"resident": res.ID, "relation": string(in.Relation)})
	})
	if err != nil {
		return nil, householdError(err, "add member")
	}
	return out, nil
}

// RemoveHouseholdMember ends a member's membership today. The head cannot
// be removed: change the head first.
func (s *Service) RemoveHouseholdMember(ctx context.Context, householdID, residentID uuid.UUID) (*Household, error) {
	v, err := policy.Require(ctx, policy.ManageHouseholds)
	if err != nil {
		return nil, err
	}
	var out *Household
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		h, err := lockHousehold(ctx, tx, v, householdID)
		if err != nil {
			return err
		}
		if h.HeadID == residentID {
			return problem.New(problem.InvalidTransition, "不能移除户主，请先更换户主 (the head cannot be removed; change the head first)", "input", "residentId")
		}
		today := s.Today()
		res := tx.WithContext(ctx).Model(&memberRow{}).Where("household_id = ? AND resident_id = ? AND left_on IS NULL", h.ID, residentID).
			Updates(map[string]any{"left_on": today, "removed_by": v.ID})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return problem.New(problem.NotFound, "该居民不是本户成员 (the resident is not a member of this household)", "input", "residentId")
		}
		// Leaving a household with statuses changes the member's facts today.
		set := map[string]any{"household_statuses": pq.StringArray{}, "version": gorm.Expr("version + 1"), "updated_at": s.now()}
		if len(h.Statuses) > 0 {
			set["facts_since"] = gorm.Expr("greatest(facts_since, ?::date)", today)
		}
		if err := tx.WithContext(ctx).Table("residents").Where("id = ?", residentID).Updates(set).Error; err != nil {
			return err
		}
		if err := touchHousehold(ctx, tx, h, s.now()); err != nil {
			return err
		}
		out = h.household()
		return audit.Record(ctx, tx, audit.ActionRemoveHouseholdMember, audit.EntityHousehold, &h.ID, map[string]any{"resident": residentID})
	})
	if err != nil {
		return nil, householdError(err, "remove member")
	}
	return out, nil
}

// HeadChange is changeHouseholdHead's input: the new head (a member) and
// the former head's relation to them; Relations optionally restate other
// members' relations to the new head.
type HeadChange struct {
	HouseholdID        uuid.UUID
	HeadID             uuid.UUID
	FormerHeadRelation Relation
	Relations          []MemberInput
}

// ChangeHouseholdHead makes a member the head.
func (s *Service) ChangeHouseholdHead(ctx context.Context, in HeadChange) (*Household, error) {
	v, err := policy.Require(ctx, policy.ManageHouseholds)
	if err != nil {
		return nil, err
	}
	if !in.FormerHeadRelation.Valid() || in.FormerHeadRelation == Head {
		return nil, problem.New(problem.Invalid, "原户主与新户主的关系无效 (not a valid relation for the former head)", "input", "formerHeadRelation")
	}
	for i, r := range in.Relations {
		if !r.Relation.Valid() || r.Relation == Head {
			return nil, problem.New(problem.Invalid, "与户主关系无效 (not a valid relation)", "input", "relations", fmt.Sprint(i), "relation")
		}
	}
	var out *Household
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		h, err := lockHousehold(ctx, tx, v, in.HouseholdID)
		if err != nil {
			return err
		}
		if h.HeadID == in.HeadID {
			return problem.New(problem.InvalidTransition, "该居民已是户主 (the resident is the head already)", "input", "headId")
		}
		db := tx.WithContext(ctx).Model(&memberRow{})
		if err := db.Where("household_id = ? AND resident_id = ? AND left_on IS NULL", h.ID, h.HeadID).
			Update("relation", string(in.FormerHeadRelation)).Error; err != nil {
			return err
		}
		res := tx.WithContext(ctx).Model(&memberRow{}).Where("household_id = ? AND resident_id = ? AND left_on IS NULL", h.ID, in.HeadID).
			Update("relation", string(Head))
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return problem.New(problem.NotFound, "新户主须为本户成员 (the new head must be a member of the household)", "input", "headId")
		}
		for i, r := range in.Relations {
			if r.ResidentID == in.HeadID || r.ResidentID == h.HeadID {
				continue
			}
			res := tx.WithContext(ctx).Model(&memberRow{}).Where("household_id = ? AND resident_id = ? AND left_on IS NULL", h.ID, r.ResidentID).
				Update("relation", string(r.Relation))
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				return problem.New(problem.NotFound, "该居民不是本户成员 (the resident is not a member of this household)", "input", "relations", fmt.Sprint(i), "residentId")
			}
		}
		former := h.HeadID
		h.HeadID = in.HeadID
		if err := tx.WithContext(ctx).Model(&householdRow{}).Where("id = ?", h.ID).Update("head_id", h.HeadID).Error; err != nil {
			return err
		}
		if err := touchHousehold(ctx, tx, h, s.now()); err != nil {
			return err
		}
		out = h.household()
		return audit.Record(ctx, tx, audit.ActionChangeHouseholdHead, audit.EntityHousehold, &h.ID,
			map[string]any{"head": in.HeadID, "formerHead": former})
	})
	if err != nil {
		return nil, householdError(err, "change head")
	}
	return out, nil
}

// join makes res a member of h today; the member takes the household's
// statuses (and their facts change today when it has any).
func (s *Service) join(ctx context.Context, tx *gorm.DB, v *auth.Viewer, h *householdRow, res *memberResident, rel Relation) error {
	if err := onResident(v, policy.ManageHouseholds, res.ID, res.OrgPath); err != nil {
		return err
	}
	today := s.Today()
	m := memberRow{ID: uuid.Must(uuid.NewV7()), HouseholdID: h.ID, ResidentID: res.ID, Relation: string(rel), JoinedOn: today, AddedBy: v.ID}
	if err := tx.WithContext(ctx).Create(&m).Error; err != nil {
		if c, ok := database.IsUniqueViolation(err); ok && c == "household_members_one_household" {
			return errInOtherHousehold
		}
		return err
	}
	set := map[string]any{"household_statuses": h.Statuses, "version": gorm.Expr("version + 1"), "updated_at": s.now()}
	if len(h.Statuses) > 0 {
		set["facts_since"] = gorm.Expr("greatest(facts_since, ?::date)", today)
	}
	return tx.WithContext(ctx).Table("residents").Where("id = ?", res.ID).Updates(set).Error
}

// memberResident is what household changes read of a resident.
type memberResident struct {
	ID          uuid.UUID
	CommunityID uuid.UUID
	OrgPath     string
	DeceasedOn  *civil.Date
	MovedOutOn  *civil.Date
}

func lockMemberResident(ctx context.Context, tx *gorm.DB, id uuid.UUID, field string) (*memberResident, error) {
	var rows []memberResident
	if err := tx.WithContext(ctx).Table("residents").Select("id, community_id, org_path, deceased_on, moved_out_on").
		Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, problem.New(problem.NotFound, "没有这位居民 (no such resident)", "input", field)
	}
	if rows[0].DeceasedOn != nil || rows[0].MovedOutOn != nil {
		return nil, problem.New(problem.InvalidTransition, "该居民已登记死亡或迁出 (the resident is already recorded as deceased or moved out)", "input", field)
	}
	return &rows[0], nil
}

// lockHousehold reads and locks a household the viewer may manage: the
// row lock orders every change of the household and its members.
func lockHousehold(ctx context.Context, tx *gorm.DB, v *auth.Viewer, id uuid.UUID) (*householdRow, error) {
	var rows []householdRow
	if err := tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, problem.New(problem.NotFound, "没有这一户 (no such household)", "input", "householdId")
	}
	if err := onHousehold(v, policy.ManageHouseholds, rows[0].OrgPath, "householdId"); err != nil {
		return nil, err
	}
	return &rows[0], nil
}

func touchHousehold(ctx context.Context, tx *gorm.DB, h *householdRow, now time.Time) error {
	h.Version++
	h.UpdatedAt = now
	return tx.WithContext(ctx).Model(&householdRow{}).Where("id = ?", h.ID).
		Updates(map[string]any{"version": h.Version, "updated_at": now}).Error
}

func onHousehold(v *auth.Viewer, a policy.Action, orgPath string, field string) error {
	ok, err := policy.On(v, a, policy.Subject{OrgPath: orgPath})
	if err != nil {
		return err
	}
	if !ok {
		return policy.OutOfJurisdiction("input", field)
	}
	return nil
}

func householdError(err error, what string) error {
	if c, ok := database.IsUniqueViolation(err); ok && c == "household_members_one_household" {
		return errInOtherHousehold
	}
	return database.Classify(fmt.Errorf("resident: household: %s: %w", what, err))
}

// GetHousehold returns a household the viewer may read; nil when there is
// none, ErrForbidden outside the viewer's reach.
func (s *Service) GetHousehold(ctx context.Context, id uuid.UUID) (*Household, error) {
	row, err := oneInReach(ctx, s.db, policy.ReadHouseholds, id, func(r *householdRow) string { return r.OrgPath },
		"household", "您无权查看该户 (you may not see this household)")
	if row == nil || err != nil {
		return nil, err
	}
	return row.household(), nil
}

// HouseholdOf returns the household the resident is in (for
// Resident.household), or nil; the caller has read the resident.
func (s *Service) HouseholdOf(ctx context.Context, residentID uuid.UUID) (*Household, error) {
	v := auth.ViewerFrom(ctx)
	if !policy.Allowed(v, policy.ReadHouseholds) {
		return nil, nil
	}
	var rows []householdRow
	if err := s.db.WithContext(ctx).Where("id = (SELECT household_id FROM household_members WHERE resident_id = ? AND left_on IS NULL)", residentID).
		Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("resident: household: %w", err))
	}
	if len(rows) == 0 {
		return nil, nil
	}
	if ok, _ := policy.On(v, policy.ReadHouseholds, policy.Subject{OrgPath: rows[0].OrgPath}); !ok {
		return nil, nil
	}
	return rows[0].household(), nil
}

// Members lists a household's current members, the head first.
func (s *Service) Members(ctx context.Context, householdID uuid.UUID) ([]*Member, error) {
	var rows []memberRow
	if err := s.db.WithContext(ctx).Where("household_id = ? AND left_on IS NULL", householdID).
		Order("relation = 'HEAD' DESC, joined_on, id").Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("resident: household members: %w", err))
	}
	out := make([]*Member, len(rows))
	for i, r := range rows {
		out[i] = &Member{HouseholdID: r.HouseholdID, ResidentID: r.ResidentID, Relation: Relation(r.Relation), JoinedOn: r.JoinedOn}
	}
	return out, nil
}

// HouseholdFilter narrows the households list: an address substring, a
// member's name substring, a community.
type HouseholdFilter struct {
	AddressContains string
	MemberName      string
	CommunityID     *uuid.UUID
}

// Households lists the households the viewer may read, newest first, one
// keyset page. The address is found by its character pairs (a GIN index),
// a member by the residents' name index.
func (s *Service) Households(ctx context.Context, f HouseholdFilter, p page.Request) (page.Result[*Household], error) {
	v, err := policy.Require(ctx, policy.ReadHouseholds)
	if err != nil {
		return page.Result[*Household]{}, err
	}
	sc := policy.ScopeOf(v, policy.ReadHouseholds)
	cond, args := sc.Where("households.org_path", "")
	q := s.db.WithContext(ctx).Model(&householdRow{}).Where(cond, args...)
	if a := normalAddress(f.AddressContains); a != "" {
		if utf8.RuneCountInString(a) > 100 {
			return page.Result[*Household]{}, problem.BadInput("地址关键词最多100个字符 (addressContains is at most 100 characters)")
		}
		q = q.Where("address_terms @> ?", queryTerms(a)).
			Where("replace(lower(address), ' ', '') LIKE ?", "%"+policy.LikeEscape(a)+"%")
	}
	if m := matchName(strings.TrimSpace(f.MemberName)); len(m.terms) > 0 {
		e := m.sql()
		q = q.Where("households.id IN (SELECT hm.household_id FROM household_members hm JOIN residents ON residents.id = hm.resident_id WHERE hm.left_on IS NULL AND "+e.SQL+")", e.Vars...)
	}
	if f.CommunityID != nil {
		q = q.Where("community_id = ?", *f.CommunityID)
	}
	if p.Total {
		var n int64
		if err := q.Session(&gorm.Session{}).Count(&n).Error; err != nil {
			return page.Result[*Household]{}, database.Classify(fmt.Errorf("resident: households: %w", err))
		}
		res, err := s.householdPage(q, p)
		res.TotalCount = int(n)
		return res, err
	}
	return s.householdPage(q, p)
}

func (s *Service) householdPage(q *gorm.DB, p page.Request) (page.Result[*Household], error) {
	var rows []householdRow
	if err := page.NewestFirst(q, "households.id", p).Find(&rows).Error; err != nil {
		return page.Result[*Household]{}, database.Classify(fmt.Errorf("resident: households: %w", err))
	}
	out := make([]*Household, len(rows))
	for i := range rows {
		out[i] = rows[i].household()
	}
	return page.Trim(p, out), nil
}
