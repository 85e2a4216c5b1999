package resident

import "github.com/jinjiang/residents/internal/rekey"

// EncryptedColumns are the registry's encrypted columns, for re-encryption
// under a new primary key (internal/rekey).
var EncryptedColumns = []rekey.Column{
	{Table: "residents", Key: "id", Name: "id_number_enc", Purpose: PurposeIDNumber},
	{Table: "residents", Key: "id", Name: "phone_enc", Purpose: PurposePhone},
	{Table: "emergency_contacts", Key: "id", Name: "phone_enc", Purpose: PurposeContactPhone},
	// An import's staged rows (until its run ends), encrypted as the
	// registry stores them.
	{Table: "resident_import_rows", Key: "import_id::text || '/' || lpad(seq::text, 10, '0')", Name: "id_number_enc", Purpose: PurposeIDNumber},
	{Table: "resident_import_rows", Key: "import_id::text || '/' || lpad(seq::text, 10, '0')", Name: "phone_enc", Purpose: PurposePhone},
}
