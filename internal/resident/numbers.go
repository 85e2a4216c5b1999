package resident

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/database"
)

// Number is one full phone number of a resident or of one of their
// emergency contacts, for the alarm center's call-back.
type Number struct {
	// Whom names the person for the call trail: the contact's name and
	// relation, or "本人" for the resident.
	Whom   string
	Plain  string
	Masked string
}

// CallbackNumber decrypts the phone number of a resident (contactID nil)
// or of one of their emergency contacts, inside db (the caller's
// transaction). It decides nothing: the emergency domain asks the policy
// first (an open call, requestOutboundCall or revealContactNumber) and
// audits the use. nil when there is no such number.
func (s *Service) CallbackNumber(ctx context.Context, residentID uuid.UUID, contactID *uuid.UUID) (*Number, error) {
	if contactID == nil {
		var rows []residentRow
		if err := s.db.WithContext(ctx).Select("id, phone_enc, phone_masked").Where("id = ?", residentID).Limit(1).Find(&rows).Error; err != nil {
			return nil, database.Classify(fmt.Errorf("resident: phone: %w", err))
		}
		if len(rows) == 0 || rows[0].PhoneEnc == nil {
			return nil, nil
		}
		plain, err := s.keys.Decrypt(*rows[0].PhoneEnc, PurposePhone)
		if err != nil {
			return nil, fmt.Errorf("resident: decrypt phone: %w", err)
		}
		return &Number{Whom: "本人", Plain: plain, Masked: deref(rows[0].PhoneMasked)}, nil
	}
	var rows []contactRow
	if err := s.db.WithContext(ctx).Where("id = ? AND resident_id = ?", *contactID, residentID).Limit(1).Find(&rows).Error; err != nil {
		return nil, database.Classify(fmt.Errorf("resident: contact phone: %w", err))
	}
	if len(rows) == 0 {
		return nil, nil
	}
	plain, err := s.keys.Decrypt(rows[0].PhoneEnc, PurposeContactPhone)
	if err != nil {
		return nil, fmt.Errorf("resident: decrypt contact phone: %w", err)
	}
	return &Number{Whom: rows[0].Name + " (" + rows[0].Relation + ")", Plain: plain, Masked: rows[0].PhoneMasked}, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
