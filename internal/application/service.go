package application

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/org"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/run"
)

// calendarTTL bounds how long an instance keeps the calendar it loaded; an
// instance that changed it drops its copy at once, others see the change
// within the TTL.
const calendarTTL = time.Minute

// Service holds the rules of the catalog, intake, workflow and deadlines.
type Service struct {
	// proxies answers policy.ActFor for family proxies (internal/proxy):
	// a proxy with APPLY submits for the resident.
	proxies policy.ProxyLinks

	db       *gorm.DB
	org      *org.Service
	now      func() time.Time
	enroller Enroller

	mu       sync.Mutex
	cal      calendarView
	calUntil time.Time
	runs     *run.Worker
	runChunk int

	// The written notices: the font file (read once) and who names the applicant.
	noticeFont string
	fontOnce   sync.Once
	fontBytes  []byte
	fontErr    error
	namer      func(ctx context.Context, id uuid.UUID) string
}

// SetProxies installs the family proxy links. Called while wiring.
func (s *Service) SetProxies(p policy.ProxyLinks) { s.proxies = p }

// NewService returns the service. now is the business clock; enroller
// enrolls approved applicants in linked voucher programs (NoEnroller until
// the voucher domain is wired).
func NewService(db *gorm.DB, orgs *org.Service, now func() time.Time, enroller Enroller) *Service {
	if enroller == nil {
		enroller = NoEnroller{}
	}
	return &Service{db: db, org: orgs, now: now, enroller: enroller, noticeFont: config.DefaultNoticeFont}
}

// today is the business date now, in Asia/Shanghai.
func (s *Service) today() civil.Date { return civil.DateOf(s.now()) }

// SetEnroller replaces the enroller (wiring at start-up, and tests).
func (s *Service) SetEnroller(e Enroller) {
	if e == nil {
		e = NoEnroller{}
	}
	s.enroller = e
}
