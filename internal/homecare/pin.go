package homecare

import (
	"context"

	"github.com/jinjiang/residents/internal/auth"
)

// PIN hashing. A card's PIN is six digits: 10^6 values. Its protection is
// the online limit (MaxPINAttempts wrong PINs lock the card until a
// counter unlocks it), not the hash's cost: against a stolen hash no
// affordable cost helps, since 10^6 guesses at the password parameters
// (19 MiB, 2 passes, ~30 ms a guess) are about 8 core-hours, well within
// reach. So PINs are hashed with argon2id at light parameters (64 KiB, one
// pass, one lane: ~0.1 ms) that still salt each hash, verify outside the
// password hashing pool (its slots bound the memory of 19 MiB hashes; a
// 64 KiB one needs no bound), and let a visit be confirmed at the rate the
// database allows instead of the rate of a pool of four 19 MiB hashes
// (docs/PERFORMANCE.md, home-care visits).
//
// The stored form is the self-describing PHC string
// ($argon2id$v=19$m=…,t=…,p=…$salt$key), so a card issued with the older
// password-strength parameters still verifies (in the hashing pool, as
// before), and is rehashed at these parameters when its PIN is next right.
var pinParams = auth.HashParams{MemoryKiB: 64, Time: 1, Threads: 1}

// hashPIN returns the encoded argon2id hash of pin at the PIN parameters.
func hashPIN(pin string) (string, error) { return auth.HashWith(pin, pinParams) }

// lightPIN reports whether encoded was hashed at the PIN parameters (and
// so needs neither the pool nor an upgrade).
func lightPIN(encoded string) bool { return auth.HashedWith(encoded, pinParams) }

// verifyPIN checks pin against a card's stored hash: at the PIN
// parameters inline, at any other (older, heavier) in the app's hashing
// pool. upgrade is the hash at the PIN parameters to store instead, when
// the PIN is right and the stored hash is an old one.
func (s *Service) verifyPIN(ctx context.Context, encoded, pin string) (ok bool, upgrade string, err error) {
	if lightPIN(encoded) {
		ok, err = auth.VerifyPassword(encoded, pin)
		return ok, "", err
	}
	if ok, err = s.hashes.Verify(ctx, encoded, pin); err != nil || !ok {
		return ok, "", err
	}
	upgrade, err = hashPIN(pin)
	return ok, upgrade, err
}
