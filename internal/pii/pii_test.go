package pii

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/idnumber"
)

func secret(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func mustKeyring(t *testing.T, keys ...Key) *Keyring {
	t.Helper()
	kr, err := NewKeyring(keys, secret(0xEE))
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return kr
}

const aadID = "resident.id_number"

func TestRoundTrip(t *testing.T) {
	kr := mustKeyring(t, Key{ID: "k1", Secret: secret(1)})
	for _, pt := range []string{"", "11010519491231002X", "张三", strings.Repeat("x", 10000), "a\x00b"} {
		ct, err := kr.Encrypt(pt, aadID)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ct, "v1:k1:") {
			t.Errorf("ciphertext %q lacks header", ct)
		}
		if pt != "" && strings.Contains(ct, pt) {
			t.Errorf("ciphertext contains plaintext")
		}
		payload := strings.TrimPrefix(ct, "v1:k1:")
		raw, err := base64.StdEncoding.DecodeString(payload)
		if err != nil || len(raw) != 12+len(pt)+16 {
			t.Errorf("payload: len %d, err %v", len(raw), err)
		}
		got, err := kr.Decrypt(ct, aadID)
		if err != nil || got != pt {
			t.Errorf("Decrypt = %q, %v", got, err)
		}
		id, err := kr.KeyID(ct)
		if err != nil || id != "k1" {
			t.Errorf("KeyID = %q, %v", id, err)
		}
	}
	a, _ := kr.Encrypt("same", aadID)
	b, _ := kr.Encrypt("same", aadID)
	if a == b {
		t.Error("two encryptions of the same plaintext are identical")
	}
}

func TestRotation(t *testing.T) {
	old := Key{ID: "2024", Secret: secret(1)}
	nw := Key{ID: "2025", Secret: secret(2)}
	oldRing := mustKeyring(t, old)
	ct, err := oldRing.Encrypt("13812345678", "resident.phone")
	if err != nil {
		t.Fatal(err)
	}
	ring := mustKeyring(t, nw, old)
	if ring.PrimaryKeyID() != "2025" {
		t.Fatalf("PrimaryKeyID = %q", ring.PrimaryKeyID())
	}
	id, err := ring.KeyID(ct)
	if err != nil || id != "2024" {
		t.Fatalf("KeyID = %q, %v; want 2024", id, err)
	}
	pt, err := ring.Decrypt(ct, "resident.phone")
	if err != nil || pt != "13812345678" {
		t.Fatalf("Decrypt old value = %q, %v", pt, err)
	}
	ct2, err := ring.Encrypt(pt, "resident.phone")
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := ring.KeyID(ct2); id != "2025" {
		t.Errorf("re-encrypted KeyID = %q", id)
	}
	// The old keyring cannot read values written with the new key.
	if _, err := oldRing.Decrypt(ct2, "resident.phone"); !errors.Is(err, ErrDecrypt) {
		t.Errorf("old ring decrypted new value: %v", err)
	}
	if _, err := oldRing.KeyID(ct2); !errors.Is(err, ErrDecrypt) {
		t.Errorf("old ring KeyID of unknown key: %v", err)
	}
	// Same id but a different secret must fail authentication.
	impostor := mustKeyring(t, Key{ID: "2024", Secret: secret(3)})
	if _, err := impostor.Decrypt(ct, "resident.phone"); !errors.Is(err, ErrDecrypt) {
		t.Errorf("wrong secret: %v", err)
	}
}

