package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
)

// SaveCampaignLinks records the targets of a campaign's rewritten links by
// index. Compiling is deterministic, so every process of a send saves the same
// rows: the first one wins, the others change nothing.
func (s *Store) SaveCampaignLinks(ctx context.Context, campaignID int64, urls []string) error {
	if len(urls) == 0 {
		return nil
	}
	_, err := s.DB.ExecContext(ctx, `
INSERT INTO campaign_links (campaign_id, idx, url)
SELECT $1, n - 1, u FROM unnest($2::text[]) WITH ORDINALITY AS t(u, n)
ON CONFLICT (campaign_id, idx) DO NOTHING`, campaignID, pq.StringArray(urls))
	return mapErr(err)
}

// CampaignLinks returns a campaign's links by index with their clicks.
func (s *Store) CampaignLinks(ctx context.Context, campaignID int64) ([]model.CampaignLink, error) {
	ls := []model.CampaignLink{}
	err := s.DB.SelectContext(ctx, &ls, `SELECT idx, url, clicks FROM campaign_links WHERE campaign_id = $1 ORDER BY idx`, campaignID)
	return ls, mapErr(err)
}

// CampaignLinkURL returns the target of one link of a campaign. Codes: not_found.
func (s *Store) CampaignLinkURL(ctx context.Context, campaignID int64, idx int) (string, error) {
	var u string
	err := s.DB.GetContext(ctx, &u, `SELECT url FROM campaign_links WHERE campaign_id = $1 AND idx = $2`, campaignID, idx)
	if errors.Is(err, sql.ErrNoRows) {
		return "", apperr.New(apperr.NotFound, "There is no such link.")
	}
	return u, mapErr(err)
}

// TrackEvent is one click (Link >= 0) or open (Link < 0) to count. SubscriberID
// 0 is an anonymous one (the aggregate open pixel).
type TrackEvent struct {
	CampaignID   int64
	SubscriberID int64
	Link         int
}

// trackSQL counts a group of clicks and opens in one statement: clicks per
// link and opens per campaign in aggregate; a click (never an open) moves the
// subscriber's last activity; a per-person event is kept only for a
// subscriber with tracking consent on an open_tracking list of the campaign,
// checked now (a withdrawal counts for mail sent before it).
const trackSQL = `
WITH req AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[]) AS r(campaign_id, subscriber_id, link)
), clicks AS (
    UPDATE campaign_links l SET clicks = l.clicks + r.n
    FROM (SELECT campaign_id, link, count(*) AS n FROM req WHERE link >= 0 GROUP BY 1, 2) r
    WHERE l.campaign_id = r.campaign_id AND l.idx = r.link
), opens AS (
    INSERT INTO campaign_stats AS cs (campaign_id, opens)
    SELECT r.campaign_id, count(*) FROM req r JOIN campaigns c ON c.id = r.campaign_id WHERE r.link < 0 GROUP BY 1
    ON CONFLICT (campaign_id) DO UPDATE SET opens = cs.opens + EXCLUDED.opens
), active AS (
    UPDATE subscribers s SET last_activity_at = $4
    FROM (SELECT DISTINCT subscriber_id FROM req WHERE link >= 0 AND subscriber_id > 0) r
    WHERE s.id = r.subscriber_id AND s.last_activity_at < $4
)
INSERT INTO tracking_events (campaign_id, subscriber_id, kind, link_idx, created_at)
SELECT r.campaign_id, r.subscriber_id, CASE WHEN r.link >= 0 THEN 'click' ELSE 'open' END, NULLIF(r.link, -1), $4
FROM req r
WHERE r.subscriber_id > 0 AND EXISTS (
    SELECT 1 FROM subscriptions sn JOIN campaign_lists cl ON cl.list_id = sn.list_id AND cl.campaign_id = r.campaign_id
    JOIN lists l ON l.id = sn.list_id
    WHERE sn.subscriber_id = r.subscriber_id AND sn.status = 'confirmed' AND sn.tracking_consent_at IS NOT NULL AND l.open_tracking)
  AND (r.link < 0 OR EXISTS (SELECT 1 FROM campaign_links cl WHERE cl.campaign_id = r.campaign_id AND cl.idx = r.link))`

