package disability

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/pii"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// Purpose and AAD under which certificate numbers are encrypted and indexed.
const numberPurpose = "disability.certificate_number"

// residentIDPurpose is the resident domain's purpose for ID numbers.
const residentIDPurpose = "resident.id_number"

// Service holds the domain's rules and authorization decisions.
type Service struct {
	db   *gorm.DB
	keys *pii.Keyring
	now  func() time.Time
}

// NewService returns the disability service. now is the app clock.
func NewService(db *gorm.DB, keys *pii.Keyring, now func() time.Time) *Service {
	return &Service{db: db, keys: keys, now: now}
}

// today is the business date in Asia/Shanghai.
func (s *Service) today() civil.Date { return civil.DateOf(s.now()) }

// canRead says whether v may read a resident's disability data
// (policy.ReadDisability). Providers see only the service records assigned
// to them (canReadService).
func canRead(v *auth.Viewer, residentID uuid.UUID, residentPath string) bool {
	ok, _ := policy.On(v, policy.ReadDisability, policy.Subject{ID: residentID, OrgPath: residentPath})
	return ok
}

// canSeeFullNumber says whether v may read a certificate number in full:
// whoever may read the resident's full ID number.
func canSeeFullNumber(v *auth.Viewer, residentID uuid.UUID, residentPath string) bool {
	ok, _ := policy.On(v, policy.ReadFullIDNumber, policy.Subject{ID: residentID, OrgPath: residentPath})
	return ok
}

// requireRead returns the viewer when it may read the resident's data.
func requireRead(ctx context.Context, residentID uuid.UUID, residentPath string) (*auth.Viewer, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	if !canRead(v, residentID, residentPath) {
		return nil, problem.Forbidden("you may not read this resident's disability records")
	}
	return v, nil
}
