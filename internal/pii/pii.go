// Package pii encrypts personal data at rest (AES-256-GCM with key ids),
// computes blind indexes, and masks values for display.
//
// Ciphertexts have the form "v1:<keyid>:<base64(nonce|ciphertext)>", where
// the base64 is standard encoding with padding, the nonce is 12 random bytes
// and the ciphertext carries GCM's 16-byte tag. The associated data passed to
// Encrypt and Decrypt (for example "resident.id_number") binds a ciphertext
// to its purpose, so a value copied into another column fails to decrypt.
//
// A Keyring holds any number of encryption keys: the first (primary) key
// encrypts and every key decrypts, which allows key rotation by re-encrypting
// values whose KeyID is not PrimaryKeyID. A separate index key computes blind
// indexes (HMAC-SHA256) so encrypted values can be looked up by equality.
//
// No error produced by this package contains a plaintext, a ciphertext or a
// secret key.
package pii

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// KeySize is the required length in bytes of encryption and index keys.
const KeySize = 32

// maxKeyIDLen is the longest accepted key id.
const maxKeyIDLen = 32

const (
	version   = "v1"
	nonceSize = 12
	tagSize   = 16
)

var (
	// ErrDecrypt is wrapped by every error returned by Decrypt and KeyID:
	// malformed input, an unknown key id, a wrong associated data value or
	// tampering.
	ErrDecrypt = errors.New("pii: cannot decrypt value")

	// ErrInvalidKey is wrapped by every error returned by ParseKeys and
	// NewKeyring. Such errors never contain key material.
	ErrInvalidKey = errors.New("pii: invalid key configuration")

	// ErrInvalidPhone is returned by NormalizePhone. Its message never
	// contains the input.
	ErrInvalidPhone = errors.New("invalid phone number")
)

// Key is one named AES-256 key. ID is a short label (1 to 32 characters from
// A-Z a-z 0-9 '.', '_' and '-') stored alongside each ciphertext; Secret is
// exactly 32 bytes. Formatting a Key with the fmt package never prints the
// secret.
type Key struct {
	ID     string
	Secret []byte
}

// String returns a description of k without its secret.
func (k Key) String() string {
	return fmt.Sprintf("pii.Key{ID:%q, Secret:<redacted>}", k.ID)
}

// Format implements fmt.Formatter so that every verb prints the redacted
// form.
func (k Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// Keyring encrypts, decrypts and computes blind indexes. It is safe for
// concurrent use. Formatting a Keyring with the fmt package never prints key
// material.
type Keyring struct {
	primary string
	ids     []string
	aeads   map[string]cipher.AEAD
	index   []byte
}

// NewKeyring builds a Keyring from keys in order: the first key encrypts and
// all keys decrypt. Every key must have a unique, valid id and a 32-byte
// secret; indexKey must be 32 bytes and differ from every encryption key.
// The secrets are copied. Errors wrap ErrInvalidKey and never contain key
// material.
func NewKeyring(keys []Key, indexKey []byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no encryption keys", ErrInvalidKey)
	}
	if len(indexKey) != KeySize {
		return nil, fmt.Errorf("%w: index key must be %d bytes, got %d", ErrInvalidKey, KeySize, len(indexKey))
	}
	kr := &Keyring{
		primary: keys[0].ID,
		aeads:   make(map[string]cipher.AEAD, len(keys)),
		index:   append([]byte(nil), indexKey...),
	}
	for i, k := range keys {
		if err := validKeyID(k.ID); err != nil {
			return nil, fmt.Errorf("%w: key %d: %v", ErrInvalidKey, i+1, err)
		}
		if _, dup := kr.aeads[k.ID]; dup {
			return nil, fmt.Errorf("%w: duplicate key id %q", ErrInvalidKey, k.ID)
		}
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("%w: key %q must be %d bytes, got %d", ErrInvalidKey, k.ID, KeySize, len(k.Secret))
		}
		if hmac.Equal(k.Secret, indexKey) {
			return nil, fmt.Errorf("%w: key %q is the same as the index key", ErrInvalidKey, k.ID)
		}
		block, err := aes.NewCipher(append([]byte(nil), k.Secret...))
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: cannot create cipher", ErrInvalidKey, k.ID)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: cannot create GCM", ErrInvalidKey, k.ID)
		}
		kr.aeads[k.ID] = aead
		kr.ids = append(kr.ids, k.ID)
	}
	return kr, nil
}

// ParseKeys parses a key list of the form "id:base64,id2:base64", as found
// in configuration. Whitespace around entries is ignored. Each secret is
// standard base64 (padding optional) of exactly 32 bytes, and ids must be
// valid and unique. The order is preserved, so the first key becomes the
// primary key when passed to NewKeyring. Errors wrap ErrInvalidKey and never
// contain a secret.
func ParseKeys(s string) ([]Key, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%w: no keys given", ErrInvalidKey)
	}
	entries := strings.Split(s, ",")
	keys := make([]Key, 0, len(entries))
	seen := make(map[string]bool, len(entries))
	for i, e := range entries {
		n := i + 1
		e = strings.TrimSpace(e)
		id, b64, ok := strings.Cut(e, ":")
		if !ok {
			return nil, fmt.Errorf("%w: entry %d: expected id:base64", ErrInvalidKey, n)
		}
		if err := validKeyID(id); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %v", ErrInvalidKey, n, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("%w: entry %d: duplicate key id %q", ErrInvalidKey, n, id)
		}
		seen[id] = true
		secret, err := decodeSecret(b64)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d (key %q): secret is not valid base64", ErrInvalidKey, n, id)
		}
		if len(secret) != KeySize {
			return nil, fmt.Errorf("%w: entry %d (key %q): secret must decode to %d bytes, got %d", ErrInvalidKey, n, id, KeySize, len(secret))
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	return keys, nil
}

