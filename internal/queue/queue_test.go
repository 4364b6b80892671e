package queue

import (
	"strings"
	"testing"

	"github.com/hibiken/asynq"
)

// TestRedisOpt: redis:// URLs go to asynq's parser; redis-sentinel:// keeps
// the master's password, the database and the sentinels' own password.
func TestRedisOpt(t *testing.T) {
	for _, tt := range []struct {
		name, url, err string
		check          func(asynq.RedisConnOpt) bool
	}{
		{"Plain", "redis://:pw@127.0.0.1:6379/2", "", func(o asynq.RedisConnOpt) bool {
			c, ok := o.(asynq.RedisClientOpt)
			return ok && c.Addr == "127.0.0.1:6379" && c.Password == "pw" && c.DB == 2
		}},
		{"Sentinel", "redis-sentinel://:secret@10.0.0.1:26379,10.0.0.2:26379/3?master=main&sentinel_password=s", "", func(o asynq.RedisConnOpt) bool {
			f, ok := o.(asynq.RedisFailoverClientOpt)
			return ok && f.MasterName == "main" && len(f.SentinelAddrs) == 2 && f.SentinelAddrs[1] == "10.0.0.2:26379" &&
				f.Password == "secret" && f.DB == 3 && f.SentinelPassword == "s"
		}},
		{"Cluster", "redis-cluster://:pw@10.0.0.1:6379,10.0.0.2:6379", "", func(o asynq.RedisConnOpt) bool {
			c, ok := o.(asynq.RedisClusterClientOpt)
			return ok && len(c.Addrs) == 2 && c.Password == "pw"
		}},
		{"ErrSentinelWithoutMaster", "redis-sentinel://10.0.0.1:26379", "master=NAME", nil},
		{"ErrSentinelBadDB", "redis-sentinel://10.0.0.1:26379/x?master=m", "not a number", nil},
		{"ErrScheme", "http://x", "redis url", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o, err := RedisOpt(tt.url)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !tt.check(o) {
				t.Fatalf("%#v, %v", o, err)
			}
		})
	}
}
