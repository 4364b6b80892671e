// Package limits keeps strangers from using Envoi to flood inboxes or fill its
// database: GCRA rate limits kept in Redis (go-redis/redis_rate), shared by
// every process, per client IP, per recipient domain and in all. The services
// ask it before they write anything; it never looks at whether an address
// exists, so a limit reveals nothing. It logs no IP and no address.
package limits

import (
	"context"
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
	Redis                    *redis.Client
	Prefix                   string // Redis key prefix (ENVOI_QUEUE)
	PerIP, PerDomain, Global int
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
