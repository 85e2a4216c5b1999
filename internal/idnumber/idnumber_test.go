package idnumber

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// today is a fixed "now" for deterministic tests: 2025-06-15 10:00 Beijing.
var today = time.Date(2025, 6, 15, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

// withCheck appends the correct check character to 17 digits.
func withCheck(first17 string) string { return first17 + string(CheckChar(first17)) }

// wrongCheck appends an incorrect check character to 17 digits.
func wrongCheck(first17 string) string {
	c := CheckChar(first17)
	if c == '0' {
		return first17 + "1"
	}
	return first17 + "0"
}

func TestCheckCharKnownExamples(t *testing.T) {
	// Widely published specimen numbers.
	for _, s := range []string{"11010519491231002X", withCheck("44030819990101123")} {
		if got := CheckChar(s[:17]); got != s[17] {
			t.Errorf("CheckChar(%s) = %q, want %q", s[:17], got, s[17])
		}
	}
	if got := CheckChar("11010519491231002"); got != 'X' {
		t.Errorf("CheckChar specimen = %q, want 'X'", got)
	}
	for _, bad := range []string{"", "1234", "1101051949123100", "110105194912310021", "1101051949123100a"} {
		if got := CheckChar(bad); got != 0 {
			t.Errorf("CheckChar(%q) = %q, want 0", bad, got)
		}
	}
}

func TestParseValid(t *testing.T) {
	cases := []struct {
		in      string
		want    string
		region  string
		birth   time.Time
		gender  Gender
		ageThen int
	}{
		{"11010519491231002X", "11010519491231002X", "110105", date(1949, 12, 31), Female, 75},
		{"11010519491231002x", "11010519491231002X", "110105", date(1949, 12, 31), Female, 75},
		{withCheck("51010419900307123"), withCheck("51010419900307123"), "510104", date(1990, 3, 7), Male, 35},
		{withCheck("44030020000229004"), withCheck("44030020000229004"), "440300", date(2000, 2, 29), Female, 25},
		{withCheck("65010019000101001"), withCheck("65010019000101001"), "650100", date(1900, 1, 1), Male, 125},
		{withCheck("83000020250615001"), withCheck("83000020250615001"), "830000", date(2025, 6, 15), Male, 0},
	}
	for _, c := range cases {
		n, err := Parse(c.in, today)
		if err != nil {
			t.Errorf("Parse(%s): %v", c.in, err)
			continue
		}
		if n.String() != c.want {
			t.Errorf("String() = %s, want %s", n, c.want)
		}
		if n.RegionCode() != c.region {
			t.Errorf("RegionCode() = %s, want %s", n.RegionCode(), c.region)
		}
		if !n.BirthDate().Equal(c.birth) || n.BirthDate().Location() != time.UTC {
			t.Errorf("BirthDate() = %v, want %v", n.BirthDate(), c.birth)
		}
		if n.Gender() != c.gender {
			t.Errorf("Gender() = %v, want %v", n.Gender(), c.gender)
		}
		if a := n.Age(today); a != c.ageThen {
			t.Errorf("Age(%s) = %d, want %d", c.in, a, c.ageThen)
		}
	}
}

func date(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }

func TestParseRefusals(t *testing.T) {
	valid := withCheck("51010419900307123")
	cases := []struct {
		name string
		in   string
		want error // specific reason; all must also be ErrInvalid
	}{
		{"empty", "", errLength},
		{"bad checksum", wrongCheck("51010419900307123"), errCheck},
		{"bad checksum X", "11010519491231002" + "1", errCheck},
		{"full-width digits", "５１０１０４１９９００３０７１２３" + string(valid[17]), errLength},
		{"full-width digit same byte len", "５" + valid[3:], errChars},
		{"leading space", " " + valid, errLength},
		{"trailing space", valid + " ", errLength},
		{"leading space same len", " " + valid[1:], errChars},
		{"trailing newline", valid + "\n", errLength},
		{"zero-width space", valid[:6] + "\u200b" + valid[6:], errLength},
		{"zero-width space same len", "\u200b" + valid[3:], errChars},
		{"15 digits legacy", "510104900307123", errLength},
		{"17 digits", valid[:17], errLength},
		{"19 chars", valid + "1", errLength},
		{"letters", "51010419900307ABCD", errChars},
		{"letter in body", "5101041990030712X" + "X", errChars},
		{"check lower y", valid[:17] + "y", errChars},
		{"SQL injection", "' OR 1=1--", errLength},
		{"SQL injection 18", "' OR 1=1--xxxxxxxx", errChars},
		{"NUL byte", valid[:17] + "\x00", errChars},
		{"Feb 30", withCheck("51010419900230123"), errDate},
		{"Feb 29 common year", withCheck("51010419010229123"), errDate},
		{"month 13", withCheck("51010419901301123"), errDate},
		{"month 00", withCheck("51010419900001123"), errDate},
		{"day 00", withCheck("51010419900100123"), errDate},
		{"Apr 31", withCheck("51010419900431123"), errDate},
		{"before 1900", withCheck("51010418991231123"), errEarly},
		{"year 0000", withCheck("51010400000101123"), errEarly},
		{"future date", withCheck("51010420300101123"), errFuture},
		{"tomorrow in Shanghai", withCheck("51010420250616123"), errFuture},
		{"bad province 00", withCheck("00010419900307123"), errProvince},
		{"bad province 10", withCheck("10010419900307123"), errProvince},
		{"bad province 16", withCheck("16010419900307123"), errProvince},
		{"bad province 99", withCheck("99010419900307123"), errProvince},
		{"bad province 91", withCheck("91010419900307123"), errProvince},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := Parse(c.in, today)
			if err == nil {
				t.Fatalf("Parse accepted %q as %s", c.in, n)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if c.want != nil && !errors.Is(err, c.want) && err != c.want {
				t.Errorf("error = %v, want %v", err, c.want)
			}
			if n != (Number{}) {
				t.Errorf("non-zero Number returned with error")
			}
			assertNoLeak(t, err, c.in)
		})
	}
}