func TestTamperAndMalformed(t *testing.T) {
	kr := mustKeyring(t, Key{ID: "k1", Secret: secret(1)}, Key{ID: "k2", Secret: secret(2)})
	const pt = "51010419900307123X"
	ct, err := kr.Encrypt(pt, aadID)
	if err != nil {
		t.Fatal(err)
	}
	payload := strings.TrimPrefix(ct, "v1:k1:")
	raw, _ := base64.StdEncoding.DecodeString(payload)
	for i := range raw {
		mod := append([]byte(nil), raw...)
		mod[i] ^= 0x01
		bad := "v1:k1:" + base64.StdEncoding.EncodeToString(mod)
		if _, err := kr.Decrypt(bad, aadID); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("bit flip at %d not detected: %v", i, err)
		}
	}
	cases := map[string]string{
		"wrong key id header": "v1:k2:" + payload,
		"unknown key id":      "v1:zz:" + payload,
		"other version":       "v2:k1:" + payload,
		"no version":          payload,
		"empty":               "",
		"missing payload sep": "v1:k1",
		"empty id":            "v1::" + payload,
		"bad base64":          "v1:k1:!!!" + payload,
		"raw base64":          "v1:k1:" + strings.TrimRight(payload, "="),
		"truncated":           "v1:k1:" + base64.StdEncoding.EncodeToString(raw[:len(raw)-1]),
		"too short":           "v1:k1:" + base64.StdEncoding.EncodeToString(raw[:27]),
		"appended":            ct + "AAAA",
		"whitespace":          " " + ct,
	}
	for name, in := range cases {
		got, err := kr.Decrypt(in, aadID)
		if !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: Decrypt = %q, %v; want ErrDecrypt", name, got, err)
			continue
		}
		if len(payload) > 8 && strings.Contains(err.Error(), payload[:8]) {
			t.Errorf("%s: error echoes ciphertext", name)
		}
		if strings.Contains(err.Error(), pt) {
			t.Errorf("%s: error echoes plaintext", name)
		}
	}
}

func TestWrongAAD(t *testing.T) {
	kr := mustKeyring(t, Key{ID: "k1", Secret: secret(1)})
	ct, err := kr.Encrypt("secret value", "resident.id_number")
	if err != nil {
		t.Fatal(err)
	}
	for _, aad := range []string{"", "resident.phone", "resident.id_number ", "RESIDENT.ID_NUMBER"} {
		if _, err := kr.Decrypt(ct, aad); !errors.Is(err, ErrDecrypt) {
			t.Errorf("Decrypt with aad %q: %v", aad, err)
		}
	}
}

func TestBlindIndex(t *testing.T) {
	kr := mustKeyring(t, Key{ID: "k1", Secret: secret(1)})
	a := kr.BlindIndex("resident.id_number", "11010519491231002X")
	if len(a) != 32 {
		t.Fatalf("len = %d", len(a))
	}
	if !bytes.Equal(a, kr.BlindIndex("resident.id_number", "11010519491231002X")) {
		t.Error("blind index not stable")
	}
	// A keyring with different encryption keys but the same index key agrees.
	other := mustKeyring(t, Key{ID: "k9", Secret: secret(9)})
	if !bytes.Equal(a, other.BlindIndex("resident.id_number", "11010519491231002X")) {
		t.Error("blind index depends on encryption keys")
	}
	if bytes.Equal(a, kr.BlindIndex("resident.phone", "11010519491231002X")) {
		t.Error("blind index not separated by purpose")
	}
	if bytes.Equal(a, kr.BlindIndex("resident.id_number", "11010519491231002x")) {
		t.Error("distinct values collide")
	}
	// The NUL separator prevents shifting bytes between purpose and value.
	if bytes.Equal(kr.BlindIndex("ab", "c"), kr.BlindIndex("a", "bc")) {
		t.Error("purpose/value boundary ambiguous")
	}
	// Different index keys give different digests.
	kr2, err := NewKeyring([]Key{{ID: "k1", Secret: secret(1)}}, secret(0xDD))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, kr2.BlindIndex("resident.id_number", "11010519491231002X")) {
		t.Error("blind index ignores index key")
	}
	// The caller may modify the result without affecting later calls.
	a[0] ^= 0xFF
	if bytes.Equal(a, kr.BlindIndex("resident.id_number", "11010519491231002X")) {
		t.Error("result aliases internal state")
	}
}

