package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Retention periods; 0 turns a rule off.
type Retention struct {
	Unconfirmed  time.Duration // a signup never confirmed is erased after this
	Inactive     time.Duration // no sign of life for this long: a re-permission mail
	Grace        time.Duration // no answer to it for this long: erased
	Unsubscribed time.Duration // left every list this long ago: reduced to the suppression hash
	ConsentProof time.Duration // consent events of people gone, older than this: purged
}

// RetentionSelect names who a rule applies to now. Restricted subscribers
// (art. 18: keep the data) are left out of every rule.
const (
	unconfirmedSQL = `
SELECT s.id FROM subscribers s
WHERE s.id > $3 AND s.restricted_at IS NULL AND s.created_at < $1
  AND NOT EXISTS (SELECT 1 FROM subscriptions sn WHERE sn.subscriber_id = s.id
      AND (sn.status <> 'unconfirmed' OR GREATEST(sn.created_at, sn.confirm_requested_at) >= $1))
ORDER BY s.id LIMIT $2`
	stalePendingSQL = `
SELECT sn.id FROM subscriptions sn
WHERE sn.id > $3 AND sn.status = 'unconfirmed' AND GREATEST(sn.created_at, sn.confirm_requested_at) < $1
  AND EXISTS (SELECT 1 FROM subscriptions o WHERE o.subscriber_id = sn.subscriber_id AND o.status <> 'unconfirmed')
ORDER BY sn.id LIMIT $2`
	inactiveSQL = `
SELECT s.id FROM subscribers s
WHERE s.id > $3 AND s.last_activity_at < $1 AND s.repermission_at IS NULL AND s.restricted_at IS NULL AND s.suppressed_at IS NULL
  AND EXISTS (SELECT 1 FROM subscriptions sn WHERE sn.subscriber_id = s.id AND sn.status = 'confirmed')
ORDER BY s.id LIMIT $2`
	unansweredSQL = `
SELECT s.id FROM subscribers s
WHERE s.id > $3 AND s.repermission_at < $1 AND s.last_activity_at < s.repermission_at AND s.restricted_at IS NULL
ORDER BY s.id LIMIT $2`
	unsubscribedSQL = `
SELECT s.id FROM subscribers s
WHERE s.id > $3 AND s.restricted_at IS NULL
  AND EXISTS (SELECT 1 FROM subscriptions sn WHERE sn.subscriber_id = s.id)
  AND NOT EXISTS (SELECT 1 FROM subscriptions sn WHERE sn.subscriber_id = s.id
      AND (sn.status <> 'unsubscribed' OR sn.unsubscribed_at >= $1))
ORDER BY s.id LIMIT $2`
)

// retentionBatch is how many people one transaction of a rule handles.
const retentionBatch = 1000

// RetentionIDs returns up to limit ids above after that a rule applies to at
// cutoff, in order (keyset: a pass goes through the table once). rule:
// unconfirmed, stale_pending, inactive, unanswered, unsubscribed.
func (s *Store) RetentionIDs(ctx context.Context, rule string, cutoff time.Time, after int64, limit int) ([]int64, error) {
	q := map[string]string{"unconfirmed": unconfirmedSQL, "stale_pending": stalePendingSQL, "inactive": inactiveSQL,
		"unanswered": unansweredSQL, "unsubscribed": unsubscribedSQL}[rule]
	if q == "" {
		return nil, errors.New("unknown retention rule " + strconv.Quote(rule))
	}
	var ids []int64
	err := s.DB.SelectContext(ctx, &ids, q, cutoff, limit, after)
	return ids, mapErr(err)
}

// CountRetention counts who a rule applies to at cutoff.
func (s *Store) CountRetention(ctx context.Context, rule string, cutoff time.Time) (int64, error) {
	ids, err := s.RetentionIDs(ctx, rule, cutoff, 0, 1<<31-1)
	return int64(len(ids)), err
}

