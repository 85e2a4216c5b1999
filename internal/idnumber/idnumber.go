// Package idnumber parses and validates 18-character resident identity
// numbers (GB 11643-1999).
//
// Parsing is deliberately strict: the input must be exactly 17 ASCII digits
// followed by a check character (an ASCII digit or 'X'/'x'). Nothing is
// trimmed or normalised, so full-width digits, spaces, zero-width characters
// and the legacy 15-digit form are all refused by Parse; Upgrade converts a
// 15-digit number explicitly, so that a caller knows (and can tell the user)
// that it did. Error messages never contain the input or any part of it.
package idnumber

import (
	"errors"
	"fmt"
	"time"
)

// Gender is the sex encoded in the 17th digit of a resident identity number.
type Gender int

const (
	// Male is encoded by an odd 17th digit.
	Male Gender = 1
	// Female is encoded by an even 17th digit.
	Female Gender = 2
)

// String returns "male", "female" or "unknown".
func (g Gender) String() string {
	switch g {
	case Male:
		return "male"
	case Female:
		return "female"
	default:
		return "unknown"
	}
}

// length is the number of characters in a resident identity number.
const length = 18

// minBirthYear is the earliest accepted year of birth.
const minBirthYear = 1900

// ErrInvalid is wrapped by every error returned by Parse, so callers can test
// for it with errors.Is. Error messages never contain the rejected input.
var ErrInvalid = errors.New("invalid resident identity number")

// Reasons for refusal. They are wrapped together with ErrInvalid and never
// include any part of the input.
var (
	errLength   = reason("must be exactly 18 characters")
	errChars    = reason("must be 17 digits followed by a digit or X")
	errProvince = reason("unknown province code")
	errDate     = reason("birth date is not a valid date")
	errEarly    = reason("birth date is before 1900")
	errFuture   = reason("birth date is in the future")
	errCheck    = reason("check character does not match")
)

func reason(msg string) error { return fmt.Errorf("%w: %s", ErrInvalid, msg) }

// provinces holds the two-digit province-level codes of GB/T 2260, plus 83,
// which GB 11643 numbers on residence permits for Taiwan residents use
// (81 and 82 serve Hong Kong and Macao residents).
var provinces = map[string]bool{
	"11": true, "12": true, "13": true, "14": true, "15": true,
	"21": true, "22": true, "23": true,
	"31": true, "32": true, "33": true, "34": true, "35": true, "36": true, "37": true,
	"41": true, "42": true, "43": true, "44": true, "45": true, "46": true,
	"50": true, "51": true, "52": true, "53": true, "54": true,
	"61": true, "62": true, "63": true, "64": true, "65": true,
	"71": true, "81": true, "82": true, "83": true,
}

// shanghai is the zone in which "today" and ages are evaluated. If the
// system has no time zone database, a fixed UTC+8 zone is used, which matches
// Asia/Shanghai for every date since 1991.
var shanghai = func() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	return time.FixedZone("CST", 8*60*60)
}()

// weights are the ISO 7064 MOD 11-2 weights for positions 1..17.
var weights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// checkChars maps (sum mod 11) to the check character.
const checkChars = "10X98765432"

// Number is a validated resident identity number. Its zero value is not a
// valid number; obtain one from Parse.
type Number struct {
	raw string // canonical: 17 digits and an upper-case check character
}

// CheckChar computes the GB 11643 (ISO 7064 MOD 11-2) check character for
// the first 17 digits of a number. It returns 0 if first17 is not exactly 17
// ASCII digits.
func CheckChar(first17 string) byte {
	if len(first17) != 17 {
		return 0
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := first17[i]
		if c < '0' || c > '9' {
			return 0
		}
		sum += int(c-'0') * weights[i]
	}
	return checkChars[sum%11]
}

// Parse validates s and returns the canonical Number. today is the current
// time; the birth date must not be later than today's date in Asia/Shanghai.
// A lower-case 'x' check character is accepted and stored upper-case.
// Every error wraps ErrInvalid and never contains any part of s.
func Parse(s string, today time.Time) (Number, error) {
	if len(s) != length {
		return Number{}, errLength
	}
	for i := 0; i < 17; i++ {
		if s[i] < '0' || s[i] > '9' {
			return Number{}, errChars
		}
	}
	last := s[17]
	switch {
	case last >= '0' && last <= '9', last == 'X':
	case last == 'x':
		last = 'X'
	default:
		return Number{}, errChars
	}
	if !provinces[s[:2]] {
		return Number{}, errProvince
	}
	y, m, d := atoi(s[6:10]), atoi(s[10:12]), atoi(s[12:14])
	if !validDate(y, m, d) {
		return Number{}, errDate
	}
	if y < minBirthYear {
		return Number{}, errEarly
	}
	ty, tm, td := today.In(shanghai).Date()
	if dateAfter(y, m, d, ty, int(tm), td) {
		return Number{}, errFuture
	}
	if CheckChar(s[:17]) != last {
		return Number{}, errCheck
	}
	return Number{raw: s[:17] + string(last)}, nil
}