func TestNewKeyringErrors(t *testing.T) {
	good := Key{ID: "k1", Secret: secret(1)}
	cases := map[string]struct {
		keys  []Key
		index []byte
	}{
		"no keys":         {nil, secret(0xEE)},
		"short index":     {[]Key{good}, secret(0xEE)[:16]},
		"nil index":       {[]Key{good}, nil},
		"empty id":        {[]Key{{ID: "", Secret: secret(1)}}, secret(0xEE)},
		"colon id":        {[]Key{{ID: "a:b", Secret: secret(1)}}, secret(0xEE)},
		"comma id":        {[]Key{{ID: "a,b", Secret: secret(1)}}, secret(0xEE)},
		"long id":         {[]Key{{ID: strings.Repeat("a", 33), Secret: secret(1)}}, secret(0xEE)},
		"duplicate id":    {[]Key{good, {ID: "k1", Secret: secret(2)}}, secret(0xEE)},
		"short key":       {[]Key{{ID: "k1", Secret: secret(1)[:31]}}, secret(0xEE)},
		"long key":        {[]Key{{ID: "k1", Secret: append(secret(1), 1)}}, secret(0xEE)},
		"AES-128 key":     {[]Key{{ID: "k1", Secret: secret(1)[:16]}}, secret(0xEE)},
		"index == enc":    {[]Key{good}, secret(1)},
		"second key bad":  {[]Key{good, {ID: "k2", Secret: nil}}, secret(0xEE)},
		"second id empty": {[]Key{good, {ID: "", Secret: secret(2)}}, secret(0xEE)},
	}
	for name, c := range cases {
		kr, err := NewKeyring(c.keys, c.index)
		if err == nil || kr != nil {
			t.Errorf("%s: NewKeyring succeeded", name)
			continue
		}
		if !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: %v does not wrap ErrInvalidKey", name, err)
		}
	}
}

func TestNewKeyringCopiesSecrets(t *testing.T) {
	s := secret(1)
	idx := secret(0xEE)
	kr, err := NewKeyring([]Key{{ID: "k1", Secret: s}}, idx)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := kr.Encrypt("x", "p")
	bi := kr.BlindIndex("p", "x")
	s[0] ^= 0xFF
	idx[0] ^= 0xFF
	if pt, err := kr.Decrypt(ct, "p"); err != nil || pt != "x" {
		t.Errorf("keyring affected by caller mutating secret: %v", err)
	}
	if !bytes.Equal(bi, kr.BlindIndex("p", "x")) {
		t.Error("keyring affected by caller mutating index key")
	}
}

func TestParseKeys(t *testing.T) {
	s1, s2 := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(s1)
	_, _ = rand.Read(s2)
	b1, b2 := base64.StdEncoding.EncodeToString(s1), base64.StdEncoding.EncodeToString(s2)
	keys, err := ParseKeys("2025-01:" + b1 + ", old_key:" + base64.RawStdEncoding.EncodeToString(s2) + " ")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != "2025-01" || keys[1].ID != "old_key" ||
		!bytes.Equal(keys[0].Secret, s1) || !bytes.Equal(keys[1].Secret, s2) {
		t.Fatalf("ParseKeys = %v", keys)
	}
	if _, err := NewKeyring(keys, secret(0xEE)); err != nil {
		t.Fatal(err)
	}

	short := base64.StdEncoding.EncodeToString(s1[:31])
	long := base64.StdEncoding.EncodeToString(append(append([]byte(nil), s1...), s2...))
	bad := map[string]string{
		"empty":              "",
		"blank":              "   ",
		"no colon":           b1,
		"empty id":           ":" + b1,
		"bad id":             "k 1:" + b1,
		"bad base64":         "k1:" + b1[:20] + "!!" + b1[22:],
		"url base64":         "k1:" + strings.NewReplacer("+", "-", "/", "_").Replace(b1) + "-_",
		"short key":          "k1:" + short,
		"long key":           "k1:" + long,
		"empty secret":       "k1:",
		"duplicate id":       "k1:" + b1 + ",k1:" + b2,
		"trailing comma":     "k1:" + b1 + ",",
		"secret as id":       strings.TrimRight(b1, "=") + ":" + b2,
		"swapped":            b1 + ":k1",
		"secret with spaces": "k1:" + b1[:10] + " " + b1[10:],
	}
	for name, in := range bad {
		keys, err := ParseKeys(in)
		if err == nil {
			t.Errorf("%s: ParseKeys accepted: %v", name, keys)
			continue
		}
		if !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: %v does not wrap ErrInvalidKey", name, err)
		}
		msg := err.Error()
		for _, sec := range []string{b1, b2, short, long} {
			for _, frag := range []string{sec[:8], sec[8:16], sec[len(sec)-12 : len(sec)-4]} {
				if strings.Contains(msg, frag) {
					t.Errorf("%s: error %q contains secret material", name, msg)
				}
			}
		}
	}
}

