package auth

import (
	"strings"
	"unicode/utf8"

	"github.com/jinjiang/residents/internal/problem"
)

// Password length bounds, in characters.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 128
)

// commonPasswords are passwords long enough for the length rule that
// guessing lists try first; refused whatever the account.
var commonPasswords = map[string]bool{
	"1234567890": true, "12345678910": true, "123456789a": true, "a123456789": true, "0123456789": true,
	"1qaz2wsx3edc": true, "qwertyuiop": true, "qwerty12345": true, "qwerty123456": true, "1q2w3e4r5t": true,
	"password12": true, "password123": true, "password1234": true, "passw0rd123": true, "p@ssw0rd123": true,
	"admin12345": true, "admin123456": true, "administrator": true, "iloveyou123": true, "woaini1314": true,
	"abc1234567": true, "abcd123456": true, "abcdefghij": true, "aa123456789": true, "asdfghjkl1": true,
	"changeme123": true, "welcome123": true, "letmein123": true, "1314520520": true, "5201314520": true,
}

// CheckPassword applies the password rules to a new password for username:
// length (INVALID), then WEAK_PASSWORD for one that is the username or
// little more (fewer than 6 characters besides it: clerk2024!), is a few
// characters repeated, a run like 1234567890, or a well-known password.
// field is the input path the userError points at.
func CheckPassword(username, password string, field ...string) *problem.UserError {
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLen || n > MaxPasswordLen {
		return problem.New(problem.Invalid, "密码长度须为10至128个字符 (a password must be 10 to 128 characters)", field...)
	}
	lower := strings.ToLower(password)
	if u := strings.ToLower(strings.TrimSpace(username)); u != "" && utf8.RuneCountInString(strings.ReplaceAll(lower, u, "")) < 6 {
		return problem.New(problem.WeakPassword, "密码不能是用户名或用户名加少量字符 (a password must not be the username, or the username with a few characters added)", field...)
	}
	if distinct(lower) < 4 || monotone(lower) {
		return problem.New(problem.WeakPassword, "密码过于简单，请勿使用重复或连续的字符 (a password must not be a repeated or consecutive run of characters)", field...)
	}
	if commonPasswords[lower] {
		return problem.New(problem.WeakPassword, "该密码过于常见，请换一个 (this password is too common)", field...)
	}
	return nil
}

// distinct counts the different characters of s.
func distinct(s string) int {
	seen := map[rune]bool{}
	for _, r := range s {
		seen[r] = true
	}
	return len(seen)
}

// monotone reports whether s steps by the same +1 or -1 throughout
// ("abcdefghij", "9876543210").
func monotone(s string) bool {
	rs := []rune(s)
	step := rs[1] - rs[0]
	if step != 1 && step != -1 {
		return false
	}
	for i := 2; i < len(rs); i++ {
		if rs[i]-rs[i-1] != step {
			return false
		}
	}
	return true
}
