package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jinjiang/residents/internal/problem"
)

// LoginLimits are the sign-in throttles. Every count lives in Redis, so the
// limits hold across instances.
//
// Why this shape. A lock per username alone (what there was) lets anyone
// anywhere lock any account, the admin's or the telephony system's, with
// five wrong passwords, and does nothing against one password tried on many
// usernames. So:
//
//   - Pair: failures per (username, client address) lock that pair only.
//     Guessing one account from one place stays slow, and an attacker
//     somewhere else cannot lock the real user out.
//   - Client: failures per client address, whatever the username: a spray
//     of one password over many usernames from one place is refused. It is
//     sized for a service center's NAT (many counters, one address).
//   - Global: every attempt (successful ones too) counts against an
//     overall rate per minute, which bounds the work of a distributed
//     attack whatever its spread.
//   - User backoff: failures per username from anywhere. Past a threshold,
//     an attempt for that username from a client that has never signed in
//     as it must take a slot that closes for an exponentially growing
//     delay (5 s, 10 s, 20 s … at most MaxDelay): a botnet spreading
//     guesses at one account over many addresses gets about twenty an
//     hour, with no captcha. A client address that signed in as that user
//     before (a known-good address, remembered for KnownFor after each
//     success) is not subject to it, so the attack slows the attacker and not the
//     staff member at their usual counter. Known-good is by address, not
//     by a device cookie: the API's clients (counter terminals, the
//     telephony system) keep no cookies, and the pair limit still applies
//     to a known address.
//
// Refused attempts never reach argon2, which runs in the bounded HashPool.
type LoginLimits struct {
	PairFailures    int64
	ClientFailures  int64
	Window          time.Duration
	GlobalPerMinute int64
	UserBackoffFrom int64
	UserWindow      time.Duration
	MaxDelay        time.Duration
	KnownFor        time.Duration
}

// DefaultLoginLimits are the production limits (GlobalPerMinute comes from
// LOGIN_RATE).
func DefaultLoginLimits(globalPerMinute int64) LoginLimits {
	return LoginLimits{
		PairFailures:    5,
		ClientFailures:  20,
		Window:          15 * time.Minute,
		GlobalPerMinute: globalPerMinute,
		UserBackoffFrom: 10,
		UserWindow:      time.Hour,
		MaxDelay:        15 * time.Minute,
		KnownFor:        90 * 24 * time.Hour,
	}
}

// LoginGuard applies LoginLimits.
type LoginGuard struct {
	rdb    redis.UniversalClient
	prefix string
	limits LoginLimits
	pair   *Throttle
	client *Throttle
	global *Throttle
}

// NewLoginGuard returns the guard; prefix namespaces its Redis keys.
func NewLoginGuard(rdb redis.UniversalClient, prefix string, l LoginLimits) *LoginGuard {
	return &LoginGuard{rdb: rdb, prefix: prefix, limits: l,
		pair:   NewThrottle(rdb, prefix+"login:pair:", l.PairFailures, l.Window),
		client: NewThrottle(rdb, prefix+"login:client:", l.ClientFailures, l.Window),
		global: NewThrottle(rdb, prefix+"login:all:", l.GlobalPerMinute, time.Minute),
	}
}

var (
	errPairLocked    = problem.New(problem.TooManyAttempts, "该账号在本地址登录失败次数过多，请15分钟后再试 (too many failed sign-ins for this account from this address; try again in 15 minutes)")
	errClientBusy    = problem.New(problem.TooManyAttempts, "本地址登录失败次数过多，请15分钟后再试 (too many failed sign-ins from this address; try again in 15 minutes)")
	errGlobalBusy    = problem.New(problem.TooManyAttempts, "登录请求过多，请稍后再试 (too many sign-ins right now; try again in a minute)")
	errCurrentLocked = problem.New(problem.TooManyAttempts, "当前密码错误次数过多，请15分钟后再试 (too many wrong current passwords; try again in 15 minutes)")
	errUserSlow      = problem.New(problem.TooManyAttempts, "该账号近期登录失败次数过多，请稍后再试；在常用地址登录不受影响 (too many failed sign-ins for this account; try again later, or from an address you signed in from before)")
)

// attempt is one admitted sign-in: what to give back or count when its
// outcome is known.
type attempt struct {
	user, client string
}

func normUser(username string) string { return strings.ToLower(strings.TrimSpace(username)) }

