package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/envoi/envoi/internal/address"
	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
)

// BackfillEmailHashes gives every subscriber without one the keyed hash of
// its address (subscribers made before migration 00017), in batches; it
// returns how many it filled. Run after migrating.
func (s *Store) BackfillEmailHashes(ctx context.Context) (int, error) {
	total := 0
	for {
		var rows []struct {
			ID    int64  `db:"id"`
			Email string `db:"email"`
		}
		if err := s.DB.SelectContext(ctx, &rows, `SELECT id, email FROM subscribers WHERE email_hash IS NULL ORDER BY id LIMIT 5000`); err != nil {
			return total, mapErr(err)
		}
		if len(rows) == 0 {
			return total, nil
		}
		ids, hs := make(pq.Int64Array, len(rows)), make(pq.ByteaArray, len(rows))
		for i, r := range rows {
			ids[i], hs[i] = r.ID, s.Pseudo.Email(r.Email)
		}
		if _, err := s.DB.ExecContext(ctx, `UPDATE subscribers s SET email_hash = u.h FROM unnest($1::bigint[], $2::bytea[]) AS u(id, h) WHERE s.id = u.id`, ids, hs); err != nil {
			return total, mapErr(err)
		}
		total += len(rows)
	}
}

// EraseSubscriber deletes a person's personal data everywhere (GDPR art. 17):
// the subscriber row and with it their subscriptions, delivery ledger rows and
// transactional messages; their inbox's confirmation claims; the IP and user
// agent of their consent events. The consent log keeps its events (with the
// keyed hash of the address in place of it), logs the erasure itself, and the
// keyed hash goes on the suppression list so that the address is never mailed
// by accident. detail says why (no personal data). Codes: not_found.
func (s *Store) EraseSubscriber(ctx context.Context, id int64, source, detail string) error {
	n, err := s.EraseSubscribers(ctx, []int64{id}, source, detail, "erased")
	if err == nil && n == 0 {
		return apperr.New(apperr.NotFound, "There is no subscriber with this id.")
	}
	return err
}

// EraseSubscribers erases several subscribers at once, as EraseSubscriber
// does, in one transaction; suppress is the suppression list's reason ("":
// not put on it, for people who never confirmed). It returns how many it
// erased (ids already gone are skipped).
func (s *Store) EraseSubscribers(ctx context.Context, ids []int64, source, detail, suppress string) (int, error) {
	n := 0
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var rows []struct {
			ID    int64  `db:"id"`
			Email string `db:"email"`
			Hash  []byte `db:"email_hash"`
		}
		if err := tx.SelectContext(ctx, &rows, `SELECT id, email, email_hash FROM subscribers WHERE id = ANY($1) ORDER BY id FOR UPDATE`, pq.Array(ids)); err != nil {
			return mapErr(err)
		}
		n = len(rows)
		if n == 0 {
			return nil
		}
		found, hashes, inboxes := make(pq.Int64Array, n), make(pq.ByteaArray, n), make(pq.ByteaArray, n)
		for i, r := range rows {
			if r.Hash == nil {
				r.Hash = s.Pseudo.Email(r.Email)
			}
			inbox := sha256.Sum256([]byte(address.InboxKey(r.Email)))
			found[i], hashes[i], inboxes[i] = r.ID, r.Hash, inbox[:]
		}
		now := s.Now()
		// The one update the consent log allows: clearing the clear values.
		if _, err := tx.ExecContext(ctx, `SET LOCAL envoi.erasure = 'on'`); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE consent_log SET ip = NULL, user_agent = '' WHERE subscriber_id = ANY($1) AND (ip IS NOT NULL OR user_agent <> '')`, found); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, `SET LOCAL envoi.erasure = 'off'`); err != nil {
			return mapErr(err)
		}
		if suppress != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO suppressions (email_hash, reason, created_at) SELECT h, $2, $3 FROM unnest($1::bytea[]) AS h
ON CONFLICT (email_hash) DO NOTHING`, hashes, suppress, now); err != nil {
				return mapErr(err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM confirm_claims WHERE inbox_hash = ANY($1)`, inboxes); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM subscribers WHERE id = ANY($1)`, found); err != nil {
			return mapErr(err)
		}
		// The erasure's own event, last: it takes the consent chain's head until
		// commit. No IP or user agent (they would be the person's).
		_, err := tx.ExecContext(ctx, `
INSERT INTO consent_log (subscriber_id, list_id, action, source, created_at, email_hash, detail)
SELECT id, 0, 'erase', $3, $4, h, $5 FROM unnest($1::bigint[], $2::bytea[]) AS u(id, h) ORDER BY id`, found, hashes, source, now, truncate(detail, 500))
		return mapErr(err)
	})
	return n, err
}