// String returns the canonical 18-character form (upper-case check
// character), or "" for the zero Number. The result is the full, unmasked
// number: mask it before logging or display.
func (n Number) String() string { return n.raw }

// BirthDate returns the birth date at midnight UTC, so that its Year, Month
// and Day are the calendar date encoded in the number. It returns the zero
// time for the zero Number.
func (n Number) BirthDate() time.Time {
	if len(n.raw) != length {
		return time.Time{}
	}
	y, m, d := atoi(n.raw[6:10]), atoi(n.raw[10:12]), atoi(n.raw[12:14])
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
}

// Gender returns Male if the 17th digit is odd and Female if it is even. It
// returns 0 for the zero Number.
func (n Number) Gender() Gender {
	if len(n.raw) != length {
		return 0
	}
	if (n.raw[16]-'0')%2 == 1 {
		return Male
	}
	return Female
}

// Age returns the number of full years between the birth date and today's
// date in Asia/Shanghai. Someone born on 29 February gains a year on 1 March
// in common years. It returns 0 if today is before the birth date or n is the
// zero Number.
func (n Number) Age(today time.Time) int {
	if len(n.raw) != length {
		return 0
	}
	by, bm, bd := atoi(n.raw[6:10]), atoi(n.raw[10:12]), atoi(n.raw[12:14])
	ty, tmm, td := today.In(shanghai).Date()
	tm := int(tmm)
	age := ty - by
	if tm < bm || (tm == bm && td < bd) {
		age--
	}
	if age < 0 {
		return 0
	}
	return age
}

// RegionCode returns the six-digit administrative division code (the first
// six characters), or "" for the zero Number.
func (n Number) RegionCode() string {
	if len(n.raw) != length {
		return ""
	}
	return n.raw[:6]
}

// Generate builds a valid number from a six-digit region code, a birth date
// (its Year, Month and Day in its own location are used), a sequence number
// and a gender. seq is reduced modulo 1000 and then moved by one, if needed,
// so that its last digit is odd for Male and even for Female. It is meant for
// tests and demo data. Generate panics if region is not six ASCII digits or
// the birth year is outside 0..9999; it does not check the province code or
// the date range that Parse enforces.
func Generate(region string, birth time.Time, seq int, gender Gender) string {
	if len(region) != 6 {
		panic("idnumber.Generate: region must be 6 digits")
	}
	for i := 0; i < 6; i++ {
		if region[i] < '0' || region[i] > '9' {
			panic("idnumber.Generate: region must be 6 digits")
		}
	}
	y, m, d := birth.Date()
	if y < 0 || y > 9999 {
		panic("idnumber.Generate: birth year out of range")
	}
	seq %= 1000
	if seq < 0 {
		seq += 1000
	}
	odd := seq%2 == 1
	switch {
	case gender == Male && !odd:
		seq++ // even 0..998 -> odd 1..999
	case gender != Male && odd:
		seq-- // odd 1..999 -> even 0..998
	}
	first17 := fmt.Sprintf("%s%04d%02d%02d%03d", region, y, int(m), d, seq)
	return first17 + string(CheckChar(first17))
}

// atoi converts a short run of ASCII digits (already validated) to an int.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// validDate reports whether y-m-d is a real proleptic Gregorian date.
func validDate(y, m, d int) bool {
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	return d <= daysIn(y, m)
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	default:
		return 31
	}
}

// dateAfter reports whether date a is strictly after date b.
func dateAfter(ay, am, ad, by, bm, bd int) bool {
	if ay != by {
		return ay > by
	}
	if am != bm {
		return am > bm
	}
	return ad > bd
}

// legacyLength is the length of a first-generation (1984-2004) number:
// region, birth date as YYMMDD, sequence; no century, no check character.
const legacyLength = 15

var errLegacy = reason("a 15-digit number must be 15 ASCII digits")

// Upgrade converts a first-generation 15-digit number to the 18-character
// form GB 11643-1999 defines: the century 19 inserted before the
// two-digit birth year (the 15-digit form was issued only to people born
// in the 1900s), then the check character. The result is validated like
// Parse's (province, date, not in the future), so only a number that
// names a real person's birth date converts. Every error wraps ErrInvalid
// and never contains any part of s.
func Upgrade(s string, today time.Time) (Number, error) {
	if len(s) != legacyLength {
		return Number{}, errLegacy
	}
	for i := 0; i < legacyLength; i++ {
		if s[i] < '0' || s[i] > '9' {
			return Number{}, errLegacy
		}
	}
	first17 := s[:6] + "19" + s[6:]
	return Parse(first17+string(CheckChar(first17)), today)
}

// ParseAny is Parse for an 18-character number and Upgrade for a 15-digit
// one; upgraded says which. Counters meet both: old registers and
// household books still carry 15-digit numbers.
func ParseAny(s string, today time.Time) (n Number, upgraded bool, err error) {
	if len(s) == legacyLength {
		n, err = Upgrade(s, today)
		return n, err == nil, err
	}
	n, err = Parse(s, today)
	return n, false, err
}
