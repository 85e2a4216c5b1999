package creditcode

import (
	"errors"
	"strings"
	"testing"
)

func TestWeightsArePowersOfThree(t *testing.T) {
	w := 1
	for i, got := range weights {
		if got != w {
			t.Fatalf("weights[%d] = %d, want %d", i, got, w)
		}
		w = w * 3 % 31
	}
}

func TestParseValid(t *testing.T) {
	valid := []string{
		"91350100M000100Y43", // published sample
		"91110000802100433B", // format sample with letter check char
		Generate(0),
		Generate(1),
		Generate(12345678),
	}
	// Build a few more with CheckChar covering letters in the body.
	for _, p := range []string{"91440300MA5EXAMPL", "12100000400000624", "5131000050000000Y", "Y1110000ABCDEFGHJ"} {
		c, err := CheckChar(p)
		if err != nil {
			t.Fatalf("CheckChar(%s): %v", p, err)
		}
		valid = append(valid, p+string(c))
	}
	for _, s := range valid {
		got, err := Parse(s)
		if err != nil {
			t.Errorf("Parse(%s): %v", s, err)
			continue
		}
		if got != s {
			t.Errorf("Parse(%s) = %s", s, got)
		}
	}
}

func TestCheckCharKnown(t *testing.T) {
	c, err := CheckChar("91350100M000100Y4")
	if err != nil || c != '3' {
		t.Errorf("CheckChar = %q, %v; want '3'", c, err)
	}
	for _, bad := range []string{"", "91350100M000100Y", "91350100M000100Y43", "91350100m000100Y4", "91350100O000100Y4"} {
		if _, err := CheckChar(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckChar(%q) err = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestParseRefusals(t *testing.T) {
	const v = "91350100M000100Y43"
	cases := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", errLength},
		{"17 chars", v[:17], errLength},
		{"19 chars", v + "3", errLength},
		{"bad check", v[:17] + "4", errCheck},
		{"transposed", "91350100M000100Y34", errCheck},
		{"lower-case", strings.ToLower(v), errChars},
		{"lower-case letter", "91350100m000100Y43", errChars},
		{"letter I", "91350100I000100Y43", errChars},
		{"letter O", "91350100O000100Y43", errChars},
		{"letter Z", "91350100Z000100Y43", errChars},
		{"letter S", "91350100S000100Y43", errChars},
		{"letter V", "91350100V000100Y43", errChars},
		{"leading space", " " + v, errLength},
		{"trailing space", v + " ", errLength},
		{"inner space", "91350100 000100Y43", errChars},
		{"full-width", "９1350100M000100Y", errChars},
		{"zero-width", "\u200b" + v[3:], errChars},
		{"dash", "9135-0100M000100Y4", errChars},
		{"SQL", "' OR 1=1--aaaaaaaa", errChars},
		{"NUL", v[:17] + "\x00", errChars},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.in)
			if err == nil {
				t.Fatalf("Parse accepted %q as %q", c.in, got)
			}
			if got != "" {
				t.Errorf("non-empty result with error")
			}
			if !errors.Is(err, ErrInvalid) || err != c.want {
				t.Errorf("err = %v, want %v", err, c.want)
			}
			for i := 0; i+4 <= len(c.in); i++ {
				if strings.Contains(err.Error(), c.in[i:i+4]) {
					t.Errorf("error %q echoes input fragment", err)
					break
				}
			}
		})
	}
}

func TestGenerateDistinct(t *testing.T) {
	seen := map[string]int{}
	for _, seed := range []int{-5, 0, 1, 2, 3, 99, 100, 1000, 99_999_999, 1 << 40} {
		s := Generate(seed)
		if _, err := Parse(s); err != nil {
			t.Fatalf("Generate(%d) = %s invalid: %v", seed, s, err)
		}
		if prev, ok := seen[s]; ok && seed >= 0 && seed < 100_000_000 && prev >= 0 && prev < 100_000_000 {
			t.Errorf("Generate(%d) == Generate(%d)", seed, prev)
		}
		seen[s] = seed
	}
	for i := 0; i < 2000; i++ {
		if _, err := Parse(Generate(i)); err != nil {
			t.Fatalf("Generate(%d) invalid", i)
		}
	}
}

func TestSingleSubstitutionDetected(t *testing.T) {
	const v = "91350100M000100Y43"
	for i := 0; i < 18; i++ {
		for j := 0; j < len(alphabet); j++ {
			if alphabet[j] == v[i] {
				continue
			}
			s := v[:i] + string(alphabet[j]) + v[i+1:]
			if _, err := Parse(s); err == nil {
				t.Errorf("single substitution at %d accepted: %s", i, s)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"91350100M000100Y43", "91350100m000100y43", "", "' OR 1=1--", "91350100M000100Y4", Generate(7)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if len(s) >= 4 && strings.Contains(err.Error(), s) {
				t.Fatalf("error echoes input")
			}
			return
		}
		if got != s || len(got) != 18 {
			t.Fatalf("Parse(%q) = %q", s, got)
		}
		for i := 0; i < 18; i++ {
			if !strings.ContainsRune(alphabet, rune(got[i])) {
				t.Fatalf("accepted character %q", got[i])
			}
		}
		again, err := Parse(got)
		if err != nil || again != got {
			t.Fatalf("re-parse failed")
		}
		c, err := CheckChar(got[:17])
		if err != nil || c != got[17] {
			t.Fatalf("CheckChar disagrees")
		}
	})
}
