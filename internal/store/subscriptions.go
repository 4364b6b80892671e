package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/envoi/envoi/internal/address"
	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
)

// ConfirmInterval is the least time between two confirmation mails for one
// address and list, so nobody can bomb an inbox through the form.
const ConfirmInterval = 15 * time.Minute

// SignupParams is one signup request for one list.
type SignupParams struct {
	Email   string // normalized
	Name    string
	ListID  int64
	Consent model.Consent
	Fields  model.Values // custom fields the list collects; they wait with the request as the name does
	// Tracking: the separate tracking consent box was ticked (its text's
	// version in TrackingTextVersion); effective at confirmation.
	Tracking            bool
	TrackingTextVersion string
}

// SignupResult says what a signup did. It is never shown to the requester.
type SignupResult struct {
	SubscriptionID int64
	Status         string
	// MessageID is the queued confirmation mail, or 0 when none is due (already
	// confirmed, or one was sent less than ConfirmInterval ago).
	MessageID int64
}

// signupsSQL does whole signups in one statement (one round trip, atomic, one
// commit for a group of them): upsert the subscribers (an unauthenticated
// request never changes one: the name typed waits in the subscription, for the
// confirmation to apply), upsert the subscriptions and
// claim the right to send a confirmation (not when confirmed, at most one per
// ConfirmInterval), queue those mails in the ledger, and log each signup. A
// claim marks the row with this transaction's id, which tells RETURNING whether
// this statement made it; the claim needs the inbox's too (confirm_claims),
// so that no spelling of an address gets a second mail within the interval.
// (inbox, list) must not repeat within one call.
const signupsSQL = `
WITH req AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $10::bytea[],
                         $11::bytea[], $12::bytea[], $13::bytea[], $14::text[], $15::boolean[], $16::text[])
        WITH ORDINALITY AS r(email, name, list_id, source, ip, user_agent, text_version, inbox, email_hash, ip_hash, ua_hash, fields, tracking, tracking_version, n)
), inbox AS (
    -- The right to mail this inbox about this list, at most once per ConfirmInterval
    -- whatever the address's spelling; a row comes back only when this statement got it.
    INSERT INTO confirm_claims (inbox_hash, list_id, requested_at)
    SELECT DISTINCT ON (inbox, list_id) inbox, list_id, $8 FROM req
    ON CONFLICT (inbox_hash, list_id) DO UPDATE SET requested_at = EXCLUDED.requested_at
        WHERE confirm_claims.requested_at <= EXCLUDED.requested_at - make_interval(secs => $9)
    RETURNING inbox_hash, list_id
), sub AS (
    -- A new subscriber has no name until a confirmation applies the one typed.
    -- An address on the suppression list (erased, complained, objected) comes back
    -- suppressed: only a fresh confirmed opt-in lifts it.
    INSERT INTO subscribers (email, name, email_hash, suppressed_at, suppressed_reason)
    -- Addresses are one ignoring the case of the local part: the first spelling stays.
    SELECT DISTINCT ON (lower(email)) email, '', req.email_hash, CASE WHEN sp.reason IS NOT NULL THEN $8::timestamptz END, COALESCE(sp.reason, '')
    FROM req LEFT JOIN suppressions sp ON sp.email_hash = req.email_hash ORDER BY lower(email), n
    ON CONFLICT ((lower(email))) DO UPDATE SET email = subscribers.email, email_hash = COALESCE(subscribers.email_hash, EXCLUDED.email_hash)
    RETURNING id, email
), sn AS (
    -- The proposed row carries the inbox's answer: a claim txid only when granted.
    INSERT INTO subscriptions (subscriber_id, list_id, confirm_requested_at, confirm_claim_txid, pending_name, pending_fields, tracking_requested, created_at, updated_at)
    SELECT sub.id, req.list_id, CASE WHEN g.granted THEN $8::timestamptz END, CASE WHEN g.granted THEN txid_current() END, req.name, req.fields::jsonb, req.tracking, $8, $8
    FROM req JOIN sub ON lower(sub.email) = lower(req.email)
    CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM inbox i WHERE i.inbox_hash = req.inbox AND i.list_id = req.list_id) AS granted) g
    ON CONFLICT (subscriber_id, list_id) DO UPDATE SET
        -- The name goes with the request that gets a confirmation mail, and only with it.
        pending_name = CASE WHEN EXCLUDED.confirm_claim_txid IS NOT NULL AND subscriptions.status <> 'confirmed' AND (subscriptions.confirm_requested_at IS NULL
            OR subscriptions.confirm_requested_at <= $8::timestamptz - make_interval(secs => $9))
            THEN EXCLUDED.pending_name ELSE subscriptions.pending_name END,
        pending_fields = CASE WHEN EXCLUDED.confirm_claim_txid IS NOT NULL AND subscriptions.status <> 'confirmed' AND (subscriptions.confirm_requested_at IS NULL
            OR subscriptions.confirm_requested_at <= $8::timestamptz - make_interval(secs => $9))
            THEN EXCLUDED.pending_fields ELSE subscriptions.pending_fields END,
        tracking_requested = CASE WHEN EXCLUDED.confirm_claim_txid IS NOT NULL AND subscriptions.status <> 'confirmed' AND (subscriptions.confirm_requested_at IS NULL
            OR subscriptions.confirm_requested_at <= $8::timestamptz - make_interval(secs => $9))
            THEN EXCLUDED.tracking_requested ELSE subscriptions.tracking_requested END,
        confirm_claim_txid = CASE WHEN EXCLUDED.confirm_claim_txid IS NOT NULL AND subscriptions.status <> 'confirmed' AND (subscriptions.confirm_requested_at IS NULL
            OR subscriptions.confirm_requested_at <= $8::timestamptz - make_interval(secs => $9))
            THEN txid_current() ELSE subscriptions.confirm_claim_txid END,
        confirm_requested_at = CASE WHEN EXCLUDED.confirm_claim_txid IS NOT NULL AND subscriptions.status <> 'confirmed' AND (subscriptions.confirm_requested_at IS NULL
            OR subscriptions.confirm_requested_at <= $8::timestamptz - make_interval(secs => $9))
            THEN $8::timestamptz ELSE subscriptions.confirm_requested_at END
    RETURNING id, subscriber_id, list_id, status, confirm_claim_txid IS NOT DISTINCT FROM txid_current() AS claimed
), msg AS (
    INSERT INTO transactional_messages (subscription_id, kind, created_at)
    SELECT id, 'confirm', $8 FROM sn WHERE claimed
    RETURNING id, subscription_id
), matched AS (
    SELECT req.*, sn.id AS subscription_id, sn.subscriber_id, sn.status
    FROM req JOIN sub ON lower(sub.email) = lower(req.email) JOIN sn ON sn.subscriber_id = sub.id AND sn.list_id = req.list_id
), logged AS (
    INSERT INTO consent_log (subscriber_id, list_id, action, source, ip, user_agent, consent_text_version, created_at, email_hash, ip_hash, ua_hash)
    SELECT subscriber_id, list_id, 'signup', source, NULLIF(ip, '')::inet, user_agent, text_version, $8, email_hash, ip_hash, ua_hash FROM matched
    -- The separate purpose, as its own event (it takes effect at confirmation).
    UNION ALL
    SELECT subscriber_id, list_id, 'tracking_consent', source, NULLIF(ip, '')::inet, user_agent, tracking_version, $8, email_hash, ip_hash, ua_hash FROM matched WHERE tracking
)
SELECT m.n, m.subscription_id, m.status, COALESCE(msg.id, 0)
FROM matched m LEFT JOIN msg ON msg.subscription_id = m.subscription_id`

