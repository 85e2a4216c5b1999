package disability_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/seed"
	"github.com/jinjiang/residents/internal/testenv"
)

func TestSeedStepIsIdempotent(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 6; i++ {
		newResident(t, e, testenv.ResidentSpec{})
	}
	ctx := context.Background()
	run := func() int {
		if err := e.App.Disability.SeedStep(ctx, e.DB, seed.Options{Demo: true}); err != nil {
			t.Fatal(err)
		}
		return count(t, e, "SELECT count(*) FROM disability_certificates")
	}
	first := run()
	if second := run(); second != first {
		t.Fatalf("second seed added certificates: %d -> %d", first, second)
	}
	if n := count(t, e, `SELECT count(*) FROM (SELECT id FROM residents ORDER BY id LIMIT 5) r
		WHERE EXISTS (SELECT 1 FROM disability_certificates c WHERE c.resident_id = r.id AND c.superseded_at IS NULL)`); n != 5 {
		t.Fatalf("%d of the first 5 residents hold a certificate", n)
	}
	// The seeded numbers belong to their holders and agree with category and grade.
	var rid uuid.UUID
	var enc string
	if err := e.DB.Raw("SELECT id, id_number_enc FROM residents ORDER BY id LIMIT 1").Row().Scan(&rid, &enc); err != nil {
		t.Fatal(err)
	}
	idn, err := e.App.Keyring.Decrypt(enc, "resident.id_number")
	if err != nil {
		t.Fatal(err)
	}
	h := e.MustDo(t, e.Admin(t), historyQuery, map[string]any{"id": residentGID(rid)})
	digit := map[string]int{"VISUAL": 1, "HEARING": 2, "SPEECH": 3, "PHYSICAL": 4, "INTELLECTUAL": 5, "MENTAL": 6, "MULTIPLE": 7}
	grade, _ := h.Get("disabilityCertificates.0.grade").(float64)
	want := certNumber(idn, digit[h.Str("disabilityCertificates.0.category")], int(grade))
	if got := h.Str("disabilityCertificates.0.number"); got != want {
		t.Fatalf("seeded certificate number %q, want %q", got, want)
	}
}