// decodeSecret decodes standard base64 with or without padding.
func decodeSecret(s string) ([]byte, error) {
	if strings.HasSuffix(s, "=") {
		return base64.StdEncoding.Strict().DecodeString(s)
	}
	return base64.RawStdEncoding.Strict().DecodeString(s)
}

// validKeyID checks a key id without echoing it.
func validKeyID(id string) error {
	if id == "" {
		return errors.New("key id is empty")
	}
	if len(id) > maxKeyIDLen {
		return fmt.Errorf("key id is longer than %d characters", maxKeyIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return errors.New("key id may contain only A-Z a-z 0-9 . _ -")
		}
	}
	return nil
}

// String describes the keyring by its key ids only.
func (k *Keyring) String() string {
	if k == nil {
		return "pii.Keyring(nil)"
	}
	return "pii.Keyring{primary:" + strconv.Quote(k.primary) + ", keys:" + strconv.Itoa(len(k.ids)) + "}"
}

// Format implements fmt.Formatter so that every verb prints the redacted
// form.
func (k *Keyring) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// PrimaryKeyID returns the id of the key used by Encrypt.
func (k *Keyring) PrimaryKeyID() string { return k.primary }

// additionalData builds the GCM additional data: the ciphertext header followed by the
// caller's purpose string, so neither can be swapped.
func additionalData(keyID, aad string) []byte {
	return []byte(version + ":" + keyID + ":" + aad)
}

// Encrypt encrypts plaintext with the primary key. aad names the purpose of
// the value (for example "resident.id_number") and must be given unchanged to
// Decrypt. The result is "v1:<keyid>:<base64(nonce|ciphertext)>"; encrypting
// the same plaintext twice gives different results.
func (k *Keyring) Encrypt(plaintext string, aad string) (string, error) {
	if k == nil || k.aeads == nil {
		return "", errors.New("pii: nil keyring")
	}
	aead := k.aeads[k.primary]
	buf := make([]byte, nonceSize, nonceSize+len(plaintext)+tagSize)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("pii: reading random nonce: %w", err)
	}
	buf = aead.Seal(buf, buf[:nonceSize], []byte(plaintext), additionalData(k.primary, aad))
	return version + ":" + k.primary + ":" + base64.StdEncoding.EncodeToString(buf), nil
}

// Decrypt reverses Encrypt using whichever key the ciphertext names. aad
// must equal the value given to Encrypt. Every error wraps ErrDecrypt and
// never contains the ciphertext.
func (k *Keyring) Decrypt(ciphertext string, aad string) (string, error) {
	if k == nil || k.aeads == nil {
		return "", fmt.Errorf("%w: nil keyring", ErrDecrypt)
	}
	id, payload, err := split(ciphertext)
	if err != nil {
		return "", err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return "", fmt.Errorf("%w: unknown key id", ErrDecrypt)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(payload)
	if err != nil || len(raw) < nonceSize+tagSize {
		return "", fmt.Errorf("%w: malformed ciphertext", ErrDecrypt)
	}
	pt, err := aead.Open(nil, raw[:nonceSize], raw[nonceSize:], additionalData(id, aad))
	if err != nil {
		return "", fmt.Errorf("%w: authentication failed", ErrDecrypt)
	}
	return string(pt), nil
}

// KeyID returns the id of the key that encrypted ciphertext, so callers can
// re-encrypt values whose id differs from PrimaryKeyID. It checks only the
// header, not the authenticity of the value. Errors wrap ErrDecrypt; an id
// this keyring does not hold is an error.
func (k *Keyring) KeyID(ciphertext string) (string, error) {
	if k == nil || k.aeads == nil {
		return "", fmt.Errorf("%w: nil keyring", ErrDecrypt)
	}
	id, _, err := split(ciphertext)
	if err != nil {
		return "", err
	}
	if _, ok := k.aeads[id]; !ok {
		return "", fmt.Errorf("%w: unknown key id", ErrDecrypt)
	}
	return id, nil
}

// split parses "v1:<keyid>:<payload>".
func split(ciphertext string) (id, payload string, err error) {
	rest, ok := strings.CutPrefix(ciphertext, version+":")
	if !ok {
		return "", "", fmt.Errorf("%w: unsupported format", ErrDecrypt)
	}
	id, payload, ok = strings.Cut(rest, ":")
	if !ok || validKeyID(id) != nil {
		return "", "", fmt.Errorf("%w: malformed ciphertext", ErrDecrypt)
	}
	return id, payload, nil
}

// BlindIndex returns HMAC-SHA256(indexKey, purpose + "\x00" + value), a
// 32-byte deterministic digest for equality lookups on encrypted columns.
// Different purposes give unrelated digests for the same value. purpose
// should be a constant without NUL bytes, and value should be normalised
// (for example by idnumber.Parse or NormalizePhone) before indexing.
func (k *Keyring) BlindIndex(purpose, value string) []byte {
	m := hmac.New(sha256.New, k.index)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}