// Signup records a signup for one list: creates the subscriber and subscription
// when new, logs the consent event, and queues a confirmation mail in the ledger
// unless the subscription is confirmed or one was queued recently.
func (s *Store) Signup(ctx context.Context, p SignupParams) (SignupResult, error) {
	rs, err := s.Signups(ctx, []SignupParams{p})
	if err != nil {
		return SignupResult{}, err
	}
	return rs[0], nil
}

// Signups records several signups in one statement and one commit (group
// commit of concurrent signups), each as Signup would; the results are in
// order. No (inbox, list) may appear twice.
func (s *Store) Signups(ctx context.Context, ps []SignupParams) ([]SignupResult, error) {
	st, err := s.stmt(ctx, signupsSQL)
	if err != nil {
		return nil, err
	}
	n := len(ps)
	emails, names, srcs, ips, uas, vers := make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n),
		make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n)
	lists := make(pq.Int64Array, n)
	inboxes, ehs, ihs, uhs := make(pq.ByteaArray, n), make(pq.ByteaArray, n), make(pq.ByteaArray, n), make(pq.ByteaArray, n)
	fields := make(pq.StringArray, n)
	tracking, tvers := make(pq.BoolArray, n), make(pq.StringArray, n)
	for i, p := range ps {
		sum := sha256.Sum256([]byte(address.InboxKey(p.Email)))
		emails[i], names[i], lists[i], inboxes[i] = p.Email, p.Name, p.ListID, sum[:]
		ua := truncate(p.Consent.UserAgent, 500)
		srcs[i], ips[i], uas[i], vers[i] = p.Consent.Source, p.Consent.IP, ua, p.Consent.TextVersion
		ehs[i], ihs[i], uhs[i] = s.Pseudo.Email(p.Email), s.Pseudo.IP(p.Consent.IP), s.Pseudo.UserAgent(ua)
		fields[i] = "{}"
		if len(p.Fields) > 0 {
			b, _ := json.Marshal(p.Fields)
			fields[i] = string(b)
		}
		tracking[i], tvers[i] = p.Tracking, p.TrackingTextVersion
	}
	rows, err := st.QueryContext(ctx, emails, names, lists, srcs, ips, uas, vers, s.Now(), ConfirmInterval.Seconds(), inboxes, ehs, ihs, uhs, fields, tracking, tvers)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := make([]SignupResult, n)
	got := 0
	for rows.Next() {
		var i int
		var r SignupResult
		if err := rows.Scan(&i, &r.SubscriptionID, &r.Status, &r.MessageID); err != nil {
			return nil, mapErr(err)
		}
		out[i-1] = r
		got++
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	if got != n {
		return nil, fmt.Errorf("signups: %d results for %d requests", got, n)
	}
	return out, nil
}

