package disability

import (
	"errors"
	"strings"
)

// Number is a parsed 残疾人证号: the holder's 18-character ID number, then
// the category digit (1-7) and the grade digit (1-4). The parser checks the
// shape only; whether the digits agree with the holder, category and grade
// is the service's decision, so each disagreement is reported on its field.
type Number struct {
	// IDNumber is the first 18 characters, with a trailing x upper-cased.
	IDNumber string
	// CategoryDigit and GradeDigit are the 19th and 20th characters (0-9).
	CategoryDigit int
	GradeDigit    int
}

// ErrNumberShape is returned for anything that is not 17 digits, a digit or
// X, and two more digits.
var ErrNumberShape = errors.New("a disability certificate number is the holder's 18-character ID number followed by the category digit and the grade digit (20 characters)")

// NumberLength is the length of a certificate number.
const NumberLength = 20

// ParseNumber parses a certificate number. Surrounding spaces are ignored.
func ParseNumber(s string) (Number, error) {
	s = strings.TrimSpace(s)
	if len(s) != NumberLength {
		return Number{}, ErrNumberShape
	}
	for i := 0; i < NumberLength; i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			continue
		}
		if i == 17 && (c == 'X' || c == 'x') {
			continue
		}
		return Number{}, ErrNumberShape
	}
	return Number{
		IDNumber:      strings.ToUpper(s[:18]),
		CategoryDigit: int(s[18] - '0'),
		GradeDigit:    int(s[19] - '0'),
	}, nil
}

// String is the normalized number.
func (n Number) String() string {
	return n.IDNumber + string(rune('0'+n.CategoryDigit)) + string(rune('0'+n.GradeDigit))
}
