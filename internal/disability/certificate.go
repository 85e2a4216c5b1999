package disability

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/pii"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// RecordInput is the input of RecordCertificate.
type RecordInput struct {
	ResidentID uuid.UUID
	Number     string
	Category   Category
	Grade      int
	IssuedOn   civil.Date
	ValidUntil civil.Date
}

// RecordCertificate records a certificate for a resident (CASE_WORKER in
// jurisdiction, ADMIN). The new certificate supersedes the current one,
// which stays in the history, in the same transaction.
func (s *Service) RecordCertificate(ctx context.Context, in RecordInput) (*Certificate, error) {
	if _, err := policy.Require(ctx, policy.RecordCertificate); err != nil {
		return nil, err
	}
	var out *Certificate
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		res, err := findResident(ctx, tx, in.ResidentID, true)
		if err != nil {
			return err
		}
		if res == nil {
			return problem.New(problem.NotFound, "resident not found", "input", "residentId")
		}
		if _, err := policy.RequireOn(ctx, policy.RecordCertificate, policy.Subject{ID: res.ID, OrgPath: res.OrgPath}); err != nil {
			return err
		}
		num, err := s.checkCertificate(in, res)
		if err != nil {
			return err
		}
		now := s.now()
		var prev []certRow
		if err := tx.WithContext(ctx).Where("resident_id = ? AND superseded_at IS NULL", res.ID).Find(&prev).Error; err != nil {
			return database.Classify(err)
		}
		if err := tx.WithContext(ctx).Model(&certRow{}).Where("resident_id = ? AND superseded_at IS NULL", res.ID).
			Update("superseded_at", now).Error; err != nil {
			return database.Classify(fmt.Errorf("disability: supersede certificate: %w", err))
		}
		enc, err := s.keys.Encrypt(num.String(), numberPurpose)
		if err != nil {
			return err
		}
		row := certRow{ID: uuid.Must(uuid.NewV7()), ResidentID: res.ID, NumberEnc: enc,
			NumberBidx: s.keys.BlindIndex(numberPurpose, num.String()), NumberMasked: maskNumber(num),
			Category: string(in.Category), Grade: in.Grade, IssuedOn: in.IssuedOn, ValidUntil: in.ValidUntil, CreatedAt: now}
		if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
			return database.Classify(fmt.Errorf("disability: record certificate: %w", err))
		}
		detail := map[string]any{"residentId": res.ID, "category": in.Category, "grade": in.Grade,
			"issuedOn": in.IssuedOn.String(), "validUntil": in.ValidUntil.String()}
		if len(prev) > 0 {
			detail["supersedes"] = prev[0].ID
		}
		if err := audit.Record(ctx, tx, audit.ActionRecordDisabilityCertificate, audit.EntityDisabilityCertificate, &row.ID, detail); err != nil {
			return err
		}
		out = certView{Row: row, ResidentPath: res.OrgPath}.certificate()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkCertificate reports every disagreement between the input and the
// number, each on its own field.
func (s *Service) checkCertificate(in RecordInput, res *residentFacts) (Number, error) {
	var errs problem.UserErrors
	if !in.Category.Valid() {
		errs = append(errs, problem.New(problem.Invalid, "unknown disability category", "input", "category"))
	}
	gradeOK := in.Grade >= 1 && in.Grade <= 4
	if !gradeOK {
		errs = append(errs, problem.New(problem.Invalid, "the disability grade must be 1 to 4", "input", "grade"))
	}
	if in.ValidUntil.Before(in.IssuedOn) {
		errs = append(errs, problem.New(problem.Invalid, "the certificate cannot expire before it is issued", "input", "validUntil"))
	}
	num, err := ParseNumber(in.Number)
	switch {
	case err != nil:
		errs = append(errs, problem.New(problem.Invalid, ErrNumberShape.Error(), "input", "number"))
	case !bytes.Equal(s.keys.BlindIndex(residentIDPurpose, num.IDNumber), res.IDNumberBidx):
		errs = append(errs, problem.New(problem.Invalid, "the first 18 characters of the certificate number must be the holder's own ID number", "input", "number"))
	default:
		if in.Category.Valid() && num.CategoryDigit != in.Category.Digit() {
			errs = append(errs, problem.New(problem.Invalid,
				fmt.Sprintf("the 19th character of the number is the category digit; %s is %d", in.Category, in.Category.Digit()), "input", "category"))
		}
		if gradeOK && num.GradeDigit != in.Grade {
			errs = append(errs, problem.New(problem.Invalid, "the 20th character of the number is the grade digit and must equal the grade", "input", "grade"))
		}
	}
	if len(errs) > 0 {
		return Number{}, errs
	}
	return num, nil
}