// ResendConfirmation queues a new confirmation mail for an unconfirmed subscription,
// subject to the same ConfirmInterval, for the subscription and for its inbox
// (confirm_claims: another spelling's mail within the interval counts). It
// returns the message id or 0.
func (s *Store) ResendConfirmation(ctx context.Context, subscriptionID int64) (int64, error) {
	sub, err := s.SubscriptionByID(ctx, subscriptionID)
	if apperr.ErrorCode(err) == apperr.NotFound {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	inbox := sha256.Sum256([]byte(address.InboxKey(sub.Email)))
	const q = `
WITH due AS (
    SELECT id, list_id FROM subscriptions
    WHERE id = $1 AND status <> 'confirmed'
      AND (confirm_requested_at IS NULL OR confirm_requested_at <= $2::timestamptz - make_interval(secs => $3))
), inbox AS (
    INSERT INTO confirm_claims (inbox_hash, list_id, requested_at)
    SELECT $4, list_id, $2 FROM due
    ON CONFLICT (inbox_hash, list_id) DO UPDATE SET requested_at = EXCLUDED.requested_at
        WHERE confirm_claims.requested_at <= EXCLUDED.requested_at - make_interval(secs => $3)
    RETURNING list_id
), claim AS (
    UPDATE subscriptions SET confirm_requested_at = $2, confirm_claim_txid = txid_current(), updated_at = $2
    WHERE id = (SELECT id FROM due) AND EXISTS (SELECT 1 FROM inbox)
    RETURNING id
)
INSERT INTO transactional_messages (subscription_id, kind, created_at)
SELECT id, 'confirm', $2 FROM claim RETURNING id`
	var id int64
	err = s.DB.GetContext(ctx, &id, q, subscriptionID, s.Now(), ConfirmInterval.Seconds(), inbox[:])
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, mapErr(err)
}

const subscriptionColumns = `
    sn.id, sn.subscriber_id, sn.list_id, sn.status, sn.confirm_requested_at, sn.confirmed_at,
    sn.unsubscribed_at, sr.email, sr.name, l.slug AS list_slug, l.name AS list_name,
    l.welcome_enabled, l.welcome_subject, l.welcome_body, l.language AS list_language
FROM subscriptions sn
JOIN subscribers sr ON sr.id = sn.subscriber_id
JOIN lists l ON l.id = sn.list_id`

// SubscriptionByID returns one subscription. Codes: not_found.
func (s *Store) SubscriptionByID(ctx context.Context, id int64) (model.Subscription, error) {
	var sub model.Subscription
	err := s.DB.GetContext(ctx, &sub, `SELECT `+subscriptionColumns+` WHERE sn.id = $1`, id)
	return sub, mapErr(err)
}

// ConfirmResult says what a confirmation did.
type ConfirmResult struct {
	Subscription     model.Subscription
	AlreadyConfirmed bool
	WelcomeMessageID int64 // 0 when no welcome mail is due
}

// ErrStaleConfirm: the confirmation link predates a later unsubscription.
var ErrStaleConfirm = apperr.New(apperr.Expired, "This confirmation link was sent before you unsubscribed. Sign up again to get a new one.")

// ConfirmSubscription marks a subscription confirmed, logs the consent and queues
// the list's welcome mail. Confirming twice is harmless. A link issued before the
// subscriber's last unsubscription does not resubscribe them (ErrStaleConfirm).
// Codes: not_found, expired.
func (s *Store) ConfirmSubscription(ctx context.Context, id int64, issuedAt time.Time, c model.Consent) (ConfirmResult, error) {
	var r ConfirmResult
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &r.Subscription, `SELECT `+subscriptionColumns+` WHERE sn.id = $1 FOR UPDATE OF sn`, id); err != nil {
			return mapErr(err)
		}
		sub := &r.Subscription
		now := s.Now()
		// A confirmation is a sign of life, and the answer to a re-permission mail.
		if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET last_activity_at = $2, repermission_at = NULL WHERE id = $1`, sub.SubscriberID, now); err != nil {
			return mapErr(err)
		}
		switch {
		case sub.Status == model.StatusConfirmed:
			r.AlreadyConfirmed = true
			return nil
		case sub.Status == model.StatusUnsubscribed && sub.UnsubscribedAt != nil && sub.UnsubscribedAt.After(issuedAt):
			return ErrStaleConfirm
		}
		var pendingName string
		var pendingFields []byte
		if err := tx.QueryRowxContext(ctx, `SELECT pending_name, pending_fields FROM subscriptions WHERE id = $1`, id).Scan(&pendingName, &pendingFields); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET status = 'confirmed', confirmed_at = $2, unsubscribed_at = NULL, updated_at = $2,
    pending_name = '', pending_fields = '{}' WHERE id = $1`, id, now); err != nil {
			return mapErr(err)
		}
		// The confirmation applies the custom fields typed with the signup too.
		if string(pendingFields) != "{}" && len(pendingFields) > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET fields = fields || $2::jsonb WHERE id = $1`, sub.SubscriberID, pendingFields); err != nil {
				return mapErr(err)
			}
		}
		if err := s.applyTrackingRequest(ctx, tx, id, now); err != nil {
			return err
		}
		// A fresh confirmed opt-in lifts a past suppression (a link older than
		// the unsubscription that came with it is refused above: ErrStaleConfirm).
		if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET suppressed_at = NULL, suppressed_reason = '' WHERE id = $1 AND suppressed_at IS NOT NULL`,
			sub.SubscriberID); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM suppressions WHERE email_hash = (SELECT email_hash FROM subscribers WHERE id = $1)`,
			sub.SubscriberID); err != nil {
			return mapErr(err)
		}
		// The confirmation (the signed link, POSTed) applies the name typed with the signup.
		if pendingName != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET name = $2 WHERE id = $1`, sub.SubscriberID, pendingName); err != nil {
				return mapErr(err)
			}
			sub.Name = pendingName
		}
		sub.Status, sub.ConfirmedAt = model.StatusConfirmed, &now
		if err := s.logConsent(ctx, tx, sub.SubscriberID, sub.ListID, "confirm", c, now); err != nil {
			return err
		}
		if sub.WelcomeEnabled {
			return mapErr(tx.GetContext(ctx, &r.WelcomeMessageID,
				`INSERT INTO transactional_messages (subscription_id, kind, created_at) VALUES ($1, 'welcome', $2) RETURNING id`, id, now))
		}
		return nil
	})
	return r, err
}

