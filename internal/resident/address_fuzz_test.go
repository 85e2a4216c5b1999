package resident_test

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jinjiang/residents/internal/resident"
)

// FuzzAddressTerms: every substring of an address finds it: the terms a
// substring query looks up are all among the address's indexed terms (so
// the GIN look-up never loses a household the LIKE re-check would keep).
func FuzzAddressTerms(f *testing.F) {
	for _, s := range []string{"锦江区红星路三段8号2栋", "Chunxi Rd 1", "a", "", "东 大 街", "路路路"} {
		f.Add(s, 0, 3)
	}
	f.Fuzz(func(t *testing.T, addr string, from, n int) {
		if !utf8.ValidString(addr) {
			return
		}
		norm := []rune(resident.NormalAddress(addr))
		if len(norm) == 0 {
			return
		}
		from = ((from % len(norm)) + len(norm)) % len(norm)
		n = 1 + ((n%len(norm))+len(norm))%(len(norm)-from)
		sub := string(norm[from : from+n])
		if !strings.Contains(resident.NormalAddress(addr), resident.NormalAddress(sub)) {
			t.Fatalf("%q is not a substring of %q", sub, addr)
		}
		terms := resident.AddressTerms(addr)
		for _, q := range resident.AddressQueryTerms(resident.NormalAddress(sub)) {
			if !slices.Contains(terms, q) {
				t.Fatalf("query term %q of %q is not a term of %q (%v)", q, sub, addr, terms)
			}
		}
	})
}
