package disability

import (
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/jinjiang/residents/internal/civil"
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
