package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/jinjiang/residents/internal/problem"
)

// argon2id parameters: OWASP's minimum (19 MiB, 2 passes, 1 lane). They are
// stored in every hash, so raising them later only affects new hashes.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
)

// HashParams are argon2id's cost parameters.
type HashParams struct {
	MemoryKiB, Time uint32
	Threads         uint8
}

// PasswordParams are the parameters passwords are hashed with.
var PasswordParams = HashParams{MemoryKiB: argonMemoryKiB, Time: argonTime, Threads: argonThreads}

// String is the parameter field of an encoded hash ("m=…,t=…,p=…").
func (h HashParams) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", h.MemoryKiB, h.Time, h.Threads)
}

// HashPassword returns an encoded argon2id hash of password
// ($argon2id$v=19$m=…,t=…,p=…$salt$key).
func HashPassword(password string) (string, error) { return HashWith(password, PasswordParams) }

// HashWith returns an encoded argon2id hash of secret at params (lighter
// ones for a card's PIN, whose protection is its lockout: internal/homecare).
// VerifyPassword checks any of them.
func HashWith(secret string, params HashParams) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(secret), salt, params.Time, params.MemoryKiB, params.Threads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$%s$%s$%s", argon2.Version, params,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// HashedWith reports whether encoded is an argon2id hash at params.
func HashedWith(encoded string, params HashParams) bool {
	parts := strings.Split(encoded, "$")
	return len(parts) == 6 && parts[1] == "argon2id" && parts[3] == params.String()
}

// VerifyPassword reports whether password matches the encoded hash, in
// constant time.
func VerifyPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("auth: unsupported password hash")
	}
	var version int
	var mem uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errors.New("auth: unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil {
		return false, errors.New("auth: bad argon2 parameters")
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, errors.New("auth: bad salt")
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		return false, errors.New("auth: bad key")
	}
	got := argon2.IDKey([]byte(password), salt, t, mem, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when the username is unknown, so that the
// answer takes as long as for a real user and does not reveal who exists.
// It is computed on first use, not at start-up.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("no-such-user-dummy-password")
	return h
})

// HashPool bounds how many argon2id computations run at once. Each takes
// argonMemoryKiB (19 MiB) and a core for tens of milliseconds: unbounded,
// 72 parallel logins took an instance from 182 to 420 MB and 7 s of
// latency. A caller waits at most the pool's wait for a slot and is then
// refused with problem.ErrUnavailable (SERVICE_UNAVAILABLE, HTTP 503: retry
// shortly) instead of queueing without bound.
type HashPool struct {
	slots chan struct{}
	wait  time.Duration
	inUse atomic.Int64
	peak  atomic.Int64
}

// HashWait is how long a sign-in waits for a hashing slot.
const HashWait = time.Second

// NewHashPool returns a pool of size slots (at least one).
func NewHashPool(size int, wait time.Duration) *HashPool {
	if size < 1 {
		size = 1
	}
	return &HashPool{slots: make(chan struct{}, size), wait: wait}
}

// ErrHashPoolBusy is the refusal when no slot came free in time.
var ErrHashPoolBusy = fmt.Errorf("%w: password hashing pool busy", problem.ErrUnavailable)

// Acquire takes a slot, waiting at most the pool's wait (or until ctx
// ends); release gives it back. Exported so tests can fill the pool.
func (p *HashPool) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case p.slots <- struct{}{}:
	default:
		t := time.NewTimer(p.wait)
		defer t.Stop()
		select {
		case p.slots <- struct{}{}:
		case <-t.C:
			return nil, ErrHashPoolBusy
		case <-ctx.Done():
			return nil, ErrHashPoolBusy
		}
	}
	n := p.inUse.Add(1)
	for {
		m := p.peak.Load()
		if n <= m || p.peak.CompareAndSwap(m, n) {
			break
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			p.inUse.Add(-1)
			<-p.slots
		})
	}, nil
}

// Size is the number of slots.
func (p *HashPool) Size() int { return cap(p.slots) }

// Peak is the most slots ever held at once.
func (p *HashPool) Peak() int64 { return p.peak.Load() }

// Verify is VerifyPassword inside a slot of the pool.
func (p *HashPool) Verify(ctx context.Context, encoded, password string) (bool, error) {
	release, err := p.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	return VerifyPassword(encoded, password)
}

// Hash is HashPassword inside a slot of the pool.
func (p *HashPool) Hash(ctx context.Context, password string) (string, error) {
	release, err := p.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return HashPassword(password)
}
