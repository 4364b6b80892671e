package store

import (
	"context"
	"time"
	"unicode/utf8"

	"github.com/lib/pq"

	"github.com/envoi/envoi/internal/model"
)

// TransactionalClaim asks for one transactional message to be claimed (ID not
// 0) and/or the outcome of a sender's message to be recorded (Prev.ID not 0).
type TransactionalClaim struct {
	ID   int64
	Prev TransactionalOutcome
}

// TransactionalOutcome records what became of a claimed message: status is a
// ledger status (queued again after a temporary failure, sent, failed, skipped).
type TransactionalOutcome struct {
	ID     int64
	Status string
	Error  string
}

// TransactionalClaimed is the answer to one claim: OK when the message is this
// sender's to send now, with its subscription.
type TransactionalClaimed struct {
	Message      model.TransactionalMessage
	Subscription model.Subscription
	OK           bool
}

// claimTransactionalSQL is prepared once and runs on one generic plan, made
// from the statistics of the moment, maybe of an empty ledger (a new install).
// So that such a plan stays good as the tables grow, every row is reached
// through a primary key: the messages by id = ANY (not a join that could turn
// into a scan), and 'queued' is a parameter ($7), so that the partial index of
// queued messages (the sweeper's, which can hold a whole backlog) is never the
// way in.
const claimTransactionalSQL = `
WITH req AS (
    SELECT * FROM unnest($2::bigint[], $3::text[], $4::text[]) AS r(prev_id, prev_status, prev_error)
), finished AS (
    UPDATE transactional_messages t
    SET status = r.prev_status, last_error = r.prev_error, claimed_at = NULL,
        sent_at = CASE WHEN r.prev_status = 'sent' THEN $5::timestamptz END
    FROM req r
    WHERE t.id = ANY ($2::bigint[]) AND t.id = r.prev_id AND t.status = $7 AND t.claimed_at IS NOT NULL
), claimed AS (
    UPDATE transactional_messages t SET claimed_at = $5, attempts = t.attempts + 1
    WHERE t.id = ANY ($1::bigint[]) AND t.status = $7 AND (t.claimed_at IS NULL OR t.claimed_at < $6)
      -- A row whose outcome this statement records is not claimed by it too.
      AND t.id <> ALL ($2::bigint[])
    RETURNING t.id, t.subscription_id, t.kind, t.attempts
)
SELECT c.id AS tm_id, c.kind AS tm_kind, c.attempts AS tm_attempts, ` + subscriptionColumns + `
JOIN claimed c ON c.subscription_id = sn.id`

// ClaimTransactional is ClaimDeliveries for transactional mail: in one
// statement and one commit it records the outcomes given and claims the
// messages asked for, each if still queued and not claimed since staleBefore.
// The answer has one entry per claim, in order; OK is false when the message is
// done, erased, or claimed by another sender (tell them apart with
// TransactionalMessageByID). A message asked twice in one group is given once.
func (s *Store) ClaimTransactional(ctx context.Context, claims []TransactionalClaim, staleBefore time.Time) ([]TransactionalClaimed, error) {
	n := len(claims)
	ids, pids := make(pq.Int64Array, n), make(pq.Int64Array, n)
	pst, perr := make(pq.StringArray, n), make(pq.StringArray, n)
	for i, c := range claims {
		ids[i], pids[i], pst[i], perr[i] = c.ID, c.Prev.ID, c.Prev.Status, truncate(c.Prev.Error, 500)
	}
	st, err := s.stmt(ctx, claimTransactionalSQL)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryxContext(ctx, ids, pids, pst, perr, s.Now(), staleBefore, model.MessageQueued)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	got := make(map[int64]TransactionalClaimed, n)
	for rows.Next() {
		var row struct {
			TMID       int64  `db:"tm_id"`
			TMKind     string `db:"tm_kind"`
			TMAttempts int    `db:"tm_attempts"`
			model.Subscription
		}
		if err := rows.StructScan(&row); err != nil {
			return nil, mapErr(err)
		}
		got[row.TMID] = TransactionalClaimed{OK: true, Subscription: row.Subscription, Message: model.TransactionalMessage{
			ID: row.TMID, SubscriptionID: row.Subscription.ID, Kind: row.TMKind, Status: model.MessageQueued, Attempts: row.TMAttempts}}
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	out := make([]TransactionalClaimed, n)
	for i, c := range claims {
		if c.ID == 0 {
			continue
		}
		out[i] = got[c.ID]
		delete(got, c.ID)
	}
	return out, nil
}

// TransactionalMessageByID returns one ledger row. Codes: not_found.
func (s *Store) TransactionalMessageByID(ctx context.Context, id int64) (model.TransactionalMessage, error) {
	var m model.TransactionalMessage
	err := s.DB.GetContext(ctx, &m, `SELECT id, subscription_id, kind, status, attempts FROM transactional_messages WHERE id = $1`, id)
	return m, mapErr(err)
}

// QueuedTransactional returns ids of messages still queued and created before
// the cutoff, oldest first: jobs that may have been lost (Redis restarted, the
// enqueue after commit failed, or the worker that claimed it died).
func (s *Store) QueuedTransactional(ctx context.Context, before time.Time, limit int) ([]int64, error) {
	ids := []int64{}
	err := s.DB.SelectContext(ctx, &ids, `
SELECT id FROM transactional_messages WHERE status = 'queued' AND created_at < $1
ORDER BY created_at LIMIT $2`, before, limit)
	return ids, mapErr(err)
}

// truncate cuts s to at most n bytes at a rune boundary, so what is stored is
// valid UTF-8.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
