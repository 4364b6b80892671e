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

// EmailChange is a pending change of address.
type EmailChange struct {
	ID           int64     `db:"id"`
	SubscriberID int64     `db:"subscriber_id"`
	NewEmail     string    `db:"new_email"`
	RequestedAt  time.Time `db:"requested_at"`
}

// RequestEmailChange records a change of address to newEmail and queues the
// mail asking the new address to confirm it, at most one per subscriber per
// ConfirmInterval (0 and nil when none is due). The message goes through the
// transactional ledger with one of the subscriber's subscriptions.
func (s *Store) RequestEmailChange(ctx context.Context, subscriberID int64, newEmail string) (int64, error) {
	var msg int64
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		now := s.Now()
		var sub int64
		err := tx.GetContext(ctx, &sub, `SELECT sn.id FROM subscribers s JOIN subscriptions sn ON sn.subscriber_id = s.id
WHERE s.id = $1 ORDER BY sn.status = 'confirmed' DESC, sn.id LIMIT 1 FOR UPDATE OF s`, subscriberID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return mapErr(err)
		}
		var recent bool
		if err := tx.GetContext(ctx, &recent, `SELECT EXISTS (SELECT 1 FROM email_changes WHERE subscriber_id = $1 AND requested_at > $2)`,
			subscriberID, now.Add(-ConfirmInterval)); err != nil || recent {
			return mapErr(err)
		}
		// Only the latest request counts: the earlier ones (and their mails) go.
		if _, err := tx.ExecContext(ctx, `DELETE FROM email_changes WHERE subscriber_id = $1`, subscriberID); err != nil {
			return mapErr(err)
		}
		return mapErr(tx.GetContext(ctx, &msg, `
WITH ch AS (INSERT INTO email_changes (subscriber_id, new_email, requested_at) VALUES ($1, $2, $3) RETURNING id)
INSERT INTO transactional_messages (subscription_id, kind, email_change_id, created_at)
SELECT $4, 'email_change', ch.id, $3 FROM ch RETURNING id`, subscriberID, newEmail, now, sub))
	})
	return msg, err
}

// EmailChangeOfMessage returns the change of address a ledger message is
// about. Codes: not_found (applied or replaced since).
func (s *Store) EmailChangeOfMessage(ctx context.Context, messageID int64) (EmailChange, error) {
	var c EmailChange
	err := s.DB.GetContext(ctx, &c, `SELECT e.id, e.subscriber_id, e.new_email, e.requested_at FROM email_changes e
JOIN transactional_messages t ON t.email_change_id = e.id WHERE t.id = $1`, messageID)
	return c, mapErr(err)
}

// ErrAddressTaken: the new address is already a subscriber's.
var ErrAddressTaken = apperr.New(apperr.Conflict, "This address is already subscribed here under its own subscriptions: nothing was changed. Use the preferences link in its own messages.")

// ApplyEmailChange sets the subscriber's address to the change's new one (its
// link was opened and POSTed from the new address's mail), logs it and drops
// the request. Codes: not_found (replaced, applied or erased), expired,
// conflict (ErrAddressTaken).
func (s *Store) ApplyEmailChange(ctx context.Context, changeID int64, validFor time.Duration, c model.Consent) (int64, error) {
	var ch EmailChange
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &ch, `SELECT id, subscriber_id, new_email, requested_at FROM email_changes WHERE id = $1 FOR UPDATE`, changeID); err != nil {
			return mapErr(err)
		}
		now := s.Now()
		if now.Sub(ch.RequestedAt) > validFor {
			return apperr.New(apperr.Expired, "This link to change your address has expired: ask again from your preferences page.")
		}
		var taken bool
		if err := tx.GetContext(ctx, &taken, `SELECT EXISTS (SELECT 1 FROM subscribers WHERE lower(email) = lower($1) AND id <> $2)`, ch.NewEmail, ch.SubscriberID); err != nil {
			return mapErr(err)
		}
		if taken {
			return ErrAddressTaken
		}
		if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET email = $2, email_hash = $3, last_activity_at = $4 WHERE id = $1`,
			ch.SubscriberID, ch.NewEmail, s.Pseudo.Email(ch.NewEmail), now); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM email_changes WHERE subscriber_id = $1`, ch.SubscriberID); err != nil {
			return mapErr(err)
		}
		return s.logConsent(ctx, tx, ch.SubscriberID, 0, "email_change", c, now)
	})
	return ch.SubscriberID, err
}
