package page

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/problem"
)

func TestNew(t *testing.T) {
	for _, n := range []int{0, -1, 101, 100000} {
		if _, err := New(&n, nil); !errors.Is(err, problem.ErrBadInput) {
			t.Errorf("first=%d accepted", n)
		}
	}
	n := 100
	id := uuid.Must(uuid.NewV7())
	c := EncodeCursor(id)
	r, err := New(&n, &c)
	if err != nil || r.First != 100 || *r.After != id {
		t.Fatalf("%+v %v", r, err)
	}
	if r, _ := New(nil, nil); r.First != DefaultFirst || r.After != nil {
		t.Fatalf("defaults: %+v", r)
	}
	rows := []int{1, 2, 3}
	res := Trim(Request{First: 2}, rows)
	if !res.HasNext || len(res.Items) != 2 {
		t.Fatalf("trim: %+v", res)
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(EncodeCursor(uuid.Must(uuid.NewV7())))
	f.Add("YzE6")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := DecodeCursor(s)
		if err != nil {
			if !errors.Is(err, problem.ErrBadInput) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if _, err := DecodeCursor(EncodeCursor(id)); err != nil {
			t.Fatal("re-encoded cursor refused")
		}
	})
}
