package voucher_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/testenv"
)

// insertBenchResidents inserts n residents set-based (placeholder
// ciphertexts: issuance never decrypts) and enrolls them.
func insertBenchResidents(b *testing.B, f *fixture, n int) {
	b.Helper()
	tag := uuid.NewString()[:8]
	tx := f.e.DB.Begin()
	if err := tx.Exec("SET LOCAL statement_timeout = 0").Error; err != nil {
		b.Fatal(err)
	}
	err := tx.Exec(`INSERT INTO residents (id, name, id_number_enc, id_number_bidx, id_number_masked, gender, birth_date,
			community_id, org_path, statuses, care_level)
		SELECT uuid_v7(), 'bench', 'x', decode(md5(? || i::text), 'hex'), 'x', 'FEMALE',
			DATE '1930-01-01' + (i % 12000), u.id, u.path,
			CASE WHEN i % 7 = 0 THEN ARRAY['LOW_INCOME'] ELSE '{}' END,
			CASE WHEN i % 11 = 0 THEN 'SEVERE' ELSE 'INTACT' END
		FROM generate_series(1, ?) AS i, (SELECT id, path FROM org_units WHERE code = '510104020001') u`, tag, n).Error
	if err != nil {
		b.Fatal(err)
	}
	err = tx.Exec(`INSERT INTO voucher_enrollments (program_id, resident_id)
		SELECT ?, id FROM residents WHERE name = 'bench' ON CONFLICT DO NOTHING`, f.progID).Error
	if err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit().Error; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkIssue100k times issueVouchers over 100,000 enrolled residents
// (one op = one period issued through HTTP); it then reports the time of a
// repeated run, which issues nothing.
func BenchmarkIssue100k(b *testing.B) {
	f := newFixture(b, programSpec{rules: sampleRules}, testenv.WithConfig(func(c *config.Config) {
		c.RequestTimeout, c.DBStatementTimeout = 2*time.Minute, 2*time.Minute
	}))
	insertBenchResidents(b, f, 100_000)
	mustExec(b, f.e, "ANALYZE residents; ANALYZE voucher_enrollments")
	start := civil.Month{Year: 2030, Month: 1}
	b.ResetTimer()
	var issued int
	for i := 0; i < b.N; i++ {
		n, _, _, code := f.issue(b, start.AddMonths(i).String())
		if code != "" || n == 0 {
			b.Fatalf("issue: %d %s", n, code)
		}
		issued = n
	}
	b.StopTimer()
	t0 := time.Now()
	n, skipped, _, _ := f.issue(b, start.String())
	if n != 0 {
		b.Fatalf("second run issued %d", n)
	}
	b.ReportMetric(float64(issued), "vouchers/op")
	b.ReportMetric(float64(time.Since(t0).Milliseconds()), "rerun-ms")
	b.ReportMetric(float64(skipped), "rerun-skipped")
}

func benchRedeem(b *testing.B, residents int) {
	f := newFixture(b, programSpec{rules: []map[string]any{{"amountFen": 100_000_000}}})
	var ids []uuid.UUID
	for i := 0; i < residents; i++ {
		ids = append(ids, f.resident(b, testenv.ResidentSpec{}))
	}
	f.issue(b, f.period)
	tokens := make([]string, b.N)
	for i := range tokens {
		tokens[i] = f.token(b, ids[i%len(ids)])
	}
	var next atomic.Int64
	var failed atomic.Int64
	b.ResetTimer()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			r := f.redeem(b, f.provTok, tokens[i], 100, fmt.Sprintf("bench-%d", i), "", "")
			if r.id == "" {
				failed.Add(1)
			}
		}
	})
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d redemptions failed", failed.Load())
	}
}

// BenchmarkRedeemSpread redeems across 50 residents.
func BenchmarkRedeemSpread(b *testing.B) { benchRedeem(b, 50) }

// BenchmarkRedeemHot redeems everything from one resident's voucher.
func BenchmarkRedeemHot(b *testing.B) { benchRedeem(b, 1) }