// maskNumber masks the ID-number part like an ID number and keeps the two
// digits: "510104********123X52".
func maskNumber(n Number) string {
	return pii.MaskIDNumber(n.IDNumber) + n.String()[18:]
}

// CurrentCertificates returns, per resident, the current certificate valid
// today (Asia/Shanghai); residents without one, or whom the viewer may not
// read, are absent.
func (s *Service) CurrentCertificates(ctx context.Context, residentIDs []uuid.UUID) (map[uuid.UUID]*Certificate, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	today := s.today()
	certs, err := findCertificates(ctx, certQuery(ctx, s.db).
		Where("c.resident_id = ANY(?) AND "+CurrentOnSQL("c", "?"), database.UUIDs(residentIDs), today))
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]*Certificate, len(certs))
	for _, c := range certs {
		if canRead(v, c.ResidentID, c.residentPath) {
			out[c.ResidentID] = c
		}
	}
	return out, nil
}

// Certificate returns one certificate (node fetch); nil when there is none.
func (s *Service) Certificate(ctx context.Context, id uuid.UUID) (*Certificate, error) {
	if _, err := auth.RequireViewer(ctx); err != nil {
		return nil, err
	}
	certs, err := findCertificates(ctx, certQuery(ctx, s.db).Where("c.id = ?", id))
	if err != nil || len(certs) == 0 {
		return nil, err
	}
	if _, err := requireRead(ctx, certs[0].ResidentID, certs[0].residentPath); err != nil {
		return nil, err
	}
	return certs[0], nil
}

// CertificateHistory lists a resident's certificates, newest first,
// superseded ones included.
func (s *Service) CertificateHistory(ctx context.Context, residentID uuid.UUID) ([]*Certificate, error) {
	res, err := findResident(ctx, s.db, residentID, false)
	if err != nil {
		return nil, err
	}
	if res == nil {
		if _, err := auth.RequireViewer(ctx); err != nil {
			return nil, err
		}
		return nil, problem.BadInput("resident not found")
	}
	if _, err := requireRead(ctx, res.ID, res.OrgPath); err != nil {
		return nil, err
	}
	return findCertificates(ctx, certQuery(ctx, s.db).Where("c.resident_id = ?", residentID).Order("c.id DESC"))
}

// CertificateNumber is the number as the viewer may see it: in full for
// administrators, clerks, case workers in jurisdiction and the holder
// (each full read is audited), masked for everyone else.
func (s *Service) CertificateNumber(ctx context.Context, c *Certificate) (string, error) {
	v := auth.ViewerFrom(ctx)
	if !canSeeFullNumber(v, c.ResidentID, c.residentPath) {
		return c.NumberMasked, nil
	}
	var enc string
	if err := s.db.WithContext(ctx).Model(&certRow{}).Select("number_enc").Where("id = ?", c.ID).Scan(&enc).Error; err != nil {
		return "", database.Classify(err)
	}
	plain, err := s.keys.Decrypt(enc, numberPurpose)
	if err != nil {
		return "", fmt.Errorf("disability: decrypt certificate number: %w", err)
	}
	if err := audit.Record(ctx, s.db, audit.ActionCertificateNumber, audit.EntityDisabilityCertificate, &c.ID, nil); err != nil {
		return "", database.Classify(err)
	}
	return strings.TrimSpace(plain), nil
}
