// Package queue names Envoi's background tasks, encodes their payloads and puts
// them on the Redis queue (asynq). Payloads carry ids only, never an address or a
// name, so erasing a person never has to touch Redis. The handlers live in jobs.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// Task types.
const (
	TypeTransactional = "mail:transactional" // payload: TransactionalPayload
)

// TransactionalPayload names one row of the transactional_messages ledger.
type TransactionalPayload struct {
	MessageID int64 `json:"message_id"`
}

// Client enqueues tasks. Safe for concurrent use.
type Client struct {
	c     *asynq.Client
	Queue string
}

// RedisOpt parses a redis:// URL into asynq's connection option.
func RedisOpt(url string) (asynq.RedisConnOpt, error) {
	opt, err := asynq.ParseRedisURI(url)
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
	b, _ := json.Marshal(TransactionalPayload{MessageID: messageID})
	_, err := c.c.EnqueueContext(ctx, asynq.NewTask(TypeTransactional, b),
		asynq.Queue(c.Queue), asynq.TaskID("tm:"+strconv.FormatInt(messageID, 10)),
		asynq.MaxRetry(20), asynq.Timeout(2*time.Minute))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	return err
}
