package proxy

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Codes handed across a counter or from one phone to another: ten
// characters of an alphabet without look-alikes (no 0/O, 1/I/L), fifty
// bits, shown as XXXXX-XXXXX. Only their SHA-256 is stored.

const codeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// CodeLen is how many characters a code has (without the dash).
const CodeLen = 10

// NewCode draws a code.
func NewCode() string {
	b := make([]byte, CodeLen)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	out := make([]byte, 0, CodeLen+1)
	for i, x := range b {
		if i == CodeLen/2 {
			out = append(out, '-')
		}
		// 256 is not a multiple of 31: a slight bias, harmless at 50 bits.
		out = append(out, codeAlphabet[int(x)%len(codeAlphabet)])
	}
	return string(out)
}

// NormalizeCode reads a typed code: case, spaces and dashes do not matter.
// It answers false for anything that cannot be a code.
func NormalizeCode(s string) (string, bool) {
	if len(s) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == ' ' || r == '-' || r == '\t':
		case strings.ContainsRune(codeAlphabet, r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != CodeLen {
		return "", false
	}
	return b.String(), true
}

// HashCode is what is stored of a normalized code, in hex: SQL reads it
// as decode(?, 'hex') (GORM would spread a []byte over several
// placeholders).
func HashCode(normalized string) string {
	h := sha256.Sum256([]byte(normalized))
	return hex.EncodeToString(h[:])
}
