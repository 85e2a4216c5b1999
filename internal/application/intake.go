package application

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// cleanMaterials trims names and refuses empty or repeated ones.
func cleanMaterials(ms []SubmittedMaterial) ([]SubmittedMaterial, error) {
	out := make([]SubmittedMaterial, 0, len(ms))
	seen := map[string]bool{}
	for _, m := range ms {
		m.Name = strings.TrimSpace(m.Name)
		if m.Name == "" || utf8.RuneCountInString(m.Name) > 64 {
			return nil, problem.New(problem.Invalid, "material names must be 1-64 characters", "materials")
		}
		if m.Reference != nil && len(*m.Reference) > 256 {
			return nil, problem.New(problem.Invalid, "material references are at most 256 characters", "materials")
		}
		if seen[m.Name] {
			return nil, problem.New(problem.Duplicate, "material "+m.Name+" is listed twice", "materials")
		}
		seen[m.Name] = true
		out = append(out, m)
	}
	return out, nil
}

// handling is where an application is decided.
type handling struct {
	id   uuid.UUID
	path string
}

// handlingUnit is the item's department, else the street of the applicant.
func (s *Service) handlingUnit(ctx context.Context, tx *gorm.DB, it *Item, communityID uuid.UUID) (handling, error) {
	if it.DepartmentID != nil {
		u, err := s.org.Unit(ctx, *it.DepartmentID)
		if err != nil {
			return handling{}, fmt.Errorf("application: department: %w", err)
		}
		if u == nil {
			// service_items.department_id references org_units: not reached.
			return handling{}, fmt.Errorf("application: department %s is not an org unit", *it.DepartmentID)
		}
		return handling{u.ID, u.Path}, nil
	}
	street, err := s.org.StreetOf(ctx, tx, communityID)
	if err != nil {
		return handling{}, err
	}
	if street == nil {
		return handling{}, problem.New(problem.Invalid, "the applicant's address lies in no street", "applicantId")
	}
	return handling{street.ID, street.Path}, nil
}