// RestrictSubscriber turns the restriction of processing (GDPR art. 18) on or
// off: a restricted subscriber's data is kept and never mailed. Logged in the
// consent log. Codes: not_found.
func (s *Store) RestrictSubscriber(ctx context.Context, id int64, on bool, c model.Consent) error {
	return s.InTx(ctx, func(tx *sqlx.Tx) error {
		now := s.Now()
		var changed bool
		err := tx.GetContext(ctx, &changed, `
WITH old AS (SELECT restricted_at FROM subscribers WHERE id = $1 FOR UPDATE)
UPDATE subscribers s SET restricted_at = CASE WHEN $2 THEN COALESCE(s.restricted_at, $3) END
FROM old WHERE s.id = $1
RETURNING (old.restricted_at IS NOT NULL) <> $2`, id, on, now)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.NotFound, "There is no subscriber with this id.")
		}
		if err != nil || !changed {
			return mapErr(err)
		}
		action := "unrestrict"
		if on {
			action = "restrict"
		}
		return s.logConsent(ctx, tx, id, 0, action, c, now)
	})
}

// LogSubscriberEvent adds an event about a subscriber but no list (a
// rectification, say) to the consent log.
func (s *Store) LogSubscriberEvent(ctx context.Context, id int64, action string, c model.Consent) error {
	return s.InTx(ctx, func(tx *sqlx.Tx) error { return s.logConsent(ctx, tx, id, 0, action, c, s.Now()) })
}

// Touch records a sign of life (a preference change, a click): retention
// counts inactivity from the last one.
func (s *Store) Touch(ctx context.Context, id int64) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE subscribers SET last_activity_at = $2 WHERE id = $1 AND last_activity_at < $2`, id, s.Now())
	return mapErr(err)
}

// SubscriberExport is everything Envoi holds about one person.
type SubscriberExport struct {
	Profile       ExportProfile        `json:"profile"`
	Subscriptions []ExportSubscription `json:"subscriptions"`
	Consent       []model.ConsentEvent `json:"consent"`
	Campaigns     []ExportCampaign     `json:"campaigns"`
	Messages      []ExportMessage      `json:"messages"`
	// Activity is the per-person opens and clicks, kept only with tracking consent.
	Activity []ExportActivity `json:"activity"`
	// Bounces are the bounces and complaints that came back for their mail.
	Bounces []ExportBounce `json:"bounces"`
}

// ExportBounce is one bounce or complaint (the server's words, no address).
type ExportBounce struct {
	CampaignID *int64    `db:"campaign_id" json:"campaign_id"`
	Kind       string    `db:"kind" json:"kind"`
	Source     string    `db:"source" json:"source"`
	Status     string    `db:"status" json:"status"`
	Diagnostic string    `db:"diagnostic" json:"diagnostic"`
	At         time.Time `db:"created_at" json:"at"`
}

// ExportActivity is one open or click tied to the person.
type ExportActivity struct {
	CampaignID int64     `db:"campaign_id" json:"campaign_id"`
	Kind       string    `db:"kind" json:"kind"`
	URL        *string   `db:"url" json:"url"`
	At         time.Time `db:"created_at" json:"at"`
}

// ExportProfile is the subscriber row.
type ExportProfile struct {
	ID               int64        `db:"id" json:"id"`
	Email            string       `db:"email" json:"email"`
	Name             string       `db:"name" json:"name"`
	CreatedAt        time.Time    `db:"created_at" json:"created_at"`
	LastActivityAt   time.Time    `db:"last_activity_at" json:"last_activity_at"`
	SuppressedAt     *time.Time   `db:"suppressed_at" json:"suppressed_at"`
	SuppressedReason string       `db:"suppressed_reason" json:"suppressed_reason"`
	RestrictedAt     *time.Time   `db:"restricted_at" json:"restricted_at"`
	Fields           model.Values `db:"fields" json:"fields"`
}

// ExportSubscription is one list the person is or was on.
type ExportSubscription struct {
	List           string     `db:"list" json:"list"`
	ListName       string     `db:"list_name" json:"list_name"`
	Status         string     `db:"status" json:"status"`
	CreatedAt      time.Time  `db:"created_at" json:"created_at"`
	ConfirmedAt    *time.Time `db:"confirmed_at" json:"confirmed_at"`
	UnsubscribedAt *time.Time `db:"unsubscribed_at" json:"unsubscribed_at"`
	// TrackingConsentAt: when the separate consent to open tracking was given (nil: not given).
	TrackingConsentAt *time.Time `db:"tracking_consent_at" json:"tracking_consent_at"`
}

// ExportCampaign is one campaign message sent (or tried) to the person.
type ExportCampaign struct {
	ID      int64     `db:"id" json:"id"`
	Name    string    `db:"name" json:"name"`
	Subject string    `db:"subject" json:"subject"`
	Status  string    `db:"status" json:"status"`
	At      time.Time `db:"updated_at" json:"at"`
}

// ExportMessage is one confirmation or welcome mail.
type ExportMessage struct {
	List      string     `db:"list" json:"list"`
	Kind      string     `db:"kind" json:"kind"`
	Status    string     `db:"status" json:"status"`
	CreatedAt time.Time  `db:"created_at" json:"created_at"`
	SentAt    *time.Time `db:"sent_at" json:"sent_at"`
}

// ExportSubscriber gathers everything held about a subscriber (GDPR art. 15
// and 20), in one read-only transaction. Codes: not_found.
func (s *Store) ExportSubscriber(ctx context.Context, id int64) (SubscriberExport, error) {
	x := SubscriberExport{Subscriptions: []ExportSubscription{}, Consent: []model.ConsentEvent{}, Campaigns: []ExportCampaign{}, Messages: []ExportMessage{},
		Activity: []ExportActivity{}, Bounces: []ExportBounce{}}
	tx, err := s.DB.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return x, mapErr(err)
	}
	defer tx.Rollback()
	if err := tx.GetContext(ctx, &x.Profile, `SELECT id, email, name, created_at, last_activity_at, suppressed_at, suppressed_reason, restricted_at, fields
