package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/envoi/envoi/internal/model"
)

// ErrInFlight: another worker holds the message right now.
var ErrInFlight = errors.New("message is being sent by another worker")

// ErrSkip, returned by a DeliverTransactional callback, marks the message skipped
// (no longer due, for example already confirmed) instead of sent.
var ErrSkip = errors.New("message no longer due")

// PermanentError, returned by a callback, marks the message failed for good.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

const deliverLoadSQL = `SELECT tm.id AS tm_id, tm.subscription_id AS tm_subscription_id, tm.kind AS tm_kind,
    tm.status AS tm_status, tm.attempts AS tm_attempts, ` + subscriptionColumns + `
JOIN transactional_messages tm ON tm.subscription_id = sn.id
WHERE tm.id = $1 FOR UPDATE OF tm NOWAIT`

const deliverDoneSQL = `
UPDATE transactional_messages
SET status = $2, attempts = attempts + 1, last_error = $3,
    sent_at = CASE WHEN $2 = 'sent' THEN $4::timestamptz END
WHERE id = $1`

// DeliverTransactional runs send for a queued message while holding its ledger row
// locked, then records the outcome in the same transaction. A message already sent,
// skipped or failed is not sent again (send is not called; nil is returned). If the
// process dies during send, the lock goes with its connection and a retry sends it.
// The row lock is taken NOWAIT: a duplicate job running at the same time gets
// ErrInFlight and should retry later.
func (s *Store) DeliverTransactional(ctx context.Context, id int64, send func(model.TransactionalMessage, model.Subscription) error) error {
	load, err := s.stmt(ctx, deliverLoadSQL)
	if err != nil {
		return err
	}
	done, err := s.stmt(ctx, deliverDoneSQL)
	if err != nil {
		return err
	}
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	var row struct {
		TMID                int64  `db:"tm_id"`
		TMSubID             int64  `db:"tm_subscription_id"`
		TMKind              string `db:"tm_kind"`
		TMStatus            string `db:"tm_status"`
		TMAttempts          int    `db:"tm_attempts"`
		*model.Subscription `db:""`
	}
	row.Subscription = &model.Subscription{}
	err = tx.StmtxContext(ctx, load).GetContext(ctx, &row, id)
	if IsLockNotAvailable(err) {
		return ErrInFlight
	}
	if err != nil {
		return fmt.Errorf("load message %d: %w", id, mapErr(err))
	}
	m := model.TransactionalMessage{ID: row.TMID, SubscriptionID: row.TMSubID, Kind: row.TMKind, Status: row.TMStatus, Attempts: row.TMAttempts}
	sub := *row.Subscription
	if m.Status != "queued" {
		return nil
	}
	sendErr := send(m, sub)
	status, lastErr := "sent", ""
	var perm *PermanentError
	switch {
	case sendErr == nil:
	case errors.Is(sendErr, ErrSkip):
		status = "skipped"
	case errors.As(sendErr, &perm):
		status, lastErr = "failed", sendErr.Error()
	default:
		// Temporary: count the attempt, keep it queued, let the job retry.
		status, lastErr = "queued", sendErr.Error()
	}
	if _, err := tx.StmtxContext(ctx, done).ExecContext(ctx, id, status, truncate(lastErr, 500), s.Now()); err != nil {
		return fmt.Errorf("record message %d: %w", id, mapErr(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit message %d: %w", id, mapErr(err))
	}
	if status == "queued" || status == "failed" {
		return sendErr
	}
	return nil
}

// TransactionalMessageByID returns one ledger row. Codes: not_found.
func (s *Store) TransactionalMessageByID(ctx context.Context, id int64) (model.TransactionalMessage, error) {
	var m model.TransactionalMessage
	err := s.DB.GetContext(ctx, &m, `SELECT id, subscription_id, kind, status, attempts FROM transactional_messages WHERE id = $1`, id)
	return m, mapErr(err)
}

// QueuedTransactional returns ids of messages still queued and created before
// the cutoff, oldest first: jobs that may have been lost (Redis restarted, or
// the enqueue after commit failed).
func (s *Store) QueuedTransactional(ctx context.Context, before time.Time, limit int) ([]int64, error) {
	ids := []int64{}
	err := s.DB.SelectContext(ctx, &ids, `
SELECT id FROM transactional_messages WHERE status = 'queued' AND created_at < $1
ORDER BY created_at LIMIT $2`, before, limit)
	return ids, mapErr(err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