// Submit takes in an application: by a clerk at any center for any resident
// (district-wide items), by the resident themself from the mini-program, or
// by staff inside the handling unit (local items). With an idempotency key,
// a retry of the same input answers with the first application, and the
// key with another input is IDEMPOTENCY_MISMATCH.
func (s *Service) Submit(ctx context.Context, in SubmitInput) (*Application, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	self := policy.IsSelf(v, in.ApplicantID)
	var acting *policy.Acting
	if ok, _ := policy.On(v, policy.SubmitApplication, policy.Subject{ID: in.ApplicantID}); !ok {
		if !policy.MayProxy(v, in.ApplicantID) {
			return nil, problem.Forbidden("你只能为自己提交申请")
		}
		// A family proxy with APPLY submits for the elder, as the elder's
		// own account could (self), and its audit entry names both.
		a, err := policy.ActForAction(ctx, s.proxies, policy.SubmitApplication, in.ApplicantID)
		if err != nil {
			return nil, err
		}
		self, acting = true, &a
	}
	mats, err := cleanMaterials(in.Materials)
	if err != nil {
		return nil, err
	}
	var key *string
	var hash []byte
	if in.IdempotencyKey != nil {
		k := strings.TrimSpace(*in.IdempotencyKey)
		if n := len(k); n < 1 || n > 128 {
			return nil, problem.New(problem.Invalid, "幂等键须为 1 至 128 个字符", "input", "idempotencyKey")
		}
		key, hash = &k, submitHash(in, mats)
		if a, err := s.replaySubmit(ctx, v.ID, k, hash); a != nil || err != nil {
			return a, err
		}
	}
	now := s.now()
	var row applicationRow
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		it, err := itemByCode(ctx, tx, strings.TrimSpace(in.ItemCode))
		if err != nil {
			return err
		}
		var applicant struct{ CommunityID uuid.UUID }
		err = tx.WithContext(ctx).Table("resident_facts").Select("community_id").Where("id = ?", in.ApplicantID).Take(&applicant).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return problem.New(problem.NotFound, "no such resident", "applicantId")
		}
		if err != nil {
			return fmt.Errorf("application: applicant: %w", err)
		}
		h, err := s.handlingUnit(ctx, tx, it, applicant.CommunityID)
		if err != nil {
			return err
		}
		if err := mayTakeIn(v, self, it, h.path); err != nil {
			return err
		}
		if in.CenterID != nil {
			var n int64
			if err := tx.WithContext(ctx).Table("service_centers").Where("id = ?", *in.CenterID).Count(&n).Error; err != nil {
				return fmt.Errorf("application: center: %w", err)
			}
			if n == 0 {
				return problem.New(problem.NotFound, "no such service center", "centerId")
			}
		}
		number, err := nextNumber(ctx, tx, civil.DateOf(now))
		if err != nil {
			return err
		}
		mj, _ := json.Marshal(mats)
		row = applicationRow{ID: uuid.Must(uuid.NewV7()), Number: number, ItemID: it.ID, ApplicantID: in.ApplicantID,
			CenterID: in.CenterID, HandlingUnitID: h.id, HandlingPath: h.path, Status: string(Submitted), Materials: mj,
			SubmittedAt: now, SubmittedBy: v.ID, ReceivedAt: now, IdempotencyKey: key, RequestHash: hash, UpdatedAt: now}
		if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
			if c, ok := database.IsUniqueViolation(err); ok && c == "applications_idempotency_idx" {
				return errConcurrentKey
			}
			return fmt.Errorf("application: insert: %w", err)
		}
		if err := insertEvent(ctx, tx, &row, Submit, "", Submitted, v.Kind, v.ID, v.DisplayName, nil, now); err != nil {
			return err
		}
		detail := map[string]any{"number": number, "item": it.Code}
		if acting != nil {
			detail = acting.Detail(detail)
		}
		return audit.Record(ctx, tx, audit.ActionSubmitApplication, audit.EntityApplication, &row.ID, detail)
	})
	if errors.Is(err, errConcurrentKey) {
		// A concurrent retry with the same key committed first: answer as a retry.
		return s.replaySubmit(ctx, v.ID, *key, hash)
	}
	if err != nil {
		return nil, database.Classify(err)
	}
	return row.application(s.today())
}

var errConcurrentKey = errors.New("application: idempotency key taken concurrently")

// submitHash fingerprints a submission's input (after cleaning), so that
// a retry is told from another request under the same key.
func submitHash(in SubmitInput, mats []SubmittedMaterial) []byte {
	b, _ := json.Marshal(struct {
		Item      string
		Applicant uuid.UUID
		Center    *uuid.UUID
		Materials []SubmittedMaterial
	}{strings.TrimSpace(in.ItemCode), in.ApplicantID, in.CenterID, mats})
	h := sha256.Sum256(b)
	return h[:]
}

// replaySubmit answers a submission whose key the submitter used before:
// the application it made, or IDEMPOTENCY_MISMATCH for another input; nil
// and no error when the key is new.
func (s *Service) replaySubmit(ctx context.Context, submitter uuid.UUID, key string, hash []byte) (*Application, error) {
	var r applicationRow
	err := s.db.WithContext(ctx).Where("submitted_by = ? AND idempotency_key = ?", submitter, key).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, database.Classify(fmt.Errorf("application: replay: %w", err))
	}
	if !bytes.Equal(r.RequestHash, hash) {
		return nil, problem.New(problem.IdempotencyMismatch, "此幂等键已用于另一份不同的申请", "input", "idempotencyKey")
	}
	return r.application(s.today())
}

// insertEvent appends one event to an application's history; its
// visibility follows the action (eventVisibility).
func insertEvent(ctx context.Context, tx *gorm.DB, row *applicationRow, action Action, from, to Status, kind auth.SubjectKind,
	actorID uuid.UUID, actorName string, note *string, at time.Time) error {
	if from == "" {
		from = to
	}
	ev := eventRow{ID: uuid.Must(uuid.NewV7()), ApplicationID: row.ID, Action: string(action), FromStatus: string(from),
		ToStatus: string(to), ActorKind: string(kind), ActorID: actorID, ActorName: actorName, Note: note, At: at,
		Visibility: string(eventVisibility(action))}
	if err := tx.WithContext(ctx).Create(&ev).Error; err != nil {
		return fmt.Errorf("application: event: %w", err)
	}
	return nil
}

