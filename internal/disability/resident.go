package disability

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/resident"
)

// residentRow mirrors the masked columns of residents.
type residentRow struct {
	ID             uuid.UUID
	Name           string
	IDNumberMasked string
	Gender         string
	BirthDate      civil.Date
	PhoneMasked    *string
	Address        *string
	CommunityID    uuid.UUID
	GridID         *uuid.UUID
	OrgPath        string
	Statuses       pq.StringArray `gorm:"type:text[]"`
	CareLevel      string
	Version        int
	CreatedAt      time.Time
}

func (residentRow) TableName() string { return "residents" }

// ResidentsByIDs loads residents (masked values only) for
// DisabilityService.resident. The caller already holds a service record
// the viewer may read.
//
// Stand-in until the branches merge: the lead switches
// DisabilityService.resident to the resident domain's loader and deletes
// this function.
func (s *Service) ResidentsByIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*resident.Resident, error) {
	var rows []residentRow
	if err := s.db.WithContext(ctx).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, database.Classify(err)
	}
	out := make(map[uuid.UUID]*resident.Resident, len(rows))
	for _, r := range rows {
		st := make([]resident.Status, len(r.Statuses))
		for i, x := range r.Statuses {
			st[i] = resident.Status(x)
		}
		out[r.ID] = &resident.Resident{ID: r.ID, Name: r.Name, IDNumberMasked: r.IDNumberMasked, Gender: resident.Gender(r.Gender),
			BirthDate: r.BirthDate, PhoneMasked: r.PhoneMasked, Address: r.Address, CommunityID: r.CommunityID, GridID: r.GridID,
			OrgPath: r.OrgPath, Statuses: st, CareLevel: resident.CareLevel(r.CareLevel), Version: r.Version, CreatedAt: r.CreatedAt}
	}
	return out, nil
}
