package resident

import (
	"context"
	"strings"
	"unicode"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/idnumber"
	"github.com/jinjiang/residents/internal/pii"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// identity is a list filter's look-up by a personal number: the blind
// index of a phone number or of an ID number, found like residentByIdNumber
// (only roles that may look residents up by ID number, every call audited
// and counted against the same limits).
type identity struct {
	by   string // "phone" or "idNumber", for the audit entry
	bidx []byte
}

// splitQuery reads the one search box: an ID number or a phone number is a
// look-up by its blind index; anything else is a name (the counter search,
// Filter.Search). The filter's Phone and Q are consumed.
func (s *Service) splitQuery(f *Filter) (*identity, error) {
	phone, q := strings.TrimSpace(f.Phone), strings.TrimSpace(f.Q)
	f.Phone, f.Q = "", ""
	if len([]rune(q)) > 64 {
		return nil, problem.BadInput("filter.q: at most 64 characters")
	}
	if phone != "" && q != "" {
		return nil, problem.BadInput("filter.phone and filter.q: give one of them")
	}
	if phone != "" {
		p, err := pii.NormalizePhone(phone)
		if err != nil {
			return nil, problem.BadInput("filter.phone is not a valid phone number")
		}
		return &identity{by: "phone", bidx: s.keys.BlindIndex(PurposePhone, p)}, nil
	}
	if q == "" {
		return nil, nil
	}
	if looksLikeIDNumber(q) {
		n, err := idnumber.Parse(q, s.now())
		if err != nil {
			return nil, problem.BadInput("idNumber is not a valid resident identity number")
		}
		return &identity{by: "idNumber", bidx: s.keys.BlindIndex(PurposeIDNumber, n.String())}, nil
	}
	if p, err := pii.NormalizePhone(q); err == nil {
		return &identity{by: "phone", bidx: s.keys.BlindIndex(PurposePhone, p)}, nil
	}
	if f.Search != "" {
		return nil, problem.BadInput("filter.search and filter.q: give one of them")
	}
	f.Search = q
	return nil, nil
}

// looksLikeIDNumber: 18 characters, digits with a final X (any case), or
// 15 digits followed by letters a person mistyped; such a query is never
// a name.
func looksLikeIDNumber(q string) bool {
	if len(q) != 18 {
		return false
	}
	for i, r := range q {
		if !unicode.IsDigit(r) && !(i == 17 && (r == 'X' || r == 'x')) {
			return false
		}
	}
	return true
}

// lookUp authorizes and counts a look-up by a personal number before the
// list runs: the same action and limits as residentByIdNumber. A call over
// a limit is audited "rate_limited" and refused with TOO_MANY_ATTEMPTS.
func (s *Service) lookUp(ctx context.Context, v *auth.Viewer, id *identity) error {
	if !policy.Allowed(v, policy.LookUpByIDNumber) {
		return problem.Forbidden("your role does not allow this")
	}
	allowed := true
	for _, t := range s.lookups {
		ok, err := t.Reserve(ctx, "idlookup:"+v.ID.String())
		if err != nil {
			return err
		}
		allowed = allowed && ok
	}
	if allowed {
		return nil
	}
	if err := s.auditLookUp(ctx, id, "rate_limited", nil); err != nil {
		return err
	}
	return errLookupLimited
}

// auditLookUp writes the look-up's audit entry: how it looked (never the
// number), what came of it, and the first resident found.
func (s *Service) auditLookUp(ctx context.Context, id *identity, outcome string, found []*Resident) error {
	var entity *uuid.UUID
	if len(found) > 0 {
		entity = &found[0].ID
	}
	err := database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		return audit.Record(ctx, tx, audit.ActionResidents, audit.EntityResident, entity,
			map[string]any{"by": id.by, "outcome": outcome, "found": len(found)})
	})
	return database.Classify(err)
}

// TokenHolder is the name and masked ID number of a resident whose live
// redemption token a provider presents (redemptionTokenPreview): what a
// provider sees of a resident it serves, shown before the first service.
// The caller has checked the token; nothing else may call this.
func (s *Service) TokenHolder(ctx context.Context, id uuid.UUID) (name, idNumberMasked string, err error) {
	row, err := findByID(ctx, s.db, id)
	if err != nil {
		return "", "", err
	}
	if row == nil {
		return "", "", problem.New(problem.NotFound, "resident not found", "token")
	}
	r := row.resident().apply(policy.ViewLimited)
	return r.Name, r.IDNumberMasked, nil
}
