package store

import (
	"context"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
)

// ListStats counts every list's subscriptions by status, by slug.
func (s *Store) ListStats(ctx context.Context) ([]model.ListStats, error) {
	st := []model.ListStats{}
	err := s.DB.SelectContext(ctx, &st, `
SELECT l.slug, l.name,
       count(*) FILTER (WHERE sn.status = 'unconfirmed') AS unconfirmed,
       count(*) FILTER (WHERE sn.status = 'confirmed') AS confirmed,
       count(*) FILTER (WHERE sn.status = 'unsubscribed') AS unsubscribed
FROM lists l LEFT JOIN subscriptions sn ON sn.list_id = l.id
GROUP BY l.id ORDER BY l.slug`)
	return st, mapErr(err)
}

// ConfirmationsByDay counts confirmations per day (UTC) since from.
func (s *Store) ConfirmationsByDay(ctx context.Context, from time.Time) ([]model.DayCount, error) {
	ds := []model.DayCount{}
	err := s.DB.SelectContext(ctx, &ds, `
SELECT date_trunc('day', confirmed_at AT TIME ZONE 'UTC') AS day, count(*) AS n
FROM subscriptions WHERE confirmed_at >= $1
GROUP BY 1 ORDER BY 1`, from)
	return ds, mapErr(err)
}

// SubscriberSearch selects subscribers: Q a substring of the address or the
// name (any case), on a list (ListID, 0 for any) with a status ("" for any),
// ids above After, at most Limit.
type SubscriberSearch struct {
	Q      string
	ListID int64
	Status string
	After  int64
	Limit  int
}

// SearchSubscribers returns a page of subscribers with their lists, by id,
// and the cursor of the next page (0 at the end).
func (s *Store) SearchSubscribers(ctx context.Context, f SubscriberSearch) ([]model.Subscriber, int64, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	// A substring of three characters or more is found through the trigram
	// indexes (migration 00013, when pg_trgm could be installed); LIKE's
	// wildcards in what was typed are matched literally.
	like := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(f.Q)) + "%"
	var rows []subscriberRow
	err := s.CustomPlans(ctx, func(q sqlx.QueryerContext) error {
		return mapErr(sqlx.SelectContext(ctx, q, &rows, subscriberWithListsSQL+`
WHERE sr.id IN (
    SELECT sr.id FROM subscribers sr
    WHERE sr.id > $4
      AND ($1 = '' OR lower(sr.email) LIKE $6 OR lower(sr.name) LIKE $6)
      AND (($2 = 0 AND $3 = '') OR EXISTS (SELECT 1 FROM subscriptions x WHERE x.subscriber_id = sr.id
          AND ($2 = 0 OR x.list_id = $2) AND ($3 = '' OR x.status = $3)))
    ORDER BY sr.id LIMIT $5)
GROUP BY sr.id ORDER BY sr.id`, f.Q, f.ListID, f.Status, f.After, f.Limit+1, like))
	})
	if err != nil {
		return nil, 0, err
	}
	var next int64
	if len(rows) > f.Limit {
		rows = rows[:f.Limit]
		next = rows[len(rows)-1].ID
	}
	out := make([]model.Subscriber, len(rows))
	for i, r := range rows {
		out[i] = r.subscriber()
	}
	return out, next, nil
}

// ConsentEvents is a subscriber's consent record, oldest first, with the
// consent text each event was made under.
func (s *Store) ConsentEvents(ctx context.Context, subscriberID int64) ([]model.ConsentEvent, error) {
	es := []model.ConsentEvent{}
	err := s.DB.SelectContext(ctx, &es, consentEventsSQL, subscriberID)
	return es, mapErr(err)
}

// consentEventsSQL reads a subscriber's consent events; the list is named as
// it was (the event outlives the list).
const consentEventsSQL = `
SELECT c.created_at, c.list_slug, c.action, c.source, host(c.ip) AS ip, c.user_agent, c.consent_text_version, t.body AS text, c.detail
FROM consent_log c LEFT JOIN consent_texts t ON t.version = c.consent_text_version
WHERE c.subscriber_id = $1 ORDER BY c.created_at, c.id`

// CountAudience counts the confirmed subscribers of the campaign's lists
// (each person once): who would be sent it now.
func (s *Store) CountAudience(ctx context.Context, campaignID int64) (int64, error) {
	var n int64
	// One list: its confirmed subscriptions (an index-only count); several:
	// each person once.
	err := s.DB.GetContext(ctx, &n, `
SELECT CASE WHEN (SELECT count(*) FROM campaign_lists WHERE campaign_id = $1) = 1
    THEN (SELECT count(*) FROM subscriptions sn JOIN campaign_lists cl ON cl.list_id = sn.list_id
          WHERE cl.campaign_id = $1 AND sn.status = 'confirmed')
    ELSE (SELECT count(DISTINCT sn.subscriber_id) FROM subscriptions sn JOIN campaign_lists cl ON cl.list_id = sn.list_id
          WHERE cl.campaign_id = $1 AND sn.status = 'confirmed') END`, campaignID)
	return n, mapErr(err)
}

// RenameSubscriber sets a subscriber's name (the admin's rectification).
// Codes: not_found.
func (s *Store) RenameSubscriber(ctx context.Context, id int64, name string) error {
	res, err := s.DB.ExecContext(ctx, `UPDATE subscribers SET name = $2 WHERE id = $1`, id, name)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.NotFound, "There is no subscriber with this id.")
	}
	return nil
}
