package subscribe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/envoi/envoi/internal/address"
	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/mail"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/store"
	"github.com/envoi/envoi/internal/token"
)

// SourcePreferences: a change the person made on their preferences page.
const SourcePreferences = "preferences"

// PreferencesURL signs the link to a subscriber's preferences page (in every
// campaign message as {{.PreferencesURL}}); it never expires. The token's id
// is the subscriber's, not a subscription's.
func (s *Service) PreferencesURL(subscriberID int64) string {
	return s.BaseURL + "/preferences/" + s.Tokens.Sign(token.Preferences, subscriberID, 0)
}

// PreferencesSubscriber returns the subscriber a preferences token names.
// Codes: bad_request.
func (s *Service) PreferencesSubscriber(tok string) (int64, error) {
	c, err := s.Tokens.Verify(token.Preferences, tok)
	if err != nil {
		return 0, ErrBadLink
	}
	return c.SubscriptionID, nil
}

// ErrGone: the preferences link is authentic but its subscriber is no more
// (erased). Said only to the holder of the signed link.
var ErrGone = apperr.New(apperr.NotFound, "There is nothing about you here any more: your data was erased.")

// Preferences is what a subscriber's preferences page shows.
type Preferences struct {
	Subscriber model.Subscriber
	Lists      []PreferenceList
	Language   string // of the page: the first list's
	// Name: one of the lists collects the name; Fields: the custom fields
	// the lists collect, with the person's values.
	Name   bool
	Fields []PreferenceField
}

// PreferenceField is a custom field on the preferences page.
type PreferenceField struct {
	model.Field
	Value string
}

// PreferenceList is one list the person is or was on.
type PreferenceList struct {
	Slug, Name, Status string
	ID                 int64
	// OpenTracking: the list counts opens (Tracking: with the person's
	// separate consent, which the page lets them give or withdraw).
	OpenTracking, Tracking bool
}

// Preferences returns the page a preferences token opens. It changes nothing.
// Codes: bad_request, not_found (ErrGone).
func (s *Service) Preferences(ctx context.Context, tok string) (Preferences, error) {
	id, err := s.PreferencesSubscriber(tok)
	if err != nil {
		return Preferences{}, err
	}
	return s.preferences(ctx, id)
}

func (s *Service) preferences(ctx context.Context, id int64) (Preferences, error) {
	sub, err := s.Store.SubscriberByID(ctx, id)
	if apperr.ErrorCode(err) == apperr.NotFound {
		return Preferences{}, ErrGone
	}
	if err != nil {
		return Preferences{}, err
	}
	p := Preferences{Subscriber: sub, Language: "en"}
	for i, m := range sub.Lists {
		l, err := s.Lists.BySlug(ctx, "list", m.Slug)
		if err != nil {
			continue // deleted meanwhile
		}
		if i == 0 {
			p.Language = l.Language
		}
		pl := PreferenceList{Slug: l.Slug, Name: l.Name, Status: m.Status, ID: l.ID, OpenTracking: l.OpenTracking}
		if l.OpenTracking {
			if pl.Tracking, err = s.Tracking(ctx, id, l.ID); err != nil {
				return p, err
			}
		}
		p.Lists = append(p.Lists, pl)
		p.Name = p.Name || l.Fields.Has(model.FieldName)
		for _, f := range l.Fields.Custom() {
			if !slices.ContainsFunc(p.Fields, func(x PreferenceField) bool { return x.Name == f.Name }) {
				p.Fields = append(p.Fields, PreferenceField{Field: f, Value: sub.Fields[f.Name]})
			}
		}
	}
	p.Name = p.Name || sub.Name != ""
	return p, nil
}

// PreferencesUpdate is what the preferences form sends: the name, and the
// lists to stay on (every other one is left).
type PreferencesUpdate struct {
	Name          string
	Keep          []string
	Fields        map[string]string // the custom fields' corrected values
	Tracking      []string          // lists (slugs) whose separate tracking consent stays or is given
	IP, UserAgent string
}