func TestFormattingRedactsSecrets(t *testing.T) {
	sec := secret('S')
	k := Key{ID: "k1", Secret: sec}
	kr := mustKeyring(t, k)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		for _, v := range []any{k, &k, kr, []Key{k}} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, "SSSS") || strings.Contains(out, "5353") || strings.Contains(out, "83 83") {
				t.Errorf("fmt %s of %T leaks secret: %s", verb, v, out)
			}
		}
	}
	if got := fmt.Sprint(kr); got != `pii.Keyring{primary:"k1", keys:1}` {
		t.Errorf("Keyring String = %s", got)
	}
}

func TestNilKeyring(t *testing.T) {
	var kr *Keyring
	if _, err := kr.Encrypt("x", "p"); err == nil {
		t.Error("nil Encrypt succeeded")
	}
	if _, err := kr.Decrypt("v1:k1:AAAA", "p"); !errors.Is(err, ErrDecrypt) {
		t.Error("nil Decrypt")
	}
	if _, err := kr.KeyID("v1:k1:AAAA"); !errors.Is(err, ErrDecrypt) {
		t.Error("nil KeyID")
	}
	_ = kr.String()
}

func TestConcurrentUse(t *testing.T) {
	kr := mustKeyring(t, Key{ID: "k1", Secret: secret(1)}, Key{ID: "k0", Secret: secret(2)})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				pt := fmt.Sprintf("value-%d-%d", g, i)
				ct, err := kr.Encrypt(pt, aadID)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := kr.Decrypt(ct, aadID)
				if err != nil || got != pt {
					t.Errorf("Decrypt = %q, %v", got, err)
					return
				}
				_ = kr.BlindIndex(aadID, pt)
			}
		}(g)
	}
	wg.Wait()
}