FROM subscribers WHERE id = $1`, id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return x, apperr.New(apperr.NotFound, "There is no subscriber with this id.")
		}
		return x, mapErr(err)
	}
	if err := tx.SelectContext(ctx, &x.Subscriptions, `
SELECT l.slug AS list, l.name AS list_name, sn.status, sn.created_at, sn.confirmed_at, sn.unsubscribed_at, sn.tracking_consent_at
FROM subscriptions sn JOIN lists l ON l.id = sn.list_id WHERE sn.subscriber_id = $1 ORDER BY l.slug`, id); err != nil {
		return x, mapErr(err)
	}
	if err := tx.SelectContext(ctx, &x.Consent, consentEventsSQL, id); err != nil {
		return x, mapErr(err)
	}
	if err := tx.SelectContext(ctx, &x.Campaigns, `
SELECT c.id, c.name, c.subject, d.status, d.updated_at
FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id
WHERE d.subscriber_id = $1 AND d.status IN ('sent', 'failed', 'sending') ORDER BY d.updated_at, c.id`, id); err != nil {
		return x, mapErr(err)
	}
	if err := tx.SelectContext(ctx, &x.Messages, `
SELECT l.slug AS list, t.kind, t.status, t.created_at, t.sent_at
FROM transactional_messages t JOIN subscriptions sn ON sn.id = t.subscription_id JOIN lists l ON l.id = sn.list_id
WHERE sn.subscriber_id = $1 ORDER BY t.created_at, t.id`, id); err != nil {
		return x, mapErr(err)
	}
	if err := tx.SelectContext(ctx, &x.Activity, `
SELECT e.campaign_id, e.kind, l.url, e.created_at FROM tracking_events e
LEFT JOIN campaign_links l ON l.campaign_id = e.campaign_id AND l.idx = e.link_idx
WHERE e.subscriber_id = $1 ORDER BY e.created_at, e.id`, id); err != nil {
		return x, mapErr(err)
	}
	if err := tx.SelectContext(ctx, &x.Bounces, `
