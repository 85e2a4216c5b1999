package resident_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/testenv"
)

// BenchmarkResidentByID: resident(id:) with nested community, contacts and
// the full (audited) ID number, through the HTTP handler.
func BenchmarkResidentByID(b *testing.B) {
	e := testenv.New(b)
	tok := e.As(b, "clerk")
	r := e.InsertResident(b, testenv.ResidentSpec{Name: "基准", Phone: "13800001234", BirthDate: time.Date(1931, 1, 1, 0, 0, 0, 0, time.UTC)})
	vars := map[string]any{"id": residentGID(r.ID)}
	const doc = `query($id:ID!){ resident(id:$id){ name idNumber idNumberMasked age phoneMasked community{ name } emergencyContacts{ name } } }`
	e.MustDo(b, tok, doc, vars)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := e.Do(b, tok, doc, vars); len(r.Errors) > 0 {
			b.Fatal(string(r.Raw))
		}
	}
}

// BenchmarkResidentsFirst100: a page of 100 with nested community, grid and
// contacts, through the HTTP handler.
func BenchmarkResidentsFirst100(b *testing.B) {
	e := testenv.New(b)
	tok := e.As(b, "operator")
	comms := []string{"510104020001", "510104021001", "510104022002", "510104023003", "510104028002"}
	for i := 0; i < 120; i++ {
		e.InsertResident(b, testenv.ResidentSpec{Name: fmt.Sprintf("基准页%03d", i), CommunityCode: comms[i%len(comms)],
			BirthDate: time.Date(1935, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i)})
	}
	const doc = `{ residents(first:100, filter:{nameContains:"基准页"}){ totalCount edges{ node{ name idNumberMasked age
	  community{ name } emergencyContacts{ name } } } } }`
	e.MustDo(b, tok, doc, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := e.Do(b, tok, doc, nil); len(r.Errors) > 0 {
			b.Fatal(string(r.Raw))
		}
	}
}