// mayTakeIn decides intake: district-wide items by any clerk or by the
// applicant; local items only by clerks and case workers inside the
// handling unit.
func mayTakeIn(v *auth.Viewer, self bool, it *Item, handlingPath string) error {
	local, _ := policy.On(v, policy.HandleApplication, policy.Subject{OrgPath: handlingPath})
	switch {
	case it.DistrictWide && (self || policy.Allowed(v, policy.TakeDistrictWideApplication)):
		return nil
	case local:
		return nil
	case it.DistrictWide:
		return errOutOfJurisdiction
	}
	return problem.New(problem.OutOfJurisdiction, "this item is taken in only at counters of the handling unit", "itemCode")
}

// proxyAction reports whether a family proxy may take action for the
// applicant (with APPLY): what the applicant's own account may.
func proxyAction(a Action) bool { return a == Resubmit || a == Withdraw }

// nextNumber draws the day's next number. The counter row stays locked
// until the transaction ends, so concurrent submissions queue on it and a
// rolled-back one leaves no gap.
func nextNumber(ctx context.Context, tx *gorm.DB, day civil.Date) (string, error) {
	var n int
	err := tx.WithContext(ctx).Raw(`
		INSERT INTO application_counters (day, last) VALUES (?, 1)
		ON CONFLICT (day) DO UPDATE SET last = application_counters.last + 1
		RETURNING last`, day).Scan(&n).Error
	if err != nil {
		return "", fmt.Errorf("application: number: %w", err)
	}
	return fmt.Sprintf("JJ%04d%02d%02d%06d", day.Year, int(day.Month), day.Day, n), nil
}

// Transition takes one workflow step (see transitions and actor.may).
func (s *Service) Transition(ctx context.Context, in TransitionInput) (*Application, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := transitions[in.Action]; !ok {
		return nil, problem.BadInput("unknown action")
	}
	var note *string
	if in.Note != nil {
		if t := strings.TrimSpace(*in.Note); t != "" {
			if utf8.RuneCountInString(t) > 1000 {
				return nil, problem.New(problem.Invalid, "说明最多 1000 字", "input", "note")
			}
			note = &t
		}
	}
	mats, err := cleanMaterials(in.Materials)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out applicationRow
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		var row applicationRow
		err := tx.WithContext(ctx).Raw("SELECT * FROM applications WHERE id = ? FOR UPDATE", in.ID).Scan(&row).Error
		if err != nil {
			return fmt.Errorf("application: lock: %w", err)
		}
		self := row.ID != uuid.Nil && policy.IsSelf(v, row.ApplicantID)
		// A family proxy with APPLY resubmits (补正) and withdraws for the
		// elder, as the elder's own account could; without the scope the
		// application is not found, as for any stranger.
		var acting *policy.Acting
		if proxyAction(in.Action) && row.ID != uuid.Nil && policy.MayProxy(v, row.ApplicantID) {
			a, err := policy.ActForAction(ctx, s.proxies, authority[in.Action].act, row.ApplicantID)
			if err != nil && !errors.Is(err, problem.ErrForbidden) {
				return err
			}
			if err == nil {
				self, acting = true, &a
			}
		}
		if row.ID == uuid.Nil || (!self && !policy.Allowed(v, policy.HandleApplication)) {
			if row.ID != uuid.Nil && v.Kind == auth.SubjectUser {
				return problem.Forbidden("your role may not change applications")
			}
			return problem.New(problem.NotFound, "no such application", "id")
		}
		var ir itemRow
		if err := tx.WithContext(ctx).Where("id = ?", row.ItemID).Take(&ir).Error; err != nil {
			return fmt.Errorf("application: item: %w", err)
		}
		it, err := ir.item()
		if err != nil {
			return err
		}
		act := actor{v: v, applicantID: row.ApplicantID, handlingPath: row.HandlingPath, districtWide: it.DistrictWide}
		if acting == nil {
			if err := act.may(in.Action); err != nil {
				return err
			}
		}
		from := Status(row.Status)
		to, err := next(in.Action, from)
		if err != nil {
			return err
		}
		step := stepInput{action: in.Action, note: note, mats: mats, supplements: in.Supplements, pauseKind: in.PauseKind, now: now}
		upd, err := s.effects(ctx, tx, &row, it, step)
		if err != nil {
			return err
		}
		upd["status"], upd["updated_at"] = string(to), now
		if err := tx.WithContext(ctx).Model(&applicationRow{}).Where("id = ?", row.ID).Updates(upd).Error; err != nil {
			return fmt.Errorf("application: update: %w", err)
		}
		if err := insertEvent(ctx, tx, &row, in.Action, from, to, v.Kind, v.ID, v.DisplayName, note, now); err != nil {
			return err
		}
		detail := map[string]any{"action": string(in.Action), "number": row.Number, "from": string(from), "to": string(to)}
		if acting != nil {
			detail = acting.Detail(detail)
		}
		if err := audit.Record(ctx, tx, audit.ActionTransitionApplication, audit.EntityApplication, &row.ID, detail); err != nil {
			return err
		}
		if err := notifyApplicant(ctx, tx, &row, it, to, note, now); err != nil {
			return err
		}
		return tx.WithContext(ctx).Where("id = ?", row.ID).Take(&out).Error
	})
	if err != nil {
		return nil, database.Classify(err)
	}
	return out.application(s.today())
}

