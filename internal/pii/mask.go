package pii

import "strings"

// MaskIDNumber masks an identity number for display, keeping the first 6 and
// last 4 characters: "510104********123X". Inputs shorter than 18
// characters are masked entirely. The result has one character per input
// character (counted in runes).
func MaskIDNumber(s string) string {
	r := []rune(s)
	if len(r) < 18 {
		return strings.Repeat("*", len(r))
	}
	return keepEnds(r, 6, 4)
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
