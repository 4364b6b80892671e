package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
)

// Bounce is one bounce or complaint that maps to a subscriber.
type Bounce struct {
	SubscriberID int64
	CampaignID   int64 // 0: not a campaign message (or not known)
	Kind         string
	Source       string
	Status       string
	Diagnostic   string // no address in it (bounce.Redact)
	EventID      string
}

// RecordBounce stores a bounce; false when the same one was recorded before (a
// report delivered twice, a replayed webhook event, the same message's bounce
// from two sources): the caller then changes nothing.
func (s *Store) RecordBounce(ctx context.Context, b Bounce) (bool, error) {
	res, err := s.DB.ExecContext(ctx, `
INSERT INTO bounces (subscriber_id, campaign_id, kind, source, status, diagnostic, event_id, created_at)
SELECT $1, NULLIF($2, 0), $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM subscribers WHERE id = $1)
ON CONFLICT DO NOTHING`,
		b.SubscriberID, b.CampaignID, b.Kind, b.Source, truncate(b.Status, 16), truncate(b.Diagnostic, 200), truncate(b.EventID, 200), s.Now())
	if err != nil {
		return false, mapErr(err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// SoftBouncesInLastSends counts the subscriber's last window campaign sends
// that came back with a soft bounce.
func (s *Store) SoftBouncesInLastSends(ctx context.Context, subscriberID int64, window int) (int, error) {
	var n int
	err := s.DB.GetContext(ctx, &n, `
WITH last AS (
    SELECT campaign_id FROM deliveries WHERE subscriber_id = $1 AND status IN ('sent', 'failed')
    ORDER BY updated_at DESC LIMIT $2
)
SELECT count(DISTINCT b.campaign_id) FROM bounces b
WHERE b.subscriber_id = $1 AND b.kind = 'soft' AND b.campaign_id IN (SELECT campaign_id FROM last)`, subscriberID, window)
	return n, mapErr(err)
}

// SuppressBounced marks a subscriber suppressed for a bounce reason
// (hard_bounce, soft_bounces) without ending their subscriptions: a dead
// address withdrew no consent. The first reason stays; the keyed hash goes
// on the suppression list, and a suppress event on the consent log. False
// when they were suppressed already.
func (s *Store) SuppressBounced(ctx context.Context, subscriberID int64, reason string, c model.Consent) (bool, error) {
	var changed bool
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		now := s.Now()
		var email string
		err := tx.GetContext(ctx, &email, `
UPDATE subscribers SET suppressed_at = $2, suppressed_reason = $3
WHERE id = $1 AND suppressed_at IS NULL RETURNING email`, subscriberID, now, reason)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return mapErr(err)
		}
		changed = true
		h := s.Pseudo.Email(email)
		if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET email_hash = COALESCE(email_hash, $2) WHERE id = $1`, subscriberID, h); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO suppressions (email_hash, reason, created_at) VALUES ($1, $2, $3)
ON CONFLICT (email_hash) DO NOTHING`, h, reason, now); err != nil {
			return mapErr(err)
		}
		return s.logConsent(ctx, tx, subscriberID, 0, "suppress", c, now)
	})
	return changed, err
}

// SubscriberOfTransactional returns the subscriber a transactional message
// went to. Codes: not_found.
func (s *Store) SubscriberOfTransactional(ctx context.Context, messageID int64) (int64, error) {
	var id int64
	err := s.DB.GetContext(ctx, &id, `SELECT sn.subscriber_id FROM transactional_messages t JOIN subscriptions sn ON sn.id = t.subscription_id WHERE t.id = $1`, messageID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, apperr.New(apperr.NotFound, "There is no such message.")
	}
	return id, mapErr(err)
}

// SubscriberOfSubscription returns a subscription's subscriber. Codes: not_found.
func (s *Store) SubscriberOfSubscription(ctx context.Context, subscriptionID int64) (int64, error) {
	var id int64
	err := s.DB.GetContext(ctx, &id, `SELECT subscriber_id FROM subscriptions WHERE id = $1`, subscriptionID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, apperr.New(apperr.NotFound, "There is no such subscription.")
	}
	return id, mapErr(err)
}

// SubscriberIDByEmail finds a subscriber by address (case ignored); 0 when
// there is none.
func (s *Store) SubscriberIDByEmail(ctx context.Context, email string) (int64, error) {
	var id int64
	err := s.DB.GetContext(ctx, &id, `SELECT id FROM subscribers WHERE lower(email) = lower($1)`, email)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, mapErr(err)
}

// LatestCampaignSentTo returns the campaign most recently sent to the
// subscriber since the given time, 0 if none: a report that names only the
// recipient is counted for it.
func (s *Store) LatestCampaignSentTo(ctx context.Context, subscriberID int64, since time.Time) (int64, error) {
	var id int64
	err := s.DB.GetContext(ctx, &id, `
SELECT campaign_id FROM deliveries WHERE subscriber_id = $1 AND status IN ('sent', 'failed') AND updated_at >= $2
ORDER BY updated_at DESC LIMIT 1`, subscriberID, since)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, mapErr(err)
}

// PauseCampaignFor pauses a sending campaign and says why; false when it was
// not sending (paused, finished or cancelled meanwhile).
func (s *Store) PauseCampaignFor(ctx context.Context, id int64, reason string) (bool, error) {
	res, err := s.DB.ExecContext(ctx, `UPDATE campaigns SET status = 'paused', paused_reason = $2, updated_at = $3 WHERE id = $1 AND status = 'sending'`,
		id, truncate(reason, 1000), s.Now())
	if err != nil {
		return false, mapErr(err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
