// Package limits keeps strangers from using Envoi to flood inboxes or fill its
// database: GCRA rate limits kept in Redis (go-redis/redis_rate), shared by
// every process, per client IP, per recipient domain and in all. The services
// ask it before they write anything; it never looks at whether an address
// exists, so a limit reveals nothing. It logs no IP and no address.
package limits

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/envoi/envoi/internal/apperr"
)

// Limiter holds the limits, in requests a minute; 0 turns one off.
type Limiter struct {
	Redis                    redis.UniversalClient
	Prefix                   string // Redis key prefix (ENVOI_QUEUE)
	PerIP, PerDomain, Global int
	Logins                   Logins // failed sign-ins to the admin UI, per LoginWindow
	Log                      *slog.Logger

	once sync.Once
	rl   *redis_rate.Limiter
}

// checkTimeout bounds a limit check: an unreachable Redis must not hold up
// signups, which PostgreSQL records without it.
const checkTimeout = 300 * time.Millisecond

type check struct {
	name, key string
	perMinute int
}

// Signup is asked before a signup (form or API) is written: ip is the
// client's, domain the address's. Codes: too_many (with RetryAfter).
func (l *Limiter) Signup(ctx context.Context, ip, domain string) error {
	if l == nil {
		return nil
	}
	return l.check(ctx, check{"ip", ipKey(ip), l.PerIP}, check{"domain", strings.ToLower(domain), l.PerDomain}, check{"global", "all", l.Global})
}

// Resend is asked before a confirmation link is mailed again. Codes: too_many.
func (l *Limiter) Resend(ctx context.Context, ip string) error {
	if l == nil {
		return nil
	}
	return l.check(ctx, check{"ip", ipKey(ip), l.PerIP}, check{"global", "all", l.Global})
}

func (l *Limiter) check(ctx context.Context, checks ...check) error {
	l.once.Do(func() { l.rl = redis_rate.NewLimiter(l.Redis) })
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	for _, c := range checks {
		if c.perMinute <= 0 || c.key == "" {
			continue
		}
		res, err := l.rl.Allow(ctx, l.Prefix+":limit:"+c.name+":"+c.key, redis_rate.PerMinute(c.perMinute))
		if err != nil {
			// Fail open: the signup is still recorded in PostgreSQL (the
			// 15-minute rule per address holds there) and mailed once Redis is back.
			l.Log.Warn("rate limit not checked: Redis unavailable", slog.String("limit", c.name), slog.Any("error", err))
			return nil
		}
		if res.Allowed == 0 {
			wait := max(res.RetryAfter, time.Second)
			return &apperr.Error{Code: apperr.TooMany, RetryAfter: wait,
				Message: fmt.Sprintf("Too many requests right now. Nothing was saved; please try again in %d seconds.", int(math.Ceil(wait.Seconds())))}
		}
	}
	return nil
}

// ipKey is the key of a client: an IPv4 address, or an IPv6 address's /64
// (one subscriber line gets a whole /64, so single addresses are free to rotate).
func ipKey(ip string) string {
	p := net.ParseIP(ip)
	if p == nil {
		return ip
	}
	if v4 := p.To4(); v4 != nil {
		return v4.String()
	}
	return p.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// LoginWindow is the period of the failed-login limits.
const LoginWindow = 15 * time.Minute

// Logins are the failed-login limits, per LoginWindow; 0 turns one off.
type Logins struct {
	PerAccount, PerIP int
}

// loginChecks are the keys of a login attempt: the account by a hash of its
// address (no address in Redis), the client by its IP (IPv6 by /64).
func (l *Limiter) loginChecks(account, ip string) []check {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(account))))
	return []check{{"login-account", hex.EncodeToString(sum[:16]), l.Logins.PerAccount}, {"login-ip", ipKey(ip), l.Logins.PerIP}}
}

// Login is asked before a login is tried: it refuses when the account or the
// client has had too many failures lately, whether the account exists or not.
// Only failures count (LoginFailed). Codes: too_many (with RetryAfter).
func (l *Limiter) Login(ctx context.Context, account, ip string) error {
	if l == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	// A cost of 0 looks without spending: what is left of the burst.
	return l.eachLogin(ctx, account, ip, 0, func(c check, res *redis_rate.Result) error {
		if res.Remaining >= 1 {
			return nil
		}
		// One failure is forgiven every Period/Rate.
		wait := res.ResetAfter - time.Duration(c.perMinute-1)*(LoginWindow/time.Duration(c.perMinute))
		wait = max(wait, time.Second)
		return &apperr.Error{Code: apperr.TooMany, RetryAfter: wait,
			Message: fmt.Sprintf("Too many failed sign-ins. Try again in %d minutes.", int(math.Ceil(wait.Minutes())))}
	})
}

// eachLogin spends cost on each failed-login limit that is on and hands its
// result to fn, stopping at fn's first error. Redis unreachable: logged, no
// limit (fail open, as for signups).
func (l *Limiter) eachLogin(ctx context.Context, account, ip string, cost int, fn func(check, *redis_rate.Result) error) error {
	l.once.Do(func() { l.rl = redis_rate.NewLimiter(l.Redis) })
	for _, c := range l.loginChecks(account, ip) {
		if c.perMinute <= 0 {
			continue
		}
		lim := redis_rate.Limit{Rate: c.perMinute, Burst: c.perMinute, Period: LoginWindow}
		res, err := l.rl.AllowN(ctx, l.Prefix+":limit:"+c.name+":"+c.key, lim, cost)
		if err != nil {
			l.Log.Warn("login limit not used: Redis unavailable", slog.String("limit", c.name), slog.Any("error", err))
			return nil
		}
		if err := fn(c, res); err != nil {
			return err
		}
	}
	return nil
}

// LoginFailed counts a failed login against the account and the client.
func (l *Limiter) LoginFailed(ctx context.Context, account, ip string) {
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	l.eachLogin(ctx, account, ip, 1, func(check, *redis_rate.Result) error { return nil })
}
