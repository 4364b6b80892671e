package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRedisSentinel (issue 13): ENVOI_REDIS_URL names a Sentinel set
// (redis-sentinel://…?master=NAME). The test runs a private master, a replica
// and a Sentinel, kills the master with SIGKILL mid-campaign; Sentinel
// promotes the replica, Envoi follows it, and the campaign completes with
// every subscriber served, at most the messages in flight twice.
func TestRedisSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a Redis master, replica and Sentinel and waits for a failover")
	}
	t.Parallel()
	master := startPrivateRedis(t)
	replica := startPrivateRedis(t, "--replicaof", "127.0.0.1", fmt.Sprint(master.port))
	sentinelAddr := freeAddr(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	port := sentinelAddr[strings.LastIndex(sentinelAddr, ":")+1:]
	os.WriteFile(conf, []byte(fmt.Sprintf(`port %s
bind 127.0.0.1
dir %s
sentinel monitor envoimaster 127.0.0.1 %d 1
sentinel down-after-milliseconds envoimaster 1000
sentinel failover-timeout envoimaster 10000
sentinel parallel-syncs envoimaster 1
`, port, dir, master.port)), 0o644)
	sentinel := exec.Command("redis-server", conf, "--sentinel")
	if err := sentinel.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sentinel.Process.Kill(); sentinel.Wait() })

	ctx := context.Background()
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinelAddr})
	defer sc.Close()
	rc := redis.NewClient(&redis.Options{Addr: replica.addr()})
	defer rc.Close()
	// Wait for the replica to sync and the Sentinel to know it (it asks the
	// master for its replicas every 10 s).
	deadline := time.Now().Add(40 * time.Second)
	for {
		info, _ := rc.Info(ctx, "replication").Result()
		replicas, _ := sc.Replicas(ctx, "envoimaster").Result()
		if strings.Contains(info, "master_link_status:up") && len(replicas) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica or the Sentinel did not come up: %q, %d replicas known", info, len(replicas))
		}
		time.Sleep(100 * time.Millisecond)
	}

	ta := startApp(t, appOpts{env: map[string]string{"ENVOI_REDIS_URL": "redis-sentinel://" + sentinelAddr + "/0?master=envoimaster"}})
	key := ta.apiKey()
	const total = 3000
	ta.seed("newsletter", "sn", total, "confirmed")
	id := ta.sendSlowCampaign(key, 300)
	master.kill()
	atKill := len(ta.SMTP.Messages())
	c := ta.waitCampaign(id, "sent", 150*time.Second)
	addr, err := sc.GetMasterAddrByName(ctx, "envoimaster").Result()
	if err != nil || addr[1] != fmt.Sprint(replica.port) {
		t.Fatalf("Sentinel's master is %v (%v), want the replica on %d", addr, err, replica.port)
	}
	got := perRecipient(ta.SMTP.Messages())
	dups := duplicates(got)
	t.Logf("master killed at %d messages; the replica took over; %d recipients, %d duplicate(s), counts %+v", atKill, len(got), dups, c.Counts)
	if len(got) != total || c.Counts.Sent != total {
		t.Fatalf("%d of %d delivered (counts %+v)", len(got), total, c.Counts)
	}
	if dups > 4 {
		t.Errorf("%d duplicates, more than the 4 messages in flight", dups)
	}
}

// TestRedisCluster (issue 13): ENVOI_REDIS_URL may name a Redis Cluster
// (redis-cluster://node1,node2,…): a private three-node cluster carries the
// queue, the limits and a campaign, each subscriber served once.
func TestRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node Redis Cluster")
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatal("redis-cli not found: `make test` installs it (Debian package redis-tools, with redis-server)")
	}
	t.Parallel()
	var nodes []*privateRedis
	var addrs []string
	for i := 0; i < 3; i++ {
		dir := t.TempDir()
		n := startPrivateRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--cluster-node-timeout", "2000")
		nodes = append(nodes, n)
		addrs = append(addrs, n.addr())
	}
	out, err := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	ctx := context.Background()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer cc.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, _ := cc.ClusterInfo(ctx).Result()
		if strings.Contains(info, "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster did not come up: %s", info)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ta := startApp(t, appOpts{env: map[string]string{"ENVOI_REDIS_URL": "redis-cluster://" + strings.Join(addrs, ","),
		"ENVOI_SIGNUP_LIMIT_PER_IP": "30"}})
	key := ta.apiKey()
	if r := ta.signup("cluster-signup@example.com"); r.Status != 200 {
		t.Fatalf("signup: %d", r.Status)
	}
	ta.waitMail("cluster-signup@example.com", 1)
	const total = 500
	ta.seed("newsletter", "cl", total, "confirmed")
	id := ta.sendCampaign(key)
	c := ta.waitCampaign(id, "sent", 60*time.Second)
	got := perRecipient(ta.SMTP.Messages())
	delete(got, "cluster-signup@example.com")
	if len(got) != total || duplicates(got) != 0 || c.Counts.Sent != total {
		t.Fatalf("%d of %d delivered, %d duplicates (counts %+v)", len(got), total, duplicates(got), c.Counts)
	}
	if n, _ := cc.DBSize(ctx).Result(); n == 0 {
		t.Fatal("nothing was kept in the cluster")
	}
}
