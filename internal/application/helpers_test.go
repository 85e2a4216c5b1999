package application_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// at is a Shanghai wall-clock instant.
func at(y int, m time.Month, d, h int) time.Time {
	return time.Date(y, m, d, h, 0, 0, 0, civil.Shanghai)
}

// world is a test instance with a fixed clock and tokens for every actor.
type world struct {
	e                                      *testenv.Env
	admin, clerk, clerkB, cw, cw2, auditor string
	operator                               string
}

// newWorld starts an instance with its clock at now and signs everyone in.
// clerkB is a CLERK at 牛市口街道 (street B); clerk, caseworker are in 春熙路街道 (street A).
func newWorld(t *testing.T, now time.Time) *world {
	t.Helper()
	// Tokens outlive the clock moves of a test (days to weeks forward), so
	// each test signs in once; only a move backwards needs new tokens.
	// Its own database: the tests set the holiday calendar, count the
	// district's applications and take application numbers from day one.
	e := testenv.New(t, testenv.OwnDatabase(t), testenv.WithConfig(func(c *config.Config) { c.AccessTokenTTL = 365 * 24 * time.Hour }))
	e.Clock.Set(now)
	ensureClerkB(t, e)
	w := &world{e: e}
	w.signIn(t)
	return w
}

// signIn (re)issues tokens: after moving the clock, old ones may have expired.
func (w *world) signIn(t *testing.T) {
	t.Helper()
	e := w.e
	w.admin, w.clerk, w.cw, w.cw2 = e.Admin(t), e.As(t, "clerk"), e.As(t, "caseworker"), e.As(t, "caseworker2")
	w.auditor, w.operator = e.As(t, "auditor"), e.As(t, "operator")
	w.clerkB = e.Login(t, "clerkb", "clerk-b-password")
}

// setClock moves the clock, signing everyone in again when it goes back.
func (w *world) setClock(t *testing.T, now time.Time) {
	t.Helper()
	back := now.Before(w.e.Clock.Now())
	w.e.Clock.Set(now)
	if back {
		w.signIn(t)
	}
}

