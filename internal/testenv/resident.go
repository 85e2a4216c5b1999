package testenv

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/idnumber"
	"github.com/jinjiang/residents/internal/pii"
	"github.com/jinjiang/residents/internal/resident"
)

// ResidentSpec describes a resident to insert directly (bypassing the API)
// so that other domains' tests can set up residents cheaply. Zero fields
// get sensible defaults.
type ResidentSpec struct {
	Name string
	// IDNumber defaults to a generated valid number for BirthDate.
	IDNumber string
	// BirthDate defaults to a day in 1940-1945 (80 to 86 years old in 2026).
	BirthDate time.Time
	Phone     string
	// CommunityCode defaults to 510104020001 (和平街社区, 春熙路街道).
	CommunityCode string
	Statuses      []string
	CareLevel     string

	retries int
}

// Resident is what InsertResident created.
type Resident struct {
	ID       uuid.UUID
	IDNumber string
	Phone    string
}

// InsertResident writes a resident row with properly encrypted, indexed
// and masked ID and phone numbers.
func (e *Env) InsertResident(t testing.TB, s ResidentSpec) Resident {
	t.Helper()
	ctx := context.Background()
	if s.Name == "" {
		s.Name = "测试居民"
	}
	if s.BirthDate.IsZero() {
		// Spread over 1940-1945 so generated ID numbers do not collide.
		s.BirthDate = time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rand.IntN(6*365))
	}
	gender := idnumber.Male
	if rand.IntN(2) == 0 {
		gender = idnumber.Female
	}
	generated := s.IDNumber == ""
	if generated {
		s.IDNumber = idnumber.Generate("510104", s.BirthDate, rand.IntN(1000), gender)
	}
	n, err := idnumber.Parse(s.IDNumber, time.Now())
	if err != nil {
		t.Fatalf("InsertResident: bad ID number: %v", err)
	}
	if s.CommunityCode == "" {
		s.CommunityCode = "510104020001"
	}
	if s.Statuses == nil {
		s.Statuses = []string{}
	}
	if s.CareLevel == "" {
		s.CareLevel = "INTACT"
	}
	k := e.App.Keyring
	idEnc, err := k.Encrypt(n.String(), resident.PurposeIDNumber)
	if err != nil {
		t.Fatal(err)
	}
	var phoneEnc, phoneMasked *string
	var phoneIdx []byte
	if s.Phone != "" {
		enc, err := k.Encrypt(s.Phone, resident.PurposePhone)
		if err != nil {
			t.Fatal(err)
		}
		m := pii.MaskPhone(s.Phone)
		phoneEnc, phoneMasked, phoneIdx = &enc, &m, k.BlindIndex(resident.PurposePhone, s.Phone)
	}
	var commID uuid.UUID
	var path string
	if err := e.DB.WithContext(ctx).Raw("SELECT id, path FROM org_units WHERE code = ?", s.CommunityCode).Row().Scan(&commID, &path); err != nil {
		t.Fatalf("InsertResident: community %s: %v", s.CommunityCode, err)
	}
	g := "MALE"
	if n.Gender() == idnumber.Female {
		g = "FEMALE"
	}
	statuses := pq.StringArray(s.Statuses)
	if statuses == nil {
		statuses = pq.StringArray{}
	}
	id := uuid.Must(uuid.NewV7())
	err = e.DB.WithContext(ctx).Exec(`INSERT INTO residents (id, name, name_terms, id_number_enc, id_number_bidx, id_number_masked,
		phone_enc, phone_bidx, phone_masked, gender, birth_date, community_id, org_path, statuses, care_level)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		id, s.Name, pq.StringArray(resident.SearchTerms(s.Name)), idEnc, k.BlindIndex(resident.PurposeIDNumber, n.String()), pii.MaskIDNumber(n.String()),
		phoneEnc, phoneIdx, phoneMasked, g, n.BirthDate().Format("2006-01-02"), commID, path, statuses, s.CareLevel).Error
	if _, dup := database.IsUniqueViolation(err); dup && generated && s.retries < 50 {
		// The generated number was taken (same birth date, same sequence): draw another.
		s.IDNumber, s.retries = "", s.retries+1
		return e.InsertResident(t, s)
	}
	if err != nil {
		t.Fatalf("InsertResident: %v", err)
	}
	return Resident{ID: id, IDNumber: n.String(), Phone: s.Phone}
}

// OtherIDNumber returns a valid ID number that differs from n (same birth
// date, another sequence), for mismatch tests.
func OtherIDNumber(n string) string {
	parsed, err := idnumber.Parse(n, time.Now())
	if err != nil {
		panic(err)
	}
	seq := (int(n[14]-'0')*100 + int(n[15]-'0')*10 + int(n[16]-'0') + 2) % 1000
	return idnumber.Generate(n[:6], parsed.BirthDate(), seq, parsed.Gender())
}
