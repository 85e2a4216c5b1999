package resident

import "github.com/jinjiang/residents/internal/rekey"

// EncryptedColumns are the registry's encrypted columns, for re-encryption
// under a new primary key (internal/rekey).
var EncryptedColumns = []rekey.Column{
	{Table: "residents", Key: "id", Name: "id_number_enc", Purpose: PurposeIDNumber},
	{Table: "residents", Key: "id", Name: "phone_enc", Purpose: PurposePhone},
	{Table: "emergency_contacts", Key: "id", Name: "phone_enc", Purpose: PurposeContactPhone},
}