// assertNoLeak fails if the error message contains any run of 3+ digits or
// the whole input.
func assertNoLeak(t *testing.T, err error, in string) {
	t.Helper()
	msg := err.Error()
	if in != "" && strings.Contains(msg, in) {
		t.Errorf("error message %q contains the input", msg)
	}
	run := 0
	for _, r := range msg {
		if r >= '0' && r <= '9' {
			run++
			if run >= 3 && !strings.Contains(msg, "1900") {
				t.Errorf("error message %q contains a digit run", msg)
				return
			}
		} else {
			run = 0
		}
	}
	for i := 0; i+4 <= len(in); i++ {
		frag := in[i : i+4]
		if strings.Trim(frag, " ") == "" || frag == "1900" {
			continue
		}
		if strings.Contains(msg, frag) {
			t.Errorf("error message %q contains input fragment %q", msg, frag)
			return
		}
	}
}

func TestFutureDateUsesShanghai(t *testing.T) {
	born := withCheck("51010420250616123") // 16 June 2025
	// 2025-06-15 17:00 UTC is already 16 June 01:00 in Beijing.
	now := time.Date(2025, 6, 15, 17, 0, 0, 0, time.UTC)
	if _, err := Parse(born, now); err != nil {
		t.Errorf("born today (Shanghai) refused: %v", err)
	}
	// 2025-06-15 15:59 UTC is still 15 June in Beijing.
	now = time.Date(2025, 6, 15, 15, 59, 0, 0, time.UTC)
	if _, err := Parse(born, now); !errors.Is(err, errFuture) {
		t.Errorf("born tomorrow (Shanghai) got %v, want future error", err)
	}
}

func TestAge(t *testing.T) {
	n, err := Parse(withCheck("51010419900307123"), today)
	if err != nil {
		t.Fatal(err)
	}
	tz := time.FixedZone("CST", 8*3600)
	cases := []struct {
		at   time.Time
		want int
	}{
		{time.Date(2025, 3, 6, 23, 59, 0, 0, tz), 34},
		{time.Date(2025, 3, 7, 0, 0, 0, 0, tz), 35},
		{time.Date(2025, 3, 6, 16, 0, 0, 0, time.UTC), 35}, // 7 March 00:00 in Beijing
		{time.Date(2025, 3, 6, 15, 59, 0, 0, time.UTC), 34},
		{time.Date(1990, 3, 7, 0, 0, 0, 0, tz), 0},
		{time.Date(1980, 1, 1, 0, 0, 0, 0, tz), 0},
	}
	for _, c := range cases {
		if got := n.Age(c.at); got != c.want {
			t.Errorf("Age(%v) = %d, want %d", c.at, got, c.want)
		}
	}

	leap, err := Parse(withCheck("44030020000229004"), today)
	if err != nil {
		t.Fatal(err)
	}
	if got := leap.Age(time.Date(2021, 2, 28, 12, 0, 0, 0, tz)); got != 20 {
		t.Errorf("leap Age on 28 Feb = %d, want 20", got)
	}
	if got := leap.Age(time.Date(2021, 3, 1, 12, 0, 0, 0, tz)); got != 21 {
		t.Errorf("leap Age on 1 Mar = %d, want 21", got)
	}
}