// stepInput is one transition's input after cleaning.
type stepInput struct {
	action      Action
	note        *string
	mats        []SubmittedMaterial
	supplements []Supplement
	pauseKind   *PauseKind
	now         time.Time
}

// effects checks an action's own preconditions and returns the columns it
// changes besides the status.
func (s *Service) effects(ctx context.Context, tx *gorm.DB, row *applicationRow, it *Item, st stepInput) (map[string]any, error) {
	upd := map[string]any{}
	today := civil.DateOf(st.now)
	switch st.action {
	case Reject, Deny:
		if st.note == nil {
			return nil, problem.New(problem.Invalid, "请在说明中写明理由", "input", "note")
		}
	}
	switch st.action {
	case Accept:
		var have []SubmittedMaterial
		if err := json.Unmarshal(row.Materials, &have); err != nil {
			return nil, fmt.Errorf("application: materials: %w", err)
		}
		cal, err := s.calendar(ctx)
		if err != nil {
			return nil, err
		}
		accepted, byLaw := st.now, false
		if received := civil.DateOf(row.ReceivedAt); today.After(cal.noticeDue(received)) {
			// Accepted by law already (§32), whatever the materials: from the day of receipt.
			accepted, byLaw = row.ReceivedAt, true
		} else if missing := missingMaterials(it.Materials, have); len(missing) > 0 {
			return nil, problem.New(problem.NotEligible, "缺少必需的材料："+strings.Join(missing, "、"), "input", "materials")
		}
		upd["accepted_at"], upd["accepted_by_law"] = accepted, byLaw
		cal.deadlines(deadlineInput{accepted: civil.DateOf(accepted), statute: it.TimeLimitWorkingDays, promised: it.PromisedLimitWorkingDays}).apply(upd)
	case RequestSupplement, Reject:
		if row.SupplementNotice != nil && st.action == RequestSupplement {
			return nil, problem.New(problem.InvalidTransition, "补正告知只能一次性提出，已经告知过", "input", "action")
		}
		cal, err := s.calendar(ctx)
		if err != nil {
			return nil, err
		}
		if due := cal.noticeDue(civil.DateOf(row.ReceivedAt)); today.After(due) {
			return nil, problem.New(problem.InvalidTransition, fmt.Sprintf(
				"收到材料后五个工作日内（至 %s）未告知补正，依《行政许可法》第三十二条已视为受理", due), "input", "action")
		}
		if st.action == RequestSupplement {
			list, err := cleanSupplements(st.supplements)
			if err != nil {
				return nil, err
			}
			b, _ := json.Marshal(list)
			upd["supplement_notice"] = b
		}
	case Resubmit:
		var notice []Supplement
		if err := json.Unmarshal(row.SupplementNotice, &notice); err != nil {
			return nil, fmt.Errorf("application: supplement notice: %w", err)
		}
		if err := coversNotice(notice, st.mats); err != nil {
			return nil, err
		}
		var have []SubmittedMaterial
		if err := json.Unmarshal(row.Materials, &have); err != nil {
			return nil, fmt.Errorf("application: materials: %w", err)
		}
		mj, _ := json.Marshal(mergeMaterials(have, st.mats))
		upd["materials"], upd["received_at"] = mj, st.now
	case Approve:
		if it.VoucherProgramID != nil {
			created, err := s.enroller.EnrollNewTx(ctx, tx, *it.VoucherProgramID, row.ApplicantID)
			if err != nil {
				return nil, fmt.Errorf("application: enroll on approval: %w", err)
			}
			if created {
				upd["enrolled_program_id"] = *it.VoucherProgramID
			}
		}
	case Withdraw:
		if row.EnrolledProgramID != nil {
			// The approval enrolled the applicant: the withdrawal takes it back.
			if err := s.enroller.UnenrollTx(ctx, tx, *row.EnrolledProgramID, row.ApplicantID); err != nil {
				return nil, fmt.Errorf("application: unenroll on withdrawal: %w", err)
			}
			upd["enrolled_program_id"] = nil
		}
		if row.PausedSince != nil {
			if err := endPause(ctx, tx, row.ID, today); err != nil {
				return nil, err
			}
			upd["paused_since"] = nil
		}
	case Complete:
		upd["completed_at"], upd["completed_on"] = st.now, today
	case Extend:
		if it.ExtensionWorkingDays == 0 {
			return nil, problem.New(problem.InvalidTransition, "此事项不能延长办理期限", "input", "action")
		}
		if row.Extended {
			return nil, problem.New(problem.InvalidTransition, "办理期限已经延长过一次", "input", "action")
		}
		if st.note == nil {
			return nil, problem.New(problem.Invalid, "延长期限须在说明中写明理由，理由将告知申请人", "input", "note")
		}
		if err := s.recompute(ctx, tx, row, it, true, upd); err != nil {
			return nil, err
		}
		upd["extended"], upd["extension_reason"] = true, *st.note
	case PauseClock:
		if row.PausedSince != nil {
			return nil, problem.New(problem.InvalidTransition, "办理时限已经中止，请先恢复计时", "input", "action")
		}
		if st.pauseKind == nil || !st.pauseKind.valid() {
			return nil, problem.New(problem.Invalid, "请选择中止计时的事由（专家评审、检验检测、听证等）", "input", "pauseKind")
		}
		if st.note == nil {
			return nil, problem.New(problem.Invalid, "请在说明中写明中止计时的原因", "input", "note")
		}
		p := pauseRow{ID: uuid.Must(uuid.NewV7()), ApplicationID: row.ID, Kind: string(*st.pauseKind), Reason: *st.note, StartedOn: today, CreatedAt: st.now}
		if err := tx.WithContext(ctx).Create(&p).Error; err != nil {
			return nil, fmt.Errorf("application: pause: %w", err)
		}
		upd["paused_since"] = today
	case ResumeClock:
		if row.PausedSince == nil {
			return nil, problem.New(problem.InvalidTransition, "办理时限没有中止", "input", "action")
		}
		if err := endPause(ctx, tx, row.ID, today); err != nil {
			return nil, err
		}
		if err := s.recompute(ctx, tx, row, it, row.Extended, upd); err != nil {
			return nil, err
		}
		upd["paused_since"] = nil
	}
	if st.action == Deny {
		// A denial concludes the case (办结) as completion does.
		upd["completed_at"], upd["completed_on"] = st.now, today
	}
	return upd, nil
}