// Unsubscribe ends a subscription at once and logs it. Repeating it is harmless;
// it returns whether this call changed anything. Codes: not_found.
func (s *Store) Unsubscribe(ctx context.Context, id int64, c model.Consent) (bool, error) {
	changed := false
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var subscriberID, listID int64
		now := s.Now()
		err := tx.QueryRowxContext(ctx, `
UPDATE subscriptions SET status = 'unsubscribed', unsubscribed_at = $2, updated_at = $2
WHERE id = $1 AND status <> 'unsubscribed'
RETURNING subscriber_id, list_id`, id, now).Scan(&subscriberID, &listID)
		if errors.Is(err, sql.ErrNoRows) {
			var exists bool
			if err := tx.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM subscriptions WHERE id = $1)`, id); err != nil {
				return mapErr(err)
			}
			if !exists {
				return apperr.New(apperr.NotFound, "subscription not found")
			}
			return nil
		}
		if err != nil {
			return mapErr(err)
		}
		changed = true
		return s.logConsent(ctx, tx, subscriberID, listID, "unsubscribe", c, now)
	})
	return changed, err
}

func (s *Store) logConsent(ctx context.Context, tx *sqlx.Tx, subscriberID, listID int64, action string, c model.Consent, at time.Time) error {
	ua := truncate(c.UserAgent, 500)
	_, err := tx.ExecContext(ctx, `
INSERT INTO consent_log (subscriber_id, list_id, action, source, ip, user_agent, consent_text_version, created_at, ip_hash, ua_hash, detail)
VALUES ($1, $2, $3, $4, NULLIF($5, '')::inet, $6, $7, $8, $9, $10, $11)`,
		subscriberID, listID, action, c.Source, c.IP, ua, c.TextVersion, at, s.Pseudo.IP(c.IP), s.Pseudo.UserAgent(ua), truncate(c.Detail, 500))
	return mapErr(err)
}

// SaveConsentText stores the exact consent text shown under its version (idempotent).
func (s *Store) SaveConsentText(ctx context.Context, version, body string) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO consent_texts (version, body) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING`, version, body)
	return mapErr(err)
}

// PruneConfirmClaims deletes the inbox claims older than ConfirmInterval: they
// decide nothing any more, and an erased person's hashed key should not linger.
func (s *Store) PruneConfirmClaims(ctx context.Context) (int64, error) {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM confirm_claims WHERE requested_at < $1`, s.Now().Add(-ConfirmInterval))
	if err != nil {
		return 0, mapErr(err)
	}
	return res.RowsAffected()
}