func TestZeroNumber(t *testing.T) {
	var n Number
	if n.String() != "" || n.RegionCode() != "" || n.Gender() != 0 || n.Age(today) != 0 || !n.BirthDate().IsZero() {
		t.Error("zero Number accessors should return zero values")
	}
}

func TestGenerate(t *testing.T) {
	birth := time.Date(1985, 11, 23, 0, 0, 0, 0, time.UTC)
	for _, g := range []Gender{Male, Female} {
		for _, seq := range []int{-1001, -1, 0, 1, 2, 123, 998, 999, 1000, 12345} {
			s := Generate("320102", birth, seq, g)
			n, err := Parse(s, today)
			if err != nil {
				t.Fatalf("Generate(seq=%d, %v) = %s, not valid: %v", seq, g, s, err)
			}
			if n.Gender() != g {
				t.Errorf("Generate(seq=%d, %v) gender = %v", seq, g, n.Gender())
			}
			if !n.BirthDate().Equal(birth) || n.RegionCode() != "320102" {
				t.Errorf("Generate(seq=%d) = %s: wrong fields", seq, s)
			}
		}
	}
	if got := Generate("110105", date(1949, 12, 31), 2, Female); got != "11010519491231002X" {
		t.Errorf("Generate specimen = %s", got)
	}
	for _, bad := range []string{"", "11010", "1101055", "11010a"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Generate(%q) did not panic", bad)
				}
			}()
			Generate(bad, birth, 1, Male)
		}()
	}
}

func TestGenderString(t *testing.T) {
	if Male.String() != "male" || Female.String() != "female" || Gender(0).String() != "unknown" {
		t.Error("Gender.String")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"11010519491231002X", "11010519491231002x", "110105194912310021",
		withCheck("51010419900307123"), "510104900307123", "' OR 1=1--",
		"５１０１０４１９９００３０７１２３", "\u200b11010519491231002X", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s, today)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if len(s) >= 4 && strings.Contains(err.Error(), s) {
				t.Fatalf("error echoes input")
			}
			return
		}
		out := n.String()
		if len(out) != 18 || out != strings.ToUpper(out) || !strings.EqualFold(out, s) {
			t.Fatalf("String() = %q for input %q", out, s)
		}
		m, err := Parse(out, today)
		if err != nil || m != n {
			t.Fatalf("round trip failed: %q -> %v", out, err)
		}
		if n.Age(today) < 0 || n.BirthDate().After(today) || n.RegionCode() != out[:6] {
			t.Fatalf("inconsistent accessors for %q", out)
		}
		if g := n.Gender(); g != Male && g != Female {
			t.Fatalf("bad gender %v", g)
		}
	})
}

func TestUpgrade(t *testing.T) {
	// 15-digit 110105491231002 is 11010519491231002X in the 18-character form (GB 11643 annex example).
	n, err := Upgrade("110105491231002", today)
	if err != nil || n.String() != "11010519491231002X" {
		t.Fatalf("Upgrade = %q, %v", n.String(), err)
	}
	if n.Gender() != Female || n.BirthDate().Year() != 1949 {
		t.Fatalf("gender %v, birth %v", n.Gender(), n.BirthDate())
	}
	for _, bad := range []string{"", "11010549123100", "1101054912310021", "11010549123100X", "110105491331002", "990105491231002", "１10105491231002"} {
		if _, err := Upgrade(bad, today); !errors.Is(err, ErrInvalid) {
			t.Errorf("Upgrade(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	got, up, err := ParseAny("110105491231002", today)
	if err != nil || !up || got != n {
		t.Fatalf("ParseAny 15 = %v %v %v", got, up, err)
	}
	got, up, err = ParseAny("11010519491231002x", today)
	if err != nil || up || got != n {
		t.Fatalf("ParseAny 18 = %v %v %v", got, up, err)
	}
}

func FuzzUpgrade(f *testing.F) {
	for _, s := range []string{"110105491231002", "510104900307123", "000000000000000", "11010549123100X", "", "5101049002291231"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Upgrade(s, today)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if len(s) >= 4 && strings.Contains(err.Error(), s) {
				t.Fatalf("error echoes input")
			}
			return
		}
		out := n.String()
		if len(out) != 18 || out[:6] != s[:6] || out[6:8] != "19" || out[8:17] != s[6:] {
			t.Fatalf("Upgrade(%q) = %q", s, out)
		}
		if m, err := Parse(out, today); err != nil || m != n {
			t.Fatalf("upgraded %q does not parse: %v", out, err)
		}
		if m, up, err := ParseAny(s, today); err != nil || !up || m != n {
			t.Fatalf("ParseAny(%q) disagrees: %v %v", s, up, err)
		}
	})
}
