package pii

import "strings"

// maxPhoneInput bounds the input NormalizePhone will look at.
const maxPhoneInput = 32

// NormalizePhone validates a mainland China phone number and returns its
// digits only. Surrounding whitespace is ignored. Accepted forms:
//
//   - a mobile number, 11 digits starting with 13-19, optionally prefixed by
//     "+86" or "86", with any spaces or dashes ("+86 138-1234-5678");
//   - a fixed-line number: a local number of 7 or 8 digits starting with 2-9,
//     optionally preceded by an area code of 0 plus 2 or 3 digits and an
//     optional '-' ("010-12345678", "075512345678", "23456789").
//
// The result is 7 to 12 ASCII digits, and normalising it again returns it
// unchanged. Any other input gives ErrInvalidPhone, whose message never
// contains the input.
func NormalizePhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxPhoneInput {
		return "", ErrInvalidPhone
	}
	if m, ok := mobile(s); ok {
		return m, nil
	}
	if f, ok := fixedLine(s); ok {
		return f, nil
	}
	return "", ErrInvalidPhone
}

// mobile recognises a mainland mobile number with optional +86/86 prefix
// and spaces or dashes between digits.
func mobile(s string) (string, bool) {
	plus := strings.HasPrefix(s, "+")
	if plus {
		s = s[1:]
	}
	if s == "" || !isDigit(s[0]) || !isDigit(s[len(s)-1]) {
		return "", false
	}
	d := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			d = append(d, c)
		case c == ' ' || c == '-':
		default:
			return "", false
		}
	}
	switch {
	case len(d) == 13 && d[0] == '8' && d[1] == '6':
		d = d[2:]
	case plus:
		return "", false // '+' must introduce the 86 country code
	}
	if len(d) != 11 || d[0] != '1' || d[1] < '3' || d[1] > '9' {
		return "", false
	}
	return string(d), true
}

// fixedLine recognises [0AA(A)[-]]LLLLLLL(L) where L starts with 2-9.
func fixedLine(s string) (string, bool) {
	area, local, hasDash := strings.Cut(s, "-")
	if !hasDash {
		area, local = "", s
	}
	if !allDigits(area) || !allDigits(local) {
		return "", false
	}
	if hasDash {
		if !validArea(area) || !validLocal(local) {
			return "", false
		}
		return area + local, true
	}
	// No separator: try no area code, then 3- and 4-digit area codes.
	if validLocal(s) {
		return s, true
	}
	for _, n := range []int{3, 4} {
		if len(s) > n && validArea(s[:n]) && validLocal(s[n:]) {
			return s, true
		}
	}
	return "", false
}

// validArea accepts 0 followed by 2 or 3 digits, the first of them non-zero
// ("00" is the international call prefix).
func validArea(a string) bool {
	return (len(a) == 3 || len(a) == 4) && a[0] == '0' && a[1] != '0'
}

func validLocal(l string) bool {
	return (len(l) == 7 || len(l) == 8) && l[0] >= '2' && l[0] <= '9'
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