// endPause ends the pause under way on day (inclusive: it does not count).
func endPause(ctx context.Context, tx *gorm.DB, appID uuid.UUID, day civil.Date) error {
	err := tx.WithContext(ctx).Model(&pauseRow{}).Where("application_id = ? AND ended_on IS NULL", appID).Update("ended_on", day).Error
	if err != nil {
		return fmt.Errorf("application: end pause: %w", err)
	}
	return nil
}

// recompute puts an accepted application's deadlines, from its inputs as
// they now stand, into upd.
func (s *Service) recompute(ctx context.Context, tx *gorm.DB, row *applicationRow, it *Item, extended bool, upd map[string]any) error {
	if row.AcceptedAt == nil {
		return nil
	}
	cal, err := s.calendar(ctx)
	if err != nil {
		return err
	}
	in, err := deadlineInputOf(ctx, tx, row, it, civil.DateOf(*row.AcceptedAt), extended)
	if err != nil {
		return err
	}
	cal.deadlines(in).apply(upd)
	return nil
}

// cleanSupplements checks a 补正 notice: one complete list, each line a
// material and the reason, no material twice.
func cleanSupplements(in []Supplement) ([]Supplement, error) {
	if len(in) == 0 {
		return nil, problem.New(problem.Invalid, "补正告知须一次性列明需要补正的全部材料及理由", "input", "supplements")
	}
	if len(in) > 50 {
		return nil, problem.New(problem.Invalid, "补正告知最多 50 项", "input", "supplements")
	}
	out := make([]Supplement, 0, len(in))
	seen := map[string]bool{}
	for _, x := range in {
		x.Material, x.Reason = strings.TrimSpace(x.Material), strings.TrimSpace(x.Reason)
		switch {
		case x.Material == "" || utf8.RuneCountInString(x.Material) > 64:
			return nil, problem.New(problem.Invalid, "材料名称须为 1 至 64 个字", "input", "supplements")
		case x.Reason == "" || utf8.RuneCountInString(x.Reason) > 200:
			return nil, problem.New(problem.Invalid, "每项补正须写明理由（1 至 200 字）", "input", "supplements")
		case seen[x.Material]:
			return nil, problem.New(problem.Duplicate, "材料“"+x.Material+"”列了两次", "input", "supplements")
		}
		seen[x.Material] = true
		out = append(out, x)
	}
	return out, nil
}

