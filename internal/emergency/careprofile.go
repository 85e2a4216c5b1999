package emergency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// careProfileAAD binds care-profile ciphertexts to their column.
const careProfileAAD = "care_profile.data"

// CareProfile is what responders need to know about a resident. The whole
// profile is encrypted at rest with the PII keyring.
type CareProfile struct {
	ResidentID   uuid.UUID `json:"-"`
	MedicalNotes *string   `json:"medicalNotes,omitempty"`
	Allergies    *string   `json:"allergies,omitempty"`
	Medication   *string   `json:"medication,omitempty"`
	Mobility     *string   `json:"mobility,omitempty"`
	Keyholder    *string   `json:"keyholder,omitempty"`
	FamilyDoctor *string   `json:"familyDoctor,omitempty"`
	ResponsePlan *string   `json:"responsePlan,omitempty"`
	Version      int       `json:"-"`
	UpdatedAt    time.Time `json:"-"`
}

type careProfileRow struct {
	ResidentID uuid.UUID `gorm:"primaryKey"`
	DataEnc    string
	Version    int
	UpdatedAt  time.Time
	UpdatedBy  uuid.UUID
}

func (careProfileRow) TableName() string { return "care_profiles" }

// residentPath is a living or dead resident's org path, or "" and false.
func residentPath(ctx context.Context, db *gorm.DB, id uuid.UUID) (string, bool, error) {
	var paths []string
	if err := db.WithContext(ctx).Table("resident_facts").Where("id = ?", id).Limit(1).Pluck("org_path", &paths).Error; err != nil {
		return "", false, fmt.Errorf("emergency: resident: %w", database.Classify(err))
	}
	if len(paths) == 0 {
		return "", false, nil
	}
	return paths[0], true, nil
}

// hasOpenCall reports whether a call of the resident is open.
func hasOpenCall(ctx context.Context, db *gorm.DB, residentID uuid.UUID) (bool, error) {
	var n int64
	if err := db.WithContext(ctx).Model(&callRow{}).Where("resident_id = ? AND status <> ?", residentID, Closed).Limit(1).Count(&n).Error; err != nil {
		return false, fmt.Errorf("emergency: open call: %w", database.Classify(err))
	}
	return n > 0, nil
}

// CareProfile returns a resident's care profile for the viewer: the
// resident's case worker, or an operator while a call of the resident is
// open (policy.MayReadCareProfile). Every read of a profile is audited
// (careProfile, entity Resident). nil without error when the resident has
// none; FORBIDDEN for anyone else.
func (s *Service) CareProfile(ctx context.Context, residentID uuid.UUID) (*CareProfile, error) {
	v := auth.ViewerFrom(ctx)
	if v == nil {
		return nil, problem.ErrUnauthenticated
	}
	path, ok, err := residentPath(ctx, s.db, residentID)
	if err != nil || !ok {
		return nil, err
	}
	may, err := policy.MayReadCareProfile(v, policy.Subject{ID: residentID, OrgPath: path}, func() (bool, error) {
		return hasOpenCall(ctx, s.db, residentID)
	})
	if err != nil {
		return nil, err
	}
	if !may {
		return nil, problem.Forbidden("care profiles are for the resident's case worker, or an operator during an open call")
	}
	var rows []careProfileRow
	if err := s.db.WithContext(ctx).Where("resident_id = ?", residentID).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("emergency: care profile: %w", database.Classify(err))
	}
	if len(rows) == 0 {
		return nil, nil
	}
	p, err := s.openProfile(rows[0])
	if err != nil {
		return nil, err
	}
	if err := audit.Record(ctx, s.db.WithContext(ctx), audit.ActionCareProfile, audit.EntityResident, &residentID,
		map[string]any{"version": p.Version}); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Service) openProfile(r careProfileRow) (*CareProfile, error) {
	plain, err := s.keys.Decrypt(r.DataEnc, careProfileAAD)
	if err != nil {
		return nil, fmt.Errorf("emergency: decrypt care profile: %w", err)
	}
	var p CareProfile
	if err := json.Unmarshal([]byte(plain), &p); err != nil {
		return nil, fmt.Errorf("emergency: care profile: %w", err)
	}
	p.ResidentID, p.Version, p.UpdatedAt = r.ResidentID, r.Version, r.UpdatedAt
	return &p, nil
}

// careFieldMax is the longest any one care-profile field may be.
const careFieldMax = 2000

// SetCareProfile writes a resident's whole care profile (the case worker,
// or an administrator). version is the profile's version as the writer
// read it (0 for a new one): a stale write is CONFLICT.
func (s *Service) SetCareProfile(ctx context.Context, residentID uuid.UUID, in CareProfile, version int) (*CareProfile, error) {
	v, err := policy.Require(ctx, policy.EditCareProfile)
	if err != nil {
		return nil, err
	}
	fields := map[string]**string{"medicalNotes": &in.MedicalNotes, "allergies": &in.Allergies, "medication": &in.Medication,
		"mobility": &in.Mobility, "keyholder": &in.Keyholder, "familyDoctor": &in.FamilyDoctor, "responsePlan": &in.ResponsePlan}
	for name, f := range fields {
		if *f == nil {
			continue
		}
		t := strings.TrimSpace(**f)
		if utf8.RuneCountInString(t) > careFieldMax {
			return nil, problem.New(problem.Invalid, fmt.Sprintf("%s 不能超过 %d 字 (at most %d characters)", name, careFieldMax, careFieldMax), "input", name)
		}
		if t == "" {
			*f = nil
		} else {
			*f = &t
		}
	}
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("emergency: care profile: %w", err)
	}
	enc, err := s.keys.Encrypt(string(b), careProfileAAD)
	if err != nil {
		return nil, fmt.Errorf("emergency: encrypt care profile: %w", err)
	}
	var out *CareProfile
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		path, ok, err := residentPath(ctx, tx, residentID)
		if err != nil {
			return err
		}
		if !ok {
			return problem.New(problem.NotFound, "未找到该居民 (resident not found)", "input", "residentId")
		}
		if ok, _ := policy.On(v, policy.EditCareProfile, policy.Subject{ID: residentID, OrgPath: path}); !ok {
			return policy.OutOfJurisdiction("input", "residentId")
		}
		var rows []careProfileRow
		if err := tx.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("resident_id = ?", residentID).Limit(1).Find(&rows).Error; err != nil {
			return fmt.Errorf("emergency: care profile: %w", database.Classify(err))
		}
		current := 0
		if len(rows) == 1 {
			current = rows[0].Version
		}
		if version != current {
			return problem.New(problem.Conflict, "照护档案已被他人修改，请刷新后再改 (the profile changed; reload it)", "input", "version")
		}
		row := careProfileRow{ResidentID: residentID, DataEnc: enc, Version: current + 1, UpdatedAt: s.now(), UpdatedBy: v.ID}
		if err := tx.WithContext(ctx).Save(&row).Error; err != nil {
			return fmt.Errorf("emergency: save care profile: %w", database.Classify(err))
		}
		if out, err = s.openProfile(row); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.ActionSetCareProfile, audit.EntityResident, &residentID, map[string]any{"version": row.Version})
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		err = problem.New(problem.NotFound, "未找到该居民 (resident not found)", "input", "residentId")
	}
	return out, err
}