// DeleteSubscriptions deletes pending subscriptions (stale ones whose
// subscriber is on other lists); their name typed waits with them.
func (s *Store) DeleteSubscriptions(ctx context.Context, ids []int64) (int64, error) {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM subscriptions WHERE id = ANY($1) AND status = 'unconfirmed'`, pq.Array(ids))
	if err != nil {
		return 0, mapErr(err)
	}
	return res.RowsAffected()
}

// AskRepermission marks subscribers as asked again and queues a
// re-permission mail for each of their confirmed subscriptions; it returns
// the messages' ids.
func (s *Store) AskRepermission(ctx context.Context, subscriberIDs []int64) ([]int64, error) {
	var ids []int64
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		now := s.Now()
		return mapErr(tx.SelectContext(ctx, &ids, `
WITH asked AS (
    UPDATE subscribers SET repermission_at = $2 WHERE id = ANY($1) AND repermission_at IS NULL RETURNING id
)
INSERT INTO transactional_messages (subscription_id, kind, created_at)
SELECT sn.id, 'repermission', $2 FROM subscriptions sn JOIN asked a ON a.id = sn.subscriber_id WHERE sn.status = 'confirmed'
RETURNING id`, pq.Array(subscriberIDs), now))
	})
	return ids, err
}

// ConsentPurgeable returns the last chain position (seq) up to which every
// consent event is older than cutoff and belongs to someone no longer a
// subscriber, and how many events that is beyond the chain's base: a prefix
// the purge may delete (the chain can only lose a prefix and stay checkable).
func (s *Store) ConsentPurgeable(ctx context.Context, cutoff time.Time) (upTo, events int64, err error) {
	var base, head int64
	if err := s.DB.QueryRowxContext(ctx, `SELECT base_seq, seq FROM consent_chain`).Scan(&base, &head); err != nil {
		return 0, 0, mapErr(err)
	}
	var blocking sql.NullInt64
	err = s.DB.GetContext(ctx, &blocking, `
SELECT seq FROM consent_log c
WHERE c.created_at >= $1 OR EXISTS (SELECT 1 FROM subscribers s WHERE s.id = c.subscriber_id)
ORDER BY seq LIMIT 1`, cutoff)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, mapErr(err)
	}
	upTo = head
	if blocking.Valid {
		upTo = blocking.Int64 - 1
	}
	if upTo <= base {
		return base, 0, nil
	}
	return upTo, upTo - base, nil
}

// PurgeConsent deletes the consent events up to seq upTo (see
// ConsentPurgeable) and moves the chain's base there, so verification starts
// after them. It returns how many it deleted.
func (s *Store) PurgeConsent(ctx context.Context, upTo int64) (int64, error) {
	var n int64
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var base int64
		if err := tx.GetContext(ctx, &base, `SELECT base_seq FROM consent_chain FOR UPDATE`); err != nil {
			return mapErr(err)
		}
		if upTo <= base {
			return nil
		}
		var hash []byte
		if err := tx.GetContext(ctx, &hash, `SELECT hash FROM consent_log WHERE seq = $1`, upTo); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, `SELECT set_config('envoi.consent_purge', $1, true)`, strconv.FormatInt(upTo, 10)); err != nil {
			return mapErr(err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM consent_log WHERE seq <= $1`, upTo)
		if err != nil {
			return mapErr(err)
		}
		n, _ = res.RowsAffected()
		_, err = tx.ExecContext(ctx, `UPDATE consent_chain SET base_seq = $1, base_hash = $2`, upTo, hash)
		return mapErr(err)
	})
	return n, err
}

// WithTryLock runs fn holding a session advisory lock, if no other session
// holds it; ran says whether fn ran.
func (s *Store) WithTryLock(ctx context.Context, key int64, fn func() error) (ran bool, err error) {
	conn, err := s.DB.Connx(ctx)
	if err != nil {
		return false, mapErr(err)
	}
	defer conn.Close()
	var got bool
	if err := conn.GetContext(ctx, &got, `SELECT pg_try_advisory_lock($1)`, key); err != nil || !got {
		return false, mapErr(err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
	return true, fn()
}
