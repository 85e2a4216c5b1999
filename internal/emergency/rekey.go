package emergency

import "github.com/jinjiang/residents/internal/rekey"

// EncryptedColumns are this domain's encrypted columns, for re-encryption
// under a new primary key (internal/rekey).
var EncryptedColumns = []rekey.Column{
	{Table: "care_profiles", Key: "resident_id", Name: "data_enc", Purpose: careProfileAAD},
	{Table: "emergency_calls", Key: "id", Name: "caller_number_enc", Purpose: callerNumberAAD},
	{Table: "emergency_outbound_calls", Key: "id", Name: "number_enc", Purpose: outboundNumberAAD},
}
