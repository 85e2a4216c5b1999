package resident

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// BulkLoad is bulkLoad, for the seed's tests.
var BulkLoad = bulkLoad

// CopyTerms is a bulk load's COPY of terms (each term's residents) into
// resident_name_terms, for the seed's tests.
func CopyTerms(terms map[string][]uuid.UUID) func(context.Context, pgx.Tx) error {
	return (&bulkRows{terms: terms}).copyTerms
}

// AddressTerms and AddressQueryTerms are the household address index's
// terms, for the fuzz target.
var AddressTerms, AddressQueryTerms, NormalAddress = addressTerms, queryTerms, normalAddress
