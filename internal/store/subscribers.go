package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

type subscriberRow struct {
	ID               int64          `db:"id"`
	Email            string         `db:"email"`
	Name             string         `db:"name"`
	Suppressed       bool           `db:"suppressed"`
	SuppressedReason string         `db:"suppressed_reason"`
	Restricted       bool           `db:"restricted"`
	Fields           model.Values   `db:"fields"`
	Slugs            pq.StringArray `db:"slugs"`
	Statuses         pq.StringArray `db:"statuses"`
}

func (r subscriberRow) subscriber() model.Subscriber {
	s := model.Subscriber{ID: r.ID, Email: r.Email, Name: r.Name, Lists: []model.ListMembership{}, Suppressed: r.Suppressed,
		SuppressedReason: r.SuppressedReason, Restricted: r.Restricted, Fields: r.Fields}
	if s.Fields == nil {
		s.Fields = model.Values{}
	}
	for i := range r.Slugs {
		s.Lists = append(s.Lists, model.ListMembership{Slug: r.Slugs[i], Status: r.Statuses[i]})
	}
	return s
}

const subscriberWithListsSQL = `
SELECT sr.id, sr.email, sr.name, sr.suppressed_at IS NOT NULL AS suppressed, sr.suppressed_reason, sr.restricted_at IS NOT NULL AS restricted, sr.fields,
       COALESCE(array_agg(l.slug ORDER BY l.slug) FILTER (WHERE l.id IS NOT NULL), '{}') AS slugs,
       COALESCE(array_agg(sn.status ORDER BY l.slug) FILTER (WHERE l.id IS NOT NULL), '{}') AS statuses
FROM subscribers sr
LEFT JOIN subscriptions sn ON sn.subscriber_id = sr.id
LEFT JOIN lists l ON l.id = sn.list_id`

// SubscribersByEmail returns the subscribers with this normalized address,
// ignoring the case of the local part (CONF@x and conf@x are one person's),
// by id.
func (s *Store) SubscribersByEmail(ctx context.Context, email string) ([]model.Subscriber, error) {
	var rows []subscriberRow
	if err := s.DB.SelectContext(ctx, &rows, subscriberWithListsSQL+` WHERE lower(sr.email) = lower($1) GROUP BY sr.id ORDER BY sr.id`, email); err != nil {
		return nil, mapErr(err)
	}
	out := []model.Subscriber{}
	for _, r := range rows {
		out = append(out, r.subscriber())
	}
	return out, nil
}

// SubscribersOnList returns up to limit of a list's subscribers with ids
// above after (keyset: the index on subscriptions takes it straight there),
// optionally only those with one status ("" for all), skipping skip of them
// first (numbered pages of older clients). Next is the last id of the page when
// more may follow.
func (s *Store) SubscribersOnList(ctx context.Context, listID int64, status string, after int64, skip, limit int) (model.SubscriberPage, error) {
	p := model.SubscriberPage{Items: []model.Subscriber{}, PerPage: limit}
	const filter = ` FROM subscriptions WHERE list_id = $1 AND ($2 = '' OR status = $2)`
	var rows []subscriberRow
	err := s.CustomPlans(ctx, func(q sqlx.QueryerContext) error {
		if err := sqlx.GetContext(ctx, q, &p.Total, `SELECT count(*)`+filter, listID, status); err != nil {
			return mapErr(err)
		}
		return mapErr(sqlx.SelectContext(ctx, q, &rows, subscriberWithListsSQL+`
WHERE sr.id IN (SELECT subscriber_id`+filter+` AND subscriber_id > $3 ORDER BY subscriber_id OFFSET $4 LIMIT $5)
GROUP BY sr.id ORDER BY sr.id`, listID, status, after, skip, limit))
	})
	if err != nil {
		return p, err
	}
	for _, r := range rows {
		p.Items = append(p.Items, r.subscriber())
	}
	if len(rows) == limit {
		p.Next = rows[len(rows)-1].ID
	}
	return p, nil
}

// SuppressSubscriber unsubscribes a subscriber from every list (logged with
// c) and marks them suppressed with the reason. Codes: not_found.
func (s *Store) SuppressSubscriber(ctx context.Context, subscriberID int64, reason string, c model.Consent) error {
	if err := s.UnsubscribeSubscriber(ctx, subscriberID, nil, c); err != nil {
		return err
	}
	// The address's keyed hash goes on the suppression list too: it outlives an
	// erasure, and imports skip it.
	var email string
	if err := s.DB.GetContext(ctx, &email, `SELECT email FROM subscribers WHERE id = $1`, subscriberID); err != nil {
		return mapErr(err)
	}
	_, err := s.DB.ExecContext(ctx, `
WITH u AS (
    UPDATE subscribers SET suppressed_at = COALESCE(suppressed_at, $2), suppressed_reason = $3, email_hash = COALESCE(email_hash, $4)
    WHERE id = $1 RETURNING email_hash
)
INSERT INTO suppressions (email_hash, reason, created_at) SELECT email_hash, $3, $2 FROM u WHERE email_hash IS NOT NULL
ON CONFLICT (email_hash) DO UPDATE SET reason = EXCLUDED.reason`,
		subscriberID, s.Now(), reason, s.Pseudo.Email(email))
	return mapErr(err)
}

// SubscriberByID returns one subscriber with the lists they are on. Codes: not_found.
func (s *Store) SubscriberByID(ctx context.Context, id int64) (model.Subscriber, error) {
	var r subscriberRow
	if err := s.DB.GetContext(ctx, &r, subscriberWithListsSQL+` WHERE sr.id = $1 GROUP BY sr.id`, id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return model.Subscriber{}, apperr.New(apperr.NotFound, "There is no subscriber with this id.")
		}
		return model.Subscriber{}, mapErr(err)
	}
	return r.subscriber(), nil
}

// UnsubscribeSubscriber ends a subscriber's subscriptions on the given lists
// (all of them when listIDs is empty) at once, logging each change with c.
// Repeating it is harmless. Codes: not_found.
func (s *Store) UnsubscribeSubscriber(ctx context.Context, subscriberID int64, listIDs []int64, c model.Consent) error {
	return s.InTx(ctx, func(tx *sqlx.Tx) error {
		var exists bool
		if err := tx.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM subscribers WHERE id = $1)`, subscriberID); err != nil {
			return mapErr(err)
		}
		if !exists {
			return apperr.New(apperr.NotFound, "There is no subscriber with this id.")
		}
		now := s.Now()
		var changed []int64
		if err := tx.SelectContext(ctx, &changed, `
UPDATE subscriptions SET status = 'unsubscribed', unsubscribed_at = $3, updated_at = $3
WHERE subscriber_id = $1 AND status <> 'unsubscribed' AND (COALESCE(cardinality($2::bigint[]), 0) = 0 OR list_id = ANY ($2))
RETURNING list_id`, subscriberID, pq.Array(listIDs), now); err != nil {
			return mapErr(err)
		}
		for _, l := range changed {
			if err := s.logConsent(ctx, tx, subscriberID, l, "unsubscribe", c, now); err != nil {
				return err
			}
		}
		return nil
	})
}
