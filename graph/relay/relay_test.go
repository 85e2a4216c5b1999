package relay

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/problem"
)

func TestRoundTrip(t *testing.T) {
	id := uuid.Must(uuid.NewV7())
	typ, got, err := Parse(ID("Resident", id))
	if err != nil || typ != "Resident" || got != id {
		t.Fatalf("%v %v %v", typ, got, err)
	}
	if _, err := ParseAs("Voucher", ID("Resident", id)); !errors.Is(err, problem.ErrBadInput) {
		t.Fatalf("wrong type accepted: %v", err)
	}
	for _, bad := range []string{"", "x", "UmVzaWRlbnQ6", ID("", id), "UmVzaWRlbnQ6MTIz", string(make([]byte, 500))} {
		if _, _, err := Parse(bad); !errors.Is(err, problem.ErrBadInput) {
			t.Errorf("Parse(%q) = %v", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(ID("Resident", uuid.Must(uuid.NewV7())))
	f.Add("T3JnVW5pdDp4")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		typ, id, err := Parse(s)
		if err != nil {
			if !errors.Is(err, problem.ErrBadInput) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if ID(typ, id) != s {
			t.Fatalf("non-canonical id accepted: %q", s)
		}
	})
}