func TestMaskIDNumber(t *testing.T) {
	cases := map[string]string{
		"51010419900307123X":  "510104************",
		"11010519491231002x":  "110105************",
		"":                    "",
		"123":                 "***",
		"51010419900307123":   "*****************",
		"510104900307123":     "***************",
		"5101041990030712345": "510104*************",
		"５１０１０４１９９００３０７１２３４５６": "５１０１０４**************",
	}
	for in, want := range cases {
		if got := MaskIDNumber(in); got != want {
			t.Errorf("MaskIDNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaskPhone(t *testing.T) {
	cases := map[string]string{
		"13812345678":   "138****5678",
		"01012345678":   "010****5678",
		"075512345678":  "075*******78",
		"1234567":       "123**67",
		"23456789":      "234***89",
		"123456":        "******",
		"":              "",
		"8613812345678": "861********78",
		"一二三四五六七":       "一二三**六七",
	}
	for in, want := range cases {
		if got := MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	ok := map[string]string{
		"13812345678":       "13812345678",
		"19912345678":       "19912345678",
		"138 1234 5678":     "13812345678",
		"138-1234-5678":     "13812345678",
		"+8613812345678":    "13812345678",
		"+86 138 1234 5678": "13812345678",
		"+86-138-1234-5678": "13812345678",
		"8613812345678":     "13812345678",
		"86 13812345678":    "13812345678",
		"  13812345678\t":   "13812345678",
		"010-62345678":      "01062345678",
		"01062345678":       "01062345678",
		"0755-2345678":      "07552345678",
		"0755-23456789":     "075523456789",
		"075523456789":      "075523456789",
		"23456789":          "23456789",
		"2345678":           "2345678",
		"87654321":          "87654321",
		"021-62345678":      "02162345678",
		"0571-8765432":      "05718765432",
		"+86 199-0000-0000": "19900000000",
		"86-150-0000-0000":  "15000000000",
	}
	for in, want := range ok {
		got, err := NormalizePhone(in)
		if err != nil || got != want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", in, got, err, want)
			continue
		}
		if again, err := NormalizePhone(got); err != nil || again != got {
			t.Errorf("not idempotent for %q: %q, %v", got, again, err)
		}
	}
	bad := []string{
		"", " ", "1381234567", "138123456789", "12812345678", "11012345678", "10012345678",
		"+13812345678", "+8513812345678", "+86", "86", "+86 1381234567",
		"0086 13812345678", "138１2345678", "１３８１２３４５６７８", "138.1234.5678",
		"(010)12345678", "010 62345678", "010--62345678", "010-12345678", "0755-1234567", "-13812345678", "13812345678-",
		"010-1234567", "010-123456789", "000-12345678", "0010-1234567", "1234567", "0123456",
		"123456", "012345678901234", "07-12345678", "07555-1234567", "010-", "-12345678",
		"138\u200b12345678", "' OR 1=1--", "13812345678; DROP TABLE residents", "abcdefghijk",
		"+86 138 1234 5678 9", "1" + strings.Repeat(" ", 40) + "3812345678",
	}
	for _, in := range bad {
		got, err := NormalizePhone(in)
		if err == nil {
			t.Errorf("NormalizePhone(%q) accepted as %q", in, got)
			continue
		}
		if err != ErrInvalidPhone {
			t.Errorf("NormalizePhone(%q) err = %v", in, err)
		}
	}
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{
		"13812345678", "+86 138-1234-5678", "8613812345678", "010-62345678", "075523456789", "010-12345678",
		"2345678", "", "+", "-", "86", "0-", "' OR 1=1--", "１３８１２３４５６７８",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizePhone(s)
		if err != nil {
			if err != ErrInvalidPhone {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(got) < 7 || len(got) > 12 || !allDigits(got) {
			t.Fatalf("NormalizePhone(%q) = %q: not 7-12 digits", s, got)
		}
		again, err := NormalizePhone(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, got, again, err)
		}
		_ = MaskPhone(got)
		_ = MaskPhone(s)
		_ = MaskIDNumber(s)
	})
}

// TestMaskLeavesCandidates backs the mask's reason: of the valid numbers of
// one region, those that agree with the mask, the gender and even the
// exact birth date number 500 (every sequence of that gender, the check
// digit following), and with age alone instead of the birth date over a
// hundred thousand.
func TestMaskLeavesCandidates(t *testing.T) {
	real := idnumber.Generate("510104", time.Date(1941, 3, 2, 0, 0, 0, 0, time.UTC), 123, idnumber.Male)
	mask := MaskIDNumber(real)
	agrees := func(n string) bool {
		for i := range 18 {
			if mask[i] != '*' && mask[i] != n[i] {
				return false
			}
		}
		return true
	}
	count := func(days []time.Time) int {
		c := 0
		for _, d := range days {
			for seq := 1; seq < 1000; seq += 2 { // odd: male
				first17 := "510104" + d.Format("20060102") + fmt.Sprintf("%03d", seq)
				if agrees(first17 + string(idnumber.CheckChar(first17))) {
					c++
				}
			}
		}
		return c
	}
	if n := count([]time.Time{time.Date(1941, 3, 2, 0, 0, 0, 0, time.UTC)}); n != 500 {
		t.Fatalf("with the birth date: %d candidates, want 500", n)
	}
	var year []time.Time // everyone aged 85 on 2026-12-01
	for d := time.Date(1940, 12, 2, 0, 0, 0, 0, time.UTC); !d.After(time.Date(1941, 12, 1, 0, 0, 0, 0, time.UTC)); d = d.AddDate(0, 0, 1) {
		year = append(year, d)
	}
	if n := count(year); n < 100_000 {
		t.Fatalf("with age alone: %d candidates", n)
	}
}