// coversNotice checks a resubmission against the 补正 notice: every listed
// material, and nothing the notice did not ask for.
func coversNotice(notice []Supplement, mats []SubmittedMaterial) error {
	if len(mats) == 0 {
		return problem.New(problem.Invalid, "请提交补正告知所列的材料", "input", "materials")
	}
	listed, got := map[string]bool{}, map[string]bool{}
	for _, n := range notice {
		listed[n.Material] = true
	}
	var extra []string
	for _, m := range mats {
		got[m.Name] = true
		if !listed[m.Name] {
			extra = append(extra, m.Name)
		}
	}
	var missing []string
	for _, n := range notice {
		if !got[n.Material] {
			missing = append(missing, n.Material)
		}
	}
	if len(missing) > 0 {
		return problem.New(problem.Invalid, "补正告知所列材料尚未提交："+strings.Join(missing, "、"), "input", "materials")
	}
	if len(extra) > 0 {
		return problem.New(problem.Invalid, "以下材料不在补正告知之列："+strings.Join(extra, "、"), "input", "materials")
	}
	return nil
}

// missingMaterials lists the required materials not in have.
func missingMaterials(req []Material, have []SubmittedMaterial) []string {
	got := map[string]bool{}
	for _, h := range have {
		got[h.Name] = true
	}
	var missing []string
	for _, r := range req {
		if r.Required && !got[r.Name] {
			missing = append(missing, r.Name)
		}
	}
	return missing
}

// mergeMaterials replaces materials of the same name and appends new ones.
func mergeMaterials(have, add []SubmittedMaterial) []SubmittedMaterial {
	out := append([]SubmittedMaterial{}, have...)
	for _, a := range add {
		replaced := false
		for i := range out {
			if out[i].Name == a.Name {
				out[i], replaced = a, true
			}
		}
		if !replaced {
			out = append(out, a)
		}
	}
	return out
}