// Track counts a group of clicks and opens in one statement and one commit
// (group commit of concurrent requests). The answers are empty.
func (s *Store) Track(ctx context.Context, evs []TrackEvent) ([]struct{}, error) {
	st, err := s.stmt(ctx, trackSQL)
	if err != nil {
		return nil, err
	}
	n := len(evs)
	cids, sids, links := make(pq.Int64Array, n), make(pq.Int64Array, n), make(pq.Int64Array, n)
	for i, e := range evs {
		cids[i], sids[i], links[i] = e.CampaignID, e.SubscriberID, int64(e.Link)
	}
	if _, err := st.ExecContext(ctx, cids, sids, links, s.Now()); err != nil {
		return nil, mapErr(err)
	}
	return make([]struct{}, n), nil
}

// SetTrackingConsent gives (on) or withdraws the separate tracking consent of
// a subscriber on a list, logged in the consent log as tracking_consent or
// tracking_withdraw with c. Giving it needs a confirmed subscription.
// Repeating is harmless: it returns whether this call changed anything.
// Codes: not_found (no such subscription), conflict (giving it to an
// unconfirmed one).
func (s *Store) SetTrackingConsent(ctx context.Context, subscriberID, listID int64, on bool, c model.Consent) (bool, error) {
	changed := false
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var status string
		var at *time.Time
		err := tx.QueryRowxContext(ctx, `SELECT status, tracking_consent_at FROM subscriptions WHERE subscriber_id = $1 AND list_id = $2 FOR UPDATE`,
			subscriberID, listID).Scan(&status, &at)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.NotFound, "There is no such subscription.")
		}
		if err != nil {
			return mapErr(err)
		}
		now := s.Now()
		switch {
		case on && at != nil, !on && at == nil:
			// Nothing to change; a withdrawal also forgets a pending request.
			if !on {
				_, err := tx.ExecContext(ctx, `UPDATE subscriptions SET tracking_requested = false WHERE subscriber_id = $1 AND list_id = $2 AND tracking_requested`,
					subscriberID, listID)
				return mapErr(err)
			}
			return nil
		case on && status != model.StatusConfirmed:
			return apperr.New(apperr.Conflict, "Tracking consent is given on a confirmed subscription.")
		}
		var set any
		action := "tracking_withdraw"
		if on {
			set, action = now, "tracking_consent"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET tracking_consent_at = $3, tracking_requested = false, updated_at = $4
WHERE subscriber_id = $1 AND list_id = $2`, subscriberID, listID, set, now); err != nil {
			return mapErr(err)
		}
		changed = true
		return s.logConsent(ctx, tx, subscriberID, listID, action, c, now)
	})
	return changed, err
}

// applyTrackingRequest makes the tracking consent asked for with a signup
// effective, in the transaction of its confirmation (double opt-in); the
// consent event was logged with the signup.
func (s *Store) applyTrackingRequest(ctx context.Context, tx *sqlx.Tx, subscriptionID int64, at time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE subscriptions SET tracking_consent_at = $2, tracking_requested = false
WHERE id = $1 AND tracking_requested`, subscriptionID, at)
	return mapErr(err)
}

// TrackingConsent says whether a subscriber's subscription on a list has the
// separate tracking consent. Codes: not_found.
func (s *Store) TrackingConsent(ctx context.Context, subscriberID, listID int64) (bool, error) {
	var on bool
	err := s.DB.GetContext(ctx, &on, `SELECT tracking_consent_at IS NOT NULL FROM subscriptions WHERE subscriber_id = $1 AND list_id = $2`, subscriberID, listID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, apperr.New(apperr.NotFound, "There is no such subscription.")
	}
	return on, mapErr(err)
}
