package disability

import (
	"strings"
	"testing"
)

func TestParseNumber(t *testing.T) {
	cases := []struct {
		in      string
		ok      bool
		id      string
		cat, gr int
	}{
		{"51010419450615123X52", true, "51010419450615123X", 5, 2},
		{"51010419450615123x52", true, "51010419450615123X", 5, 2},
		{" 5101041945061512345 1 ", false, "", 0, 0},
		{"510104194506151234", false, "", 0, 0},
		{"5101041945061512345", false, "", 0, 0},
		{"510104194506151234511", false, "", 0, 0},
		{"5101041945061512X451", false, "", 0, 0},
		{"510104194506151234X1", false, "", 0, 0},
		{"", false, "", 0, 0},
		{"５101041945061512345１", false, "", 0, 0},
	}
	for _, c := range cases {
		n, err := ParseNumber(c.in)
		if (err == nil) != c.ok {
			t.Errorf("ParseNumber(%q) err = %v, want ok=%v", c.in, err, c.ok)
			continue
		}
		if c.ok && (n.IDNumber != c.id || n.CategoryDigit != c.cat || n.GradeDigit != c.gr) {
			t.Errorf("ParseNumber(%q) = %+v", c.in, n)
		}
	}
}

func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"51010419450615123X52", "", "510104194506151234", "5101041945061512345x", "51010419450615123x99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNumber(s)
		if err != nil {
			return
		}
		out := n.String()
		if len(out) != NumberLength || out != strings.ToUpper(strings.TrimSpace(s)) {
			t.Fatalf("ParseNumber(%q).String() = %q", s, out)
		}
		if n.CategoryDigit < 0 || n.CategoryDigit > 9 || n.GradeDigit < 0 || n.GradeDigit > 9 {
			t.Fatalf("digits out of range: %+v", n)
		}
		again, err := ParseNumber(out)
		if err != nil || again != n {
			t.Fatalf("round trip of %q: %+v, %v", out, again, err)
		}
	})
}
