// Package creditcode validates unified social credit codes (GB 32100-2015).
//
// A code is 18 characters from the 31-character alphabet
// 0-9 A-H J-N P-R T-U W-Y (the letters I, O, Z, S and V are never used).
// The last character is a weighted MOD 31 check character over the first 17.
// Parsing is strict: lower-case letters, surrounding spaces and any other
// characters are refused, and error messages never contain the input.
package creditcode

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every error returned by Parse and CheckChar, so
// callers can test for it with errors.Is. Messages never contain the input.
var ErrInvalid = errors.New("invalid unified social credit code")

var (
	errLength = fmt.Errorf("%w: must be exactly 18 characters", ErrInvalid)
	errChars  = fmt.Errorf("%w: contains a character outside the code alphabet", ErrInvalid)
	errCheck  = fmt.Errorf("%w: check character does not match", ErrInvalid)
	errPrefix = fmt.Errorf("%w: check input must be exactly 17 characters", ErrInvalid)
)

// alphabet lists the code characters in value order (0..30).
const alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// weights are the GB 32100-2015 weights for positions 1..17 (3^i mod 31).
var weights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// values maps an ASCII byte to its value in alphabet, or -1.
var values = func() (v [256]int8) {
	for i := range v {
		v[i] = -1
	}
	for i := 0; i < len(alphabet); i++ {
		v[alphabet[i]] = int8(i)
	}
	return v
}()

// CheckChar computes the check character for the first 17 characters of a
// code. It returns an error wrapping ErrInvalid if first17 is not exactly 17
// characters from the code alphabet (upper-case only).
func CheckChar(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, errPrefix
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := values[first17[i]]
		if v < 0 {
			return 0, errChars
		}
		sum += int(v) * weights[i]
	}
	return alphabet[(31-sum%31)%31], nil
}

// Parse validates s and returns it unchanged as the canonical code. Every
// error wraps ErrInvalid and never contains any part of s.
func Parse(s string) (string, error) {
	if len(s) != 18 {
		return "", errLength
	}
	for i := 0; i < 18; i++ {
		if values[s[i]] < 0 {
			return "", errChars
		}
	}
	c, err := CheckChar(s[:17])
	if err != nil {
		return "", err
	}
	if c != s[17] {
		return "", errCheck
	}
	return s, nil
}

// Generate returns a valid code derived deterministically from seed, for
// tests and demo data. Distinct seeds in 0..99,999,999 give distinct codes.
// The code uses registration authority 9 (industry and commerce), type 1
// (enterprise), region 110000 and a GB 11714-style organisation code whose
// own check digit is correct.
func Generate(seed int) string {
	n := uint64(seed) % 100_000_000
	org := []byte(fmt.Sprintf("%08d", n))
	org = append(org, orgCheck(org))
	first17 := "91" + "110000" + string(org)
	c, err := CheckChar(first17)
	if err != nil {
		panic("creditcode.Generate: " + err.Error()) // unreachable: digits only
	}
	return first17 + string(c)
}

// orgCheck computes the GB 11714 check character for an 8-digit body.
func orgCheck(body []byte) byte {
	w := [8]int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, b := range body {
		sum += int(b-'0') * w[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X'
	case 11:
		return '0'
	default:
		return byte('0' + c)
	}
}
