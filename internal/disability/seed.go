package disability

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/seed"
)

// demoCertificates are given to the first residents (by id) when demo data
// is seeded: one of each subsidy situation.
var demoCertificates = []struct {
	Category Category
	Grade    int
}{
	{Physical, 1}, {Intellectual, 3}, {Visual, 2}, {Hearing, 4}, {Mental, 3},
}

// SeedStep gives a few demo residents a certificate. Idempotent: always the
// same first residents, and only those without any certificate yet.
func (s *Service) SeedStep(ctx context.Context, db *gorm.DB, opt seed.Options) error {
	if !opt.Demo {
		return nil
	}
	type target struct {
		ID          uuid.UUID
		IDNumberEnc string
		HasCert     bool
	}
	var ts []target
	err := db.WithContext(ctx).Table("residents r").
		Select("r.id, r.id_number_enc, EXISTS (SELECT 1 FROM disability_certificates c WHERE c.resident_id = r.id) AS has_cert").
		Order("r.id").Limit(len(demoCertificates)).Scan(&ts).Error
	if err != nil {
		return fmt.Errorf("seed disability: %w", database.Classify(err))
	}
	today := s.today()
	issued := civil.Date{Year: today.Year - 1, Month: 3, Day: 1}
	for i, t := range ts {
		if t.HasCert {
			continue
		}
		idn, err := s.keys.Decrypt(t.IDNumberEnc, residentIDPurpose)
		if err != nil {
			return fmt.Errorf("seed disability: %w", err)
		}
		d := demoCertificates[i]
		num := Number{IDNumber: idn, CategoryDigit: d.Category.Digit(), GradeDigit: d.Grade}
		enc, err := s.keys.Encrypt(num.String(), numberPurpose)
		if err != nil {
			return err
		}
		row := certRow{ID: uuid.Must(uuid.NewV7()), ResidentID: t.ID, NumberEnc: enc, NumberBidx: s.keys.BlindIndex(numberPurpose, num.String()),
			NumberMasked: maskNumber(num), Category: string(d.Category), Grade: d.Grade, IssuedOn: issued,
			ValidUntil: civil.Date{Year: issued.Year + 10, Month: 2, Day: 28}, CreatedAt: s.now()}
		if err := db.WithContext(ctx).Create(&row).Error; err != nil {
			return fmt.Errorf("seed disability: %w", database.Classify(err))
		}
	}
	return nil
}
