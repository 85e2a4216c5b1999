package resident

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/database"
)

// The numbers the notification dispatcher texts (notify.Phones): read
// here, where the registry's ciphertext lives, at the moment of sending,
// so the outbox never stores a phone number.

// ResidentPhone is resident id's own phone number; false when it has none.
func (s *Service) ResidentPhone(ctx context.Context, id uuid.UUID) (string, bool, error) {
	// coalesce: a resident without a phone has NULL, and scanning it
	// failed ("converting NULL to string is unsupported"), so every SMS to
	// such a resident was a lookup error, retried until dead, instead of
	// skipped.
	var encs []string
	if err := s.db.WithContext(ctx).Raw("SELECT coalesce(phone_enc, '') FROM residents WHERE id = ?", id).Scan(&encs).Error; err != nil {
		return "", false, database.Classify(fmt.Errorf("resident: phone: %w", err))
	}
	if len(encs) == 0 || encs[0] == "" {
		return "", false, nil
	}
	p, err := s.keys.Decrypt(encs[0], PurposePhone)
	if err != nil {
		return "", false, fmt.Errorf("resident: phone: %w", err)
	}
	return p, true, nil
}

// FirstContactPhone is the phone of resident id's first emergency contact
// (lowest priority number); false when there is no contact.
func (s *Service) FirstContactPhone(ctx context.Context, id uuid.UUID) (string, bool, error) {
	var rows []contactRow
	if err := s.db.WithContext(ctx).Where("resident_id = ?", id).Order("priority, id").Limit(1).Find(&rows).Error; err != nil {
		return "", false, database.Classify(fmt.Errorf("resident: contact phone: %w", err))
	}
	if len(rows) == 0 {
		return "", false, nil
	}
	p, err := s.keys.Decrypt(rows[0].PhoneEnc, PurposeContactPhone)
	if err != nil {
		return "", false, fmt.Errorf("resident: contact phone: %w", err)
	}
	return p, true, nil
}

// MaskedName is resident id's name with all but its first character
// masked (张**): what a proxy's lists show to tell elders apart.
func (s *Service) MaskedName(ctx context.Context, id uuid.UUID) (string, error) {
	var names []string
	if err := s.db.WithContext(ctx).Raw("SELECT name FROM residents WHERE id = ?", id).Scan(&names).Error; err != nil {
		return "", database.Classify(fmt.Errorf("resident: name: %w", err))
	}
	if len(names) == 0 {
		return "", nil
	}
	r := []rune(names[0])
	if len(r) == 0 {
		return "", nil
	}
	return string(r[0]) + strings.Repeat("*", len(r)-1), nil
}