func ensureClerkB(t *testing.T, e *testenv.Env) {
	t.Helper()
	var n int64
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM users WHERE username = ?", testenv.Args("clerkb"), &n)
	if n > 0 {
		return
	}
	unit := unitID(t, e, "510104023")
	err := e.DB.Transaction(func(tx *gorm.DB) error {
		_, err := e.App.Auth.CreateUserTx(context.Background(), tx, auth.NewUser{Username: "clerkb", Password: "clerk-b-password",
			DisplayName: "刘柜员 (牛市口便民服务中心)", Roles: []auth.Role{auth.Clerk}, OrgUnitID: &unit})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// caseWorkerAt creates (once) and signs in a CASE_WORKER of the unit with code.
func caseWorkerAt(t *testing.T, e *testenv.Env, code string) string {
	t.Helper()
	name := "cw" + code
	var n int64
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM users WHERE username = ?", testenv.Args(name), &n)
	if n == 0 {
		unit := unitID(t, e, code)
		err := e.DB.Transaction(func(tx *gorm.DB) error {
			_, err := e.App.Auth.CreateUserTx(context.Background(), tx, auth.NewUser{Username: name, Password: "cw-password-" + code,
				DisplayName: "社工 " + code, Roles: []auth.Role{auth.CaseWorker}, OrgUnitID: &unit})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return e.Login(t, name, "cw-password-"+code)
}

func unitID(t *testing.T, e *testenv.Env, code string) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	if err := e.DB.Raw("SELECT id FROM org_units WHERE code = ?", code).Row().Scan(&id); err != nil || id == uuid.Nil {
		t.Fatalf("org unit %s: %v", code, err)
	}
	return id
}

func centerGID(t *testing.T, e *testenv.Env, name string) string {
	t.Helper()
	var id uuid.UUID
	if err := e.DB.Raw("SELECT id FROM service_centers WHERE name = ?", name).Row().Scan(&id); err != nil || id == uuid.Nil {
		t.Fatalf("center %s: %v", name, err)
	}
	return relay.ID("ServiceCenter", id)
}

func residentGID(id uuid.UUID) string { return relay.ID("Resident", id) }

// residentToken signs a resident in as the mini-program does after bindResident.
func residentToken(t *testing.T, e *testenv.Env, residentID uuid.UUID) string {
	t.Helper()
	acc := uuid.Must(uuid.NewV7())
	if err := e.DB.Exec("INSERT INTO wechat_accounts (id, openid, resident_id, bound_at) VALUES (?, ?, ?, now())",
		acc, "openid-"+acc.String(), residentID).Error; err != nil {
		t.Fatal(err)
	}
	g, err := e.App.Auth.StartSession(context.Background(), e.DB, auth.WechatViewer(acc, &residentID))
	if err != nil {
		t.Fatal(err)
	}
	return g.AccessToken
}

// allMaterials are the required materials of the seeded 养老服务券申领.
var allMaterials = []map[string]any{{"name": "居民身份证", "reference": "sha256:01"}, {"name": "户口簿", "reference": "sha256:02"}}

const appFields = `id number status deadline overdue extended acceptedAt completedAt submittedAt
  handlingUnit { code } center { name } item { code }
  materials { name reference }
  events { action fromStatus toStatus note actorName at }`

const submitDoc = `mutation($in: SubmitApplicationInput!) { submitApplication(input: $in) {
  application { ` + appFields + ` } userErrors { code field message } } }`

const transitionDoc = `mutation($in: TransitionApplicationInput!) { transitionApplication(input: $in) {
  application { ` + appFields + ` } userErrors { code field message } } }`

// submit takes an application in and fails the test unless it succeeds.
func (w *world) submit(t *testing.T, tok, item string, applicant uuid.UUID, center string, mats []map[string]any) *testenv.Response {
	t.Helper()
	in := map[string]any{"itemCode": item, "applicantId": residentGID(applicant), "materials": mats}
	if center != "" {
		in["centerId"] = centerGID(t, w.e, center)
	}
	r := w.e.MustDo(t, tok, submitDoc, map[string]any{"in": in})
	if c := r.Str("submitApplication.userErrors.0.code"); c != "" {
		t.Fatalf("submit: %s", r.Raw)
	}
	return r
}

// move runs a transition and returns the response (errors are not fatal).
func (w *world) move(t *testing.T, tok, appID, action, note string, mats []map[string]any) *testenv.Response {
	t.Helper()
	in := map[string]any{"id": appID, "action": action}
	if note != "" {
		in["note"] = note
	}
	if mats != nil {
		in["materials"] = mats
	}
	if action == "REQUEST_SUPPLEMENT" {
		// The notice is one structured list; these tests ask for the 户口簿.
		in["supplements"] = []map[string]any{{"material": "户口簿", "reason": "未提交户口簿"}}
	}
	return w.e.Do(t, tok, transitionDoc, map[string]any{"in": in})
}

// mustMove runs a transition that must succeed and returns the new status.
func (w *world) mustMove(t *testing.T, tok, appID, action, note string) *testenv.Response {
	t.Helper()
	r := w.move(t, tok, appID, action, note, nil)
	if len(r.Errors) > 0 || r.Str("transitionApplication.userErrors.0.code") != "" {
		t.Fatalf("%s: %s", action, r.Raw)
	}
	return r
}

// status reads an application's status straight from the database.
func status(t *testing.T, e *testenv.Env, gid string) string {
	t.Helper()
	_, id, err := relay.Parse(gid)
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := e.DB.Raw("SELECT status FROM applications WHERE id = ?", id).Scan(&s).Error; err != nil {
		t.Fatal(err)
	}
	return s
}

func eventCount(t *testing.T, e *testenv.Env, gid string) int {
	t.Helper()
	_, id, _ := relay.Parse(gid)
	var n int64
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM application_events WHERE application_id = ?", testenv.Args(id), &n)
	return int(n)
}

func mustEqual[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

var _ = fmt.Sprintf

// localItem creates (once per database) T-LOCAL, an item decided by the
// applicant's street and taken in only there (the seeded 居住证办理 is
// decided by the public-security department instead).
func (w *world) localItem(t *testing.T) {
	t.Helper()
	r := w.e.MustDo(t, w.admin, `mutation($in: ServiceItemInput!) { upsertServiceItem(input: $in) { userErrors { code } } }`,
		map[string]any{"in": map[string]any{"code": "T-LOCAL", "name": "街道办理事项（测试）", "timeLimitWorkingDays": 10, "districtWide": false,
			"materials": []map[string]any{{"name": "居民身份证", "required": true}, {"name": "近期一寸免冠照片", "required": true},
				{"name": "居住证明（租赁合同或房产证）", "required": true}}}})
	if r.Str("upsertServiceItem.userErrors.0.code") != "" {
		t.Fatalf("local item: %s", r.Raw)
	}
}
