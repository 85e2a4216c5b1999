package scalar

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"testing"

	"github.com/jinjiang/residents/internal/civil"
)

func TestFen(t *testing.T) {
	ok := map[any]int64{json.Number("100"): 100, json.Number("-5"): -5, json.Number("9223372036854775807"): math.MaxInt64, int64(7): 7}
	for in, want := range ok {
		if got, err := UnmarshalFen(in); err != nil || got != want {
			t.Errorf("UnmarshalFen(%v) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []any{json.Number("1.5"), json.Number("9223372036854775808"), json.Number("1e3"), "100", true, nil, 0.5} {
		if _, err := UnmarshalFen(bad); err == nil {
			t.Errorf("UnmarshalFen(%v) accepted", bad)
		}
	}
	var b bytes.Buffer
	MarshalFen(math.MaxInt64).MarshalGQL(&b)
	if b.String() != "9223372036854775807" {
		t.Fatalf("marshal: %s", b.String())
	}
}

func TestDateAndTime(t *testing.T) {
	if _, err := UnmarshalDate("2026-02-30"); err == nil {
		t.Fatal("impossible date accepted")
	}
	d, err := UnmarshalDate("2026-11-27")
	if err != nil || d != (civil.Date{Year: 2026, Month: 11, Day: 27}) {
		t.Fatalf("%v %v", d, err)
	}
	tm, err := UnmarshalTime("2026-11-27T01:30:00Z")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	MarshalTime(tm).MarshalGQL(&b)
	if b.String() != strconv.Quote("2026-11-27T09:30:00+08:00") {
		t.Fatalf("time in Shanghai: %s", b.String())
	}
	if _, err := UnmarshalTime("2026-11-27 09:30"); err == nil {
		t.Fatal("time without offset accepted")
	}
}

func FuzzUnmarshalFen(f *testing.F) {
	f.Add("100")
	f.Add("-1")
	f.Add("1.5")
	f.Add("99999999999999999999")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := UnmarshalFen(json.Number(s))
		if err != nil {
			return
		}
		if strconv.FormatInt(n, 10) != s && "+"+strconv.FormatInt(n, 10) != s {
			// ParseInt accepts leading zeros and a sign; the value must still be exact.
			if v, perr := strconv.ParseInt(s, 10, 64); perr != nil || v != n {
				t.Fatalf("%q parsed as %d", s, n)
			}
		}
	})
}