SELECT campaign_id, kind, source, status, diagnostic, created_at FROM bounces WHERE subscriber_id = $1 ORDER BY created_at, id`, id); err != nil {
		return x, mapErr(err)
	}
	return x, nil
}

// ChainEvent is one consent event as the chain sees it.
type ChainEvent struct {
	Seq          int64     `db:"seq"`
	ID           int64     `db:"id"`
	SubscriberID int64     `db:"subscriber_id"`
	ListID       int64     `db:"list_id"`
	ListSlug     string    `db:"list_slug"`
	Action       string    `db:"action"`
	Source       string    `db:"source"`
	TextVersion  string    `db:"consent_text_version"`
	CreatedAt    time.Time `db:"created_at"`
	EmailHash    []byte    `db:"email_hash"`
	IPHash       []byte    `db:"ip_hash"`
	UAHash       []byte    `db:"ua_hash"`
	Detail       string    `db:"detail"`
	PrevHash     []byte    `db:"prev_hash"`
	Hash         []byte    `db:"hash"`
}

// ConsentDigest is the hash of an event chained to prev: the same bytes as the
// database's consent_digest function (migration 00017).
func ConsentDigest(prev []byte, e ChainEvent) []byte {
	h := sha256.New()
	h.Write(prev)
	fmt.Fprintf(h, "v1\n%d\n%d\n%d\n%d\n%s\n%s\n%s\n%s\n%d\n%s\n%s\n%s\n%s", e.Seq, e.ID, e.SubscriberID, e.ListID, e.ListSlug,
		e.Action, e.Source, e.TextVersion, e.CreatedAt.UnixMicro(), hex.EncodeToString(e.EmailHash), hex.EncodeToString(e.IPHash),
		hex.EncodeToString(e.UAHash), e.Detail)
	return h.Sum(nil)
}

// ChainReport is what a walk of the consent log found.
type ChainReport struct {
	Events  int64  // events checked
	Head    string // the chain's head hash (hex): record it elsewhere to anchor the log
	Problem string // empty when the chain holds; else the first problem, naming the event
	Seq     int64  // the event the problem is at (0: none)
	ID      int64
}

// VerifyConsentChain walks the consent log in chain order, recomputing every
// hash, and reports the first event that was altered, removed or inserted.
func (s *Store) VerifyConsentChain(ctx context.Context) (ChainReport, error) {
	var r ChainReport
	var head struct {
		Seq      int64  `db:"seq"`
		Hash     []byte `db:"hash"`
		BaseSeq  int64  `db:"base_seq"`
		BaseHash []byte `db:"base_hash"`
	}
	tx, err := s.DB.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return r, mapErr(err)
	}
	defer tx.Rollback()
	if err := tx.GetContext(ctx, &head, `SELECT seq, hash, base_seq, base_hash FROM consent_chain`); err != nil {
		return r, mapErr(err)
	}
	r.Head = hex.EncodeToString(head.Hash)
	rows, err := tx.QueryxContext(ctx, `
SELECT seq, id, subscriber_id, list_id, list_slug, action, source, consent_text_version, created_at,
       email_hash, ip_hash, ua_hash, detail, prev_hash, hash
FROM consent_log ORDER BY seq, id`)
	if err != nil {
		return r, mapErr(err)
	}
	defer rows.Close()
	want, prev := head.BaseSeq+1, head.BaseHash
	fail := func(e ChainEvent, format string, args ...any) {
		if r.Problem == "" {
			r.Problem, r.Seq, r.ID = fmt.Sprintf(format, args...), e.Seq, e.ID
		}
	}
	for rows.Next() && r.Problem == "" {
		var e ChainEvent
		if err := rows.StructScan(&e); err != nil {
			return r, mapErr(err)
		}
		switch {
		case e.Seq < want:
			fail(e, "event %d (seq %d) was inserted: its place in the chain is taken", e.ID, e.Seq)
		case e.Seq > want:
			fail(e, "the event at seq %d was removed (the next one, event %d, is at seq %d)", want, e.ID, e.Seq)
		case !bytes.Equal(e.PrevHash, prev):
			fail(e, "event %d (seq %d) does not follow the one before it: an event before it was altered, or it was inserted", e.ID, e.Seq)
		case !bytes.Equal(ConsentDigest(prev, e), e.Hash):
			fail(e, "event %d (seq %d) was altered", e.ID, e.Seq)
		}
		r.Events++
		want, prev = e.Seq+1, e.Hash
	}
	if err := rows.Err(); err != nil {
		return r, mapErr(err)
	}
	if r.Problem == "" && (want-1 != head.Seq || !bytes.Equal(prev, head.Hash)) {
		if want-1 < head.Seq {
			r.Problem, r.Seq = fmt.Sprintf("the events after seq %d were removed (the head is at seq %d)", want-1, head.Seq), want
		} else {
			r.Problem, r.Seq = fmt.Sprintf("the chain's head (seq %d) does not match its last event (seq %d)", head.Seq, want-1), want-1
		}
	}
	return r, nil
}

// SetSubscriberFields sets custom field values (an empty value removes the
// field). Codes: not_found.
func (s *Store) SetSubscriberFields(ctx context.Context, id int64, v model.Values) error {
	set, drop := model.Values{}, pq.StringArray{}
	for k, val := range v {
		if val == "" {
			drop = append(drop, k)
		} else {
			set[k] = val
		}
	}
	res, err := s.DB.ExecContext(ctx, `UPDATE subscribers SET fields = (fields - $3::text[]) || $2::jsonb WHERE id = $1`, id, set, drop)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.NotFound, "There is no subscriber with this id.")
	}
	return nil
}
