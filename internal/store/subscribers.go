package store

import (
	"context"

	"github.com/lib/pq"
)

// ListMembership is one list a subscriber is on, with the status there.
type ListMembership struct {
	Slug   string `json:"slug"`
	Status string `json:"status"`
}

// Subscriber is a person with the lists they are on.
type Subscriber struct {
	ID    int64            `db:"id" json:"id"`
	Email string           `db:"email" json:"email"`
	Name  string           `db:"name" json:"name"`
	Lists []ListMembership `db:"-" json:"lists"`
}

type subscriberRow struct {
	ID       int64          `db:"id"`
	Email    string         `db:"email"`
	Name     string         `db:"name"`
	Slugs    pq.StringArray `db:"slugs"`
	Statuses pq.StringArray `db:"statuses"`
}

func (r subscriberRow) subscriber() Subscriber {
	s := Subscriber{ID: r.ID, Email: r.Email, Name: r.Name, Lists: []ListMembership{}}
	for i := range r.Slugs {
		s.Lists = append(s.Lists, ListMembership{Slug: r.Slugs[i], Status: r.Statuses[i]})
	}
	return s
}

const subscriberWithListsSQL = `
SELECT sr.id, sr.email, sr.name,
       COALESCE(array_agg(l.slug ORDER BY l.slug) FILTER (WHERE l.id IS NOT NULL), '{}') AS slugs,
       COALESCE(array_agg(sn.status ORDER BY l.slug) FILTER (WHERE l.id IS NOT NULL), '{}') AS statuses
FROM subscribers sr
LEFT JOIN subscriptions sn ON sn.subscriber_id = sr.id
LEFT JOIN lists l ON l.id = sn.list_id`

// SubscribersByEmail returns the subscriber with this normalized address (zero or one).
func (s *Store) SubscribersByEmail(ctx context.Context, email string) ([]Subscriber, error) {
	var rows []subscriberRow
	if err := s.DB.SelectContext(ctx, &rows, subscriberWithListsSQL+` WHERE sr.email = $1 GROUP BY sr.id`, email); err != nil {
		return nil, mapErr(err)
	}
	out := []Subscriber{}
	for _, r := range rows {
		out = append(out, r.subscriber())
	}
	return out, nil
}

// SubscriberPage is one page of a list's subscribers.
type SubscriberPage struct {
	Items   []Subscriber `json:"items"`
	Page    int          `json:"page"`
	PerPage int          `json:"per_page"`
	Total   int64        `json:"total"`
}

// SubscribersOnList pages through a list's subscribers by id, optionally only
// those with one status ("" for all). Pages start at 1.
func (s *Store) SubscribersOnList(ctx context.Context, listID int64, status string, page, perPage int) (SubscriberPage, error) {
	p := SubscriberPage{Items: []Subscriber{}, Page: page, PerPage: perPage}
	const filter = ` FROM subscriptions WHERE list_id = $1 AND ($2 = '' OR status = $2)`
	if err := s.DB.GetContext(ctx, &p.Total, `SELECT count(*)`+filter, listID, status); err != nil {
		return p, mapErr(err)
	}
	var rows []subscriberRow
	err := s.DB.SelectContext(ctx, &rows, subscriberWithListsSQL+`
WHERE sr.id IN (SELECT subscriber_id`+filter+` ORDER BY subscriber_id LIMIT $3 OFFSET $4)
GROUP BY sr.id ORDER BY sr.id`, listID, status, perPage, (page-1)*perPage)
	if err != nil {
		return p, mapErr(err)
	}
	for _, r := range rows {
		p.Items = append(p.Items, r.subscriber())
	}
	return p, nil
}