// Admit counts an attempt for username from the context's client against
// every limit and refuses it (TOO_MANY_ATTEMPTS) when one is used up. The
// same checks run for unknown usernames, so a refusal reveals nothing about
// who exists.
func (g *LoginGuard) Admit(ctx context.Context, username string) (*attempt, error) {
	a := &attempt{user: normUser(username), client: ClientKey(ctx)}
	if err := g.global.Take(ctx, "all", errGlobalBusy); err != nil {
		return nil, err
	}
	if err := g.client.Take(ctx, a.client, errClientBusy); err != nil {
		return nil, err
	}
	if err := g.pair.Take(ctx, a.pairKey(), errPairLocked); err != nil {
		return nil, err
	}
	if err := g.backoff(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *attempt) pairKey() string { return a.user + "|" + a.client }

func (g *LoginGuard) failuresKey(user string) string { return g.prefix + "login:userfail:" + user }
func (g *LoginGuard) gateKey(user string) string     { return g.prefix + "login:usergate:" + user }
func (g *LoginGuard) knownKey(user, client string) string {
	return g.prefix + "login:known:" + user + "|" + client
}

// backoff applies the per-username delay to clients that are not known-good.
func (g *LoginGuard) backoff(ctx context.Context, a *attempt) error {
	n, err := g.rdb.Get(ctx, g.failuresKey(a.user)).Int64()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return unavailable(err)
	}
	if n < g.limits.UserBackoffFrom {
		return nil
	}
	known, err := g.rdb.Exists(ctx, g.knownKey(a.user, a.client)).Result()
	if err != nil {
		return unavailable(err)
	}
	if known > 0 {
		return nil
	}
	// Take the slot: one attempt per delay, atomically across instances.
	took, err := g.rdb.SetNX(ctx, g.gateKey(a.user), 1, g.delay(n)).Result()
	if err != nil {
		return unavailable(err)
	}
	if !took {
		// Not tried: give the pair and client reservations back.
		if err := g.giveBack(ctx, a); err != nil {
			return err
		}
		return errUserSlow
	}
	return nil
}

// delay is 5 s at the threshold, doubling per further failure, at most MaxDelay.
func (g *LoginGuard) delay(n int64) time.Duration {
	shift := n - g.limits.UserBackoffFrom
	if shift > 20 {
		return g.limits.MaxDelay
	}
	d := 5 * time.Second << shift
	if d > g.limits.MaxDelay {
		d = g.limits.MaxDelay
	}
	return d
}

func (g *LoginGuard) giveBack(ctx context.Context, a *attempt) error {
	if err := g.pair.Release(ctx, a.pairKey()); err != nil {
		return err
	}
	return g.client.Release(ctx, a.client)
}

// Untried gives back the pair and client reservations of an attempt whose
// password was never checked (the hashing pool was busy).
func (g *LoginGuard) Untried(ctx context.Context, a *attempt) error { return g.giveBack(ctx, a) }

// Failed counts a wrong password (or unknown username) toward the
// username's backoff; the pair and client reservations stay spent.
func (g *LoginGuard) Failed(ctx context.Context, a *attempt) error {
	k := g.failuresKey(a.user)
	pipe := g.rdb.TxPipeline()
	pipe.Incr(ctx, k)
	pipe.ExpireNX(ctx, k, g.limits.UserWindow)
	_, err := pipe.Exec(ctx)
	return unavailable(err)
}

// Succeeded gives the pair and client reservations back and remembers the
// client as known-good for the username.
func (g *LoginGuard) Succeeded(ctx context.Context, a *attempt) error {
	if err := g.giveBack(ctx, a); err != nil {
		return err
	}
	return unavailable(g.rdb.Set(ctx, g.knownKey(a.user, a.client), 1, g.limits.KnownFor).Err())
}

// ClearUser forgets the username's backoff (an administrator reset the
// password: the account is in its owner's hands again).
func (g *LoginGuard) ClearUser(ctx context.Context, username string) error {
	u := normUser(username)
	return unavailable(g.rdb.Del(ctx, g.failuresKey(u), g.gateKey(u)).Err())
}

// AdmitCurrentPassword counts a check of a signed-in user's current
// password (changePassword) against the pair limit of that user: a stolen
// access token must not become an unthrottled password oracle. A correct
// password gives the reservation back (CurrentPasswordOK).
func (g *LoginGuard) AdmitCurrentPassword(ctx context.Context, userID string) error {
	return g.pair.Take(ctx, "current|"+userID, errCurrentLocked)
}

// CurrentPasswordOK gives back the reservation of a correct current password.
func (g *LoginGuard) CurrentPasswordOK(ctx context.Context, userID string) error {
	return g.pair.Release(ctx, "current|"+userID)
}
