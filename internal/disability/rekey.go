package disability

import "github.com/jinjiang/residents/internal/rekey"

// EncryptedColumns are this domain's encrypted columns, for re-encryption
// under a new primary key (internal/rekey).
var EncryptedColumns = []rekey.Column{
	{Table: "disability_certificates", Key: "id", Name: "number_enc", Purpose: numberPurpose},
}