// UpdatePreferences applies the preferences form (a POST with the signed
// token): a corrected name (rectification) and the lists left, each logged in
// the consent log with source preferences. Codes: bad_request, not_found,
// invalid (Field name).
func (s *Service) UpdatePreferences(ctx context.Context, tok string, u PreferencesUpdate) (Preferences, error) {
	id, err := s.PreferencesSubscriber(tok)
	if err != nil {
		return Preferences{}, err
	}
	p, err := s.preferences(ctx, id)
	if err != nil {
		return p, err
	}
	c := model.Consent{Source: SourcePreferences, IP: u.IP, UserAgent: u.UserAgent}
	name, err := validName(u.Name)
	if err != nil {
		return p, err
	}
	values := model.Values{}
	changed := false
	for _, f := range p.Fields {
		v := strings.TrimSpace(u.Fields[f.Name])
		if utf8.RuneCountInString(v) > MaxFieldLength || strings.IndexFunc(v, unicode.IsControl) >= 0 || !utf8.ValidString(v) {
			return p, apperr.FieldError(f.Name, fmt.Sprintf("Keep this under %d characters, without special characters.", MaxFieldLength))
		}
		values[f.Name] = v
		changed = changed || v != f.Value
	}
	if name != p.Subscriber.Name || changed {
		if err := s.Store.RenameSubscriber(ctx, id, name); err != nil {
			return p, err
		}
		if changed {
			if err := s.Store.SetSubscriberFields(ctx, id, values); err != nil {
				return p, err
			}
		}
		if err := s.Store.LogSubscriberEvent(ctx, id, "rectify", c); err != nil {
			return p, err
		}
	}
	var leave []int64
	for _, m := range p.Lists {
		if m.Status != model.StatusUnsubscribed && !slices.Contains(u.Keep, m.Slug) {
			l, err := s.Lists.BySlug(ctx, "lists", m.Slug)
			if err != nil {
				return p, err
			}
			leave = append(leave, l.ID)
		}
	}
	for _, m := range p.Lists {
		want := slices.Contains(u.Tracking, m.Slug) && m.Status == model.StatusConfirmed && !slices.Contains(leave, m.ID)
		if m.OpenTracking && want != m.Tracking && (want || m.Tracking) {
			if err := s.SetTracking(ctx, id, m.ID, want, c); err != nil {
				return p, err
			}
		}
	}
	if len(leave) > 0 {
		if err := s.Store.UnsubscribeSubscriber(ctx, id, leave, c); err != nil {
			return p, err
		}
		s.Metrics.Unsubscribe(SourcePreferences)
	}
	if err := s.Store.Touch(ctx, id); err != nil {
		return p, err
	}
	return s.preferences(ctx, id)
}

// RequestEmailChange asks for a change of address from the preferences page:
// a link goes to the new address, and only its POST changes anything. The
// answer is the same whatever the new address (taken, or asked for within
// the last 15 minutes: no mail). Codes: bad_request, not_found, invalid
// (Field email), too_many.
func (s *Service) RequestEmailChange(ctx context.Context, tok, newEmail, ip string) error {
	id, err := s.PreferencesSubscriber(tok)
	if err != nil {
		return err
	}
	e, err := address.Normalize(newEmail)
	if err != nil {
		return apperr.FieldError("email", err.Error())
	}
	if err := s.Limits.Signup(ctx, ip, e[strings.LastIndexByte(e, '@')+1:]); err != nil {
		return err
	}
	msg, err := s.Store.RequestEmailChange(ctx, id, e)
	if err != nil {
		return err
	}
	s.enqueue(ctx, msg)
	return nil
}

// EmailChangeMail builds the mail asking a new address to confirm a change;
// due is false when the change was applied or replaced since.
func (s *Service) EmailChangeMail(sub model.Subscription, ch store.EmailChange) (mail.Message, error) {
	l := mail.List{Slug: sub.ListSlug, Name: sub.ListName, Language: sub.ListLanguage}
	exp := ch.RequestedAt.Add(s.ConfirmTTL)
	return s.Mail.EmailChange(ch.NewEmail, l, s.BaseURL+"/email/"+s.Tokens.Sign(token.EmailChange, ch.ID, s.ConfirmTTL), exp)
}

// EmailChangeLink checks a change-of-address link for its page. It changes
// nothing. Codes: bad_request, expired.
func (s *Service) EmailChangeLink(tok string) error {
	c, err := s.Tokens.Verify(token.EmailChange, tok)
	switch {
	case errors.Is(err, token.ErrExpired):
		return ErrExpiredEmailLink
	case err != nil || c.SubscriptionID == 0:
		return ErrBadLink
	}
	return nil
}

// ErrExpiredEmailLink: a change-of-address link past its time.
var ErrExpiredEmailLink = apperr.New(apperr.Expired, "This link to change your address has expired: ask again from your preferences page.")

// ConfirmEmailChange applies a change of address (the POST of the link mailed
// to the new address), logged as email_change. Codes: bad_request, expired,
// conflict (the address is another subscriber's).
func (s *Service) ConfirmEmailChange(ctx context.Context, tok, ip, userAgent string) error {
	c, err := s.Tokens.Verify(token.EmailChange, tok)
	switch {
	case errors.Is(err, token.ErrExpired):
		return ErrExpiredEmailLink
	case err != nil:
		return ErrBadLink
	}
	_, err = s.Store.ApplyEmailChange(ctx, c.SubscriptionID, s.ConfirmTTL, model.Consent{Source: SourceLink, IP: ip, UserAgent: userAgent})
	if apperr.ErrorCode(err) == apperr.NotFound {
		return ErrBadLink
	}
	return err
}
