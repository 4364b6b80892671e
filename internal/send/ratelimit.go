package send

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RateLimiter caps messages per second across every worker process, with a
// fixed one-second window counted in Redis. A zero rate means no limit.
type RateLimiter struct {
	Redis redis.UniversalClient
	Key   string // prefix, per install
	Rate  int
}

// Wait blocks until one more message may go out in this second.
func (l *RateLimiter) Wait(ctx context.Context) error {
	if l == nil || l.Rate <= 0 {
		return nil
	}
	for {
		now := time.Now()
		key := l.Key + ":" + strconv.FormatInt(now.Unix(), 10)
		pipe := l.Redis.TxPipeline()
		incr := pipe.Incr(ctx, key)
		pipe.Expire(ctx, key, 2*time.Second)
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		if incr.Val() <= int64(l.Rate) {
			return nil
		}
		next := now.Truncate(time.Second).Add(time.Second)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(next)):
		}
	}
}
