package pii

import "strings"

// MaskIDNumber masks an identity number for display, keeping only the
// first 6 characters, the region where the number was issued:
// "510104************". Inputs shorter than 18 characters are masked
// entirely. The result has one character per input character (counted in
// runes).
//
// Why only the region: the other twelve are the birth date (8), the
// sequence (3, its last digit the gender) and the check digit. The old mask
// kept the last 4 as well, and anyone who also read the birth date got the
// whole number back. Roles without the full number now read age rather
// than birth date, but the mask must hold even against a birth date learnt
// elsewhere (or from watching age change on the birthday): with region,
// birth date and gender known, 500 sequences remain, each testable only
// through the audited, throttled look-up by ID number. Showing the check
// digit would cut that to about 45. This is the one mask of an ID number;
// certificate numbers (ID number + two digits) use it for their first 18.
func MaskIDNumber(s string) string {
	r := []rune(s)
	if len(r) < 18 {
		return strings.Repeat("*", len(r))
	}
	// Migration 00085 re-masked the stored masks with the same 6.
	return keepEnds(r, 6, 0)
}

// MaskPhone masks a phone number for display. An 11-character number keeps
// its first 3 and last 4 characters ("138****5678"); other numbers of at
// least 7 characters keep the first 3 and last 2; shorter ones are masked
// entirely. The result has one character per input character (counted in
// runes).
func MaskPhone(s string) string {
	r := []rune(s)
	switch {
	case len(r) == 11:
		return keepEnds(r, 3, 4)
	case len(r) >= 7:
		return keepEnds(r, 3, 2)
	default:
		return strings.Repeat("*", len(r))
	}
}

// keepEnds returns r with all but the first head and last tail runes
// replaced by '*'. len(r) must be at least head+tail.
func keepEnds(r []rune, head, tail int) string {
	var b strings.Builder
	b.Grow(len(r) + 8)
	b.WriteString(string(r[:head]))
	b.WriteString(strings.Repeat("*", len(r)-head-tail))
	b.WriteString(string(r[len(r)-tail:]))
	return b.String()
}
