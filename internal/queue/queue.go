// Package queue names Envoi's background tasks, encodes their payloads and puts
// them on the Redis queue (asynq). Payloads carry ids only, never an address or a
// name, so erasing a person never has to touch Redis. The handlers live in jobs.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/envoi/envoi/internal/requestid"
	"github.com/hibiken/asynq"
)

// Task types.
const (
	TypeTransactional = "mail:transactional" // payload: TransactionalPayload
	TypeCampaignPlan  = "campaign:plan"      // payload: CampaignPayload (Batch 0)
	TypeCampaignBatch = "campaign:batch"     // payload: CampaignPayload
	TypeImport        = "import:run"         // payload: ImportPayload
)

// ImportPayload names one import (its rows wait in PostgreSQL).
type ImportPayload struct {
	ImportID  int64  `json:"import_id"`
	RequestID string `json:"request_id,omitempty"`
}

// CampaignPayload names a campaign, its generation (bumped by each resume) and a batch.
type CampaignPayload struct {
	CampaignID int64 `json:"campaign_id"`
	Generation int   `json:"generation"`
	Batch      int   `json:"batch,omitempty"`
	// RequestID is the HTTP request's that caused the work (requestid), for logs.
	RequestID string `json:"request_id,omitempty"`
}

// TransactionalPayload names one row of the transactional_messages ledger.
type TransactionalPayload struct {
	MessageID int64  `json:"message_id"`
	RequestID string `json:"request_id,omitempty"`
}

// Client enqueues tasks. Safe for concurrent use.
type Client struct {
	c     *asynq.Client
	Queue string
}

// RedisOpt parses a redis:// URL into asynq's connection option.
//
// A Redis Cluster is named redis-cluster://[:password@]host1:port,host2:port (any
// of its nodes; the others are found from them). A Sentinel set is named redis-sentinel://[:password@]host1:port,host2:port/db?master=NAME
// (&sentinel_password=… when the sentinels have one): the password is the
// master's, the database the path's (asynq's own parser drops both).
func RedisOpt(rawURL string) (asynq.RedisConnOpt, error) {
	if strings.HasPrefix(rawURL, "redis-cluster://") {
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		o := asynq.RedisClusterClientOpt{Addrs: strings.Split(u.Host, ",")}
		if p, ok := u.User.Password(); ok {
			o.Password = p
		}
		return o, nil
	}
	if strings.HasPrefix(rawURL, "redis-sentinel://") {
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		o := asynq.RedisFailoverClientOpt{MasterName: u.Query().Get("master"), SentinelAddrs: strings.Split(u.Host, ","),
			SentinelPassword: u.Query().Get("sentinel_password")}
		if o.MasterName == "" {
			return nil, errors.New("redis url: a redis-sentinel:// URL needs ?master=NAME")
		}
		if p, ok := u.User.Password(); ok {
			o.Password = p
		}
		if db := strings.Trim(u.Path, "/"); db != "" {
			if o.DB, err = strconv.Atoi(db); err != nil {
				return nil, fmt.Errorf("redis url: database %q is not a number", db)
			}
		}
		return o, nil
	}
	opt, err := asynq.ParseRedisURI(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	return opt, nil
}

// NewClient returns a client enqueueing on the named queue.
func NewClient(opt asynq.RedisConnOpt, queue string) *Client {
	return &Client{c: asynq.NewClient(opt), Queue: queue}
}

// Close closes the Redis connection.
func (c *Client) Close() error { return c.c.Close() }

// EnqueueTransactional queues the sending of one ledger message. The task id is
// derived from the message id, so enqueueing twice while the first is pending
// is a no-op.
func (c *Client) EnqueueTransactional(ctx context.Context, messageID int64) error {
	b, _ := json.Marshal(TransactionalPayload{MessageID: messageID, RequestID: requestid.From(ctx)})
	_, err := c.c.EnqueueContext(ctx, asynq.NewTask(TypeTransactional, b),
		asynq.Queue(c.Queue), asynq.TaskID("tm:"+strconv.FormatInt(messageID, 10)),
		asynq.MaxRetry(20), asynq.Timeout(2*time.Minute))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	return err
}

// EnqueueCampaignPlan queues the audience selection of a campaign (one per generation).
func (c *Client) EnqueueCampaignPlan(ctx context.Context, campaignID int64, gen int) error {
	return c.enqueueCampaign(ctx, TypeCampaignPlan, CampaignPayload{CampaignID: campaignID, Generation: gen},
		fmt.Sprintf("cp:%d:%d", campaignID, gen))
}

// EnqueueCampaignBatch queues the sending of one batch (one per generation and batch).
func (c *Client) EnqueueCampaignBatch(ctx context.Context, campaignID int64, gen, batch int) error {
	return c.enqueueCampaign(ctx, TypeCampaignBatch, CampaignPayload{CampaignID: campaignID, Generation: gen, Batch: batch},
		fmt.Sprintf("cb:%d:%d:%d", campaignID, gen, batch))
}

func (c *Client) enqueueCampaign(ctx context.Context, typ string, p CampaignPayload, id string) error {
	p.RequestID = requestid.From(ctx)
	b, _ := json.Marshal(p)
	_, err := c.c.EnqueueContext(ctx, asynq.NewTask(typ, b), asynq.Queue(c.Queue), asynq.TaskID(id),
		asynq.MaxRetry(50), asynq.Timeout(30*time.Minute))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	return err
}

// EnqueueImport queues the processing of a staged import. The task id is the
// import's, so enqueueing it again while it waits or runs is a no-op; a run
// resumes from the import's last committed chunk.
func (c *Client) EnqueueImport(ctx context.Context, importID int64) error {
	b, _ := json.Marshal(ImportPayload{ImportID: importID, RequestID: requestid.From(ctx)})
	_, err := c.c.EnqueueContext(ctx, asynq.NewTask(TypeImport, b), asynq.Queue(c.Queue),
		asynq.TaskID("imp:"+strconv.FormatInt(importID, 10)), asynq.MaxRetry(50), asynq.Timeout(2*time.Hour))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	return err
}

// Health is the job queue's state as the dashboard shows it.
type Health struct {
	Pending, Active, Scheduled, Retry, Archived int
	Processed, Failed                           int           // today
	Latency                                     time.Duration // age of the oldest pending task
}

// Inspector reads the queue's state from Redis.
type Inspector struct {
	i     *asynq.Inspector
	Queue string
}

// NewInspector opens an inspector of the queue.
func NewInspector(opt asynq.RedisConnOpt, queue string) *Inspector {
	return &Inspector{i: asynq.NewInspector(opt), Queue: queue}
}

// Close closes its Redis connection.
func (in *Inspector) Close() error { return in.i.Close() }

// Health reads the queue's counts. A queue that never had a task is empty.
func (in *Inspector) Health() (Health, error) {
	// A queue exists once a task was put in it; before, it is empty (asynq
	// answers "not found" with an error type of its own).
	names, err := in.i.Queues()
	if err != nil {
		return Health{}, err
	}
	if !slices.Contains(names, in.Queue) {
		return Health{}, nil
	}
	q, err := in.i.GetQueueInfo(in.Queue)
	if err != nil {
		return Health{}, err
	}
	return Health{Pending: q.Pending, Active: q.Active, Scheduled: q.Scheduled, Retry: q.Retry, Archived: q.Archived,
		Processed: q.Processed, Failed: q.Failed, Latency: q.Latency}, nil
}
