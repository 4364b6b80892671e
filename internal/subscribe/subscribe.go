// Package subscribe owns double opt-in: signup, confirmation, unsubscription,
// the consent record that proves each, looking subscribers up, and the rules of
// the confirmation and welcome mails (whether one is still due, its links, its
// content). It speaks to PostgreSQL through store and queues mail through queue;
// internal/delivery sends it. It knows nothing of HTTP.
package subscribe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/envoi/envoi/internal/address"
	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/groupcommit"
	"github.com/envoi/envoi/internal/limits"
	"github.com/envoi/envoi/internal/lists"
	"github.com/envoi/envoi/internal/locale"
	"github.com/envoi/envoi/internal/mail"
	"github.com/envoi/envoi/internal/metrics"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/pow"
	"github.com/envoi/envoi/internal/queue"
	"github.com/envoi/envoi/internal/store"
	"github.com/envoi/envoi/internal/token"
)

// Sources of a consent event, as recorded in the consent log.
const (
	SourceForm     = "form"
	SourceAPI      = "api"
	SourceOneClick = "one_click"
	SourceLink     = "link"
)

// MaxNameLength is the longest name accepted, in characters.
const MaxNameLength = 200

// Service runs the double opt-in flow. Build it once; safe for concurrent use.
type Service struct {
	Store   *store.Store
	Lists   *lists.Service
	Tokens  *token.Signer
	Queue   *queue.Client
	Mail    *mail.Builder
	Limits  *limits.Limiter  // nil: no limits (CLI, some tests)
	POW     *pow.Service     // the challenges of lists with proof_of_work
	Locale  *locale.Catalog  // the lists' languages (consent text); nil: English
	Metrics *metrics.Metrics // nil: none
	BaseURL string
	Org     string
	// PostalAddress and PrivacyContact are the privacy notice's.
	PostalAddress, PrivacyContact string
	ConfirmTTL                    time.Duration
	// RepermissionTTL is how long a re-permission mail's link works: the
	// retention's grace before an inactive subscriber is erased.
	RepermissionTTL time.Duration
	Log             *slog.Logger

	savedTexts sync.Map // consent text version -> struct{}
	once       sync.Once
	signups    *groupcommit.Group[store.SignupParams, store.SignupResult]
}

// group returns the group commit of signups, made on first use: the signups of
// concurrent requests go to PostgreSQL as one statement and one commit, which
// frees the database for the worker sending their confirmations.
func (s *Service) group() *groupcommit.Group[store.SignupParams, store.SignupResult] {
	s.once.Do(func() {
		s.signups = groupcommit.New(s.Store.Signups)
		// Two spellings of one inbox must not share a statement (its claim is one row).
		s.signups.Key = func(p store.SignupParams) string {
			return address.InboxKey(p.Email) + "\x00" + strconv.FormatInt(p.ListID, 10)
		}
	})
	return s.signups
}

// Request is one signup as typed by a visitor or sent through the API.
type Request struct {
	Email     string
	Name      string
	Consent   bool // the visitor ticked the consent box (forms only)
	Source    string
	IP        string
	UserAgent string
	// Trap: the form's honeypot field was filled in (a bot): the request gets
	// the usual answer and nothing is stored or sent.
	Trap bool
	// ProofOfWork is the form's "altcha" field: the solved challenge, for
	// lists that ask for one (pow).
	ProofOfWork string
	// Fields are the custom fields typed (key: the field's name).
	Fields map[string]string
	// TrackingConsent: the separate, optional tracking box was ticked (lists
	// with open_tracking; ignored on others).
	TrackingConsent bool
}

// Validated is a request that passed validation.
type Validated struct {
	Email  string
	Name   string
	Fields model.Values
}

// MaxFieldLength is the longest custom field value, in characters.
const MaxFieldLength = 200

// Validate checks a request and normalizes its fields. Codes: invalid, with Field
// set to email, name or consent and a message for the person who typed it;
// when several fields are wrong, an apperr.FieldErrors with each of them (its
// first is what apperr.As finds), so a form can show every mistake at once.
func Validate(r Request) (Validated, error) {
	var errs apperr.FieldErrors
	email, err := address.Normalize(r.Email)
	if err != nil {
		errs = append(errs, apperr.FieldError("email", err.Error()))
	}
	name := strings.TrimSpace(r.Name)
	if utf8.RuneCountInString(name) > MaxNameLength {
		errs = append(errs, apperr.FieldError("name", fmt.Sprintf("Keep the name under %d characters.", MaxNameLength)))
	} else if !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		errs = append(errs, apperr.FieldError("name", "The name contains characters that cannot be used."))
	}
	fields := model.Values{}
	for _, k := range slices.Sorted(maps.Keys(r.Fields)) {
		v := strings.TrimSpace(r.Fields[k])
		switch {
		case utf8.RuneCountInString(v) > MaxFieldLength:
			errs = append(errs, apperr.FieldError(k, fmt.Sprintf("Keep this under %d characters.", MaxFieldLength)))
		case !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0:
			errs = append(errs, apperr.FieldError(k, "This contains characters that cannot be used."))
		case v != "":
			fields[k] = v
		}
	}
	if r.Source == SourceForm && !r.Consent {
		errs = append(errs, apperr.FieldError("consent", "Tick the box to agree to receive this newsletter; we cannot subscribe you without it."))
	}
	switch len(errs) {
	case 0:
		return Validated{Email: email, Name: name, Fields: fields}, nil
	case 1:
		return Validated{}, errs[0]
	}
	return Validated{}, errs
}

// ConsentText is the label of the consent box for a list: what the person agrees to.
func (s *Service) ConsentText(l model.List) string {
	if t := strings.TrimSpace(l.ConsentText); t != "" {
		return t
	}
	if s.Locale != nil {
		return s.Locale.For(l.Language).T("consent.default", map[string]any{"List": l.Name, "Org": s.Org})
	}
	return fmt.Sprintf("I agree to receive “%s” by email from %s. I can unsubscribe at any time with the link in every message.", l.Name, s.Org)
}

// NoticeItem is one line of the privacy notice shown with a form.
type NoticeItem struct{ Label, Text string }

// Notice is the privacy notice of a list's form (GDPR art. 13): who, what
// for, each field collected and why, what is kept, how to leave, the rights.
// It is versioned with the consent label: the consent record keeps both.
func (s *Service) Notice(l model.List) []NoticeItem {
	t := locale.T{Lang: locale.Default}
	if s.Locale != nil {
		t = s.Locale.For(l.Language)
	}
	who := s.Org
	if s.PostalAddress != "" {
		who += ", " + s.PostalAddress
	}
	items := []NoticeItem{{t.T("notice.who"), who + "."}, {t.T("notice.what"), t.T("notice.what.body", l)}}
	if len(l.Fields) > 0 {
		var parts []string
		for _, f := range l.Fields {
			label, purpose := f.Label, f.Purpose
			if f.Name == model.FieldName {
				if label == "" {
					label = t.T("subscribe.name")
				}
				if purpose == "" {
					purpose = t.T("notice.fields.name")
				}
			}
			parts = append(parts, label+": "+purpose)
		}
		items = append(items, NoticeItem{t.T("notice.fields"), strings.Join(parts, "; ") + "."})
	}
	return append(items, NoticeItem{t.T("notice.keep"), t.T("notice.keep.body")}, NoticeItem{t.T("notice.leave"), t.T("notice.leave.body")},
		NoticeItem{t.T("notice.rights"), t.T("notice.rights.body", map[string]any{"Contact": s.PrivacyContact})})
}

// shownText is what the consent record keeps of a form: the consent label and
// the privacy notice under it, as shown.
func (s *Service) shownText(l model.List) string {
	var b strings.Builder
	b.WriteString(s.ConsentText(l))
	b.WriteString("\n\n")
	for _, it := range s.Notice(l) {
		b.WriteString(it.Label + " " + it.Text + "\n")
	}
	return strings.TrimSpace(b.String())
}

// consentVersion stores the text once and returns its version (a hash of it).
func (s *Service) consentVersion(ctx context.Context, text string) (string, error) {
	sum := sha256.Sum256([]byte(text))
	v := hex.EncodeToString(sum[:8])
	if _, ok := s.savedTexts.Load(v); ok {
		return v, nil
	}
	if err := s.Store.SaveConsentText(ctx, v, text); err != nil {
		return "", err
	}
	s.savedTexts.Store(v, struct{}{})
	return v, nil
}

// Form is what a list's signup form shows.
type Form struct {
	List        model.List
	ConsentText string
	Notice      []NoticeItem
	// TrackingText labels the optional tracking box; "" on lists without open tracking.
	TrackingText string
}

// Form returns the signup form of a list. Codes: not_found.
func (s *Service) Form(ctx context.Context, slug string) (Form, error) {
	l, err := s.Lists.Public(ctx, slug)
	if err != nil {
		return Form{}, err
	}
	return Form{List: l, ConsentText: s.ConsentText(l), Notice: s.Notice(l), TrackingText: s.trackingText(l)}, nil
}

// SignupForm records a signup from a list's public form and returns the form,
// for the page that answers. Codes: not_found (the list), invalid.
func (s *Service) SignupForm(ctx context.Context, slug string, r Request) (Form, error) {
	f, err := s.Form(ctx, slug)
	if err != nil {
		return f, err
	}
	return f, s.signup(ctx, []model.List{f.List}, r)
}

// Signup records a signup for each list named by slug (the API) and queues the
// confirmation mails. Codes: invalid (Field lists for a missing or unknown
// list, or the field at fault).
func (s *Service) Signup(ctx context.Context, slugs []string, r Request) error {
	ls, err := s.Lists.Resolve(ctx, "lists", slugs)
	if err != nil {
		return err
	}
	return s.signup(ctx, ls, r)
}

// signup records a signup for each list and queues confirmation mails. It
// answers the same way whether the address is new, pending, confirmed or
// unsubscribed: nothing reveals membership. Codes: invalid, too_many.
func (s *Service) signup(ctx context.Context, lists []model.List, r Request) error {
	if r.Trap {
		s.Metrics.Signup("trap")
		return nil
	}
	v, err := Validate(r)
	if err != nil {
		s.Metrics.Signup("invalid")
		return err
	}
	if err := checkDeclared(lists, v); err != nil {
		s.Metrics.Signup("invalid")
		return err
	}
	if err := s.checkProofOfWork(ctx, lists, r); err != nil {
		s.Metrics.Signup("proof_of_work")
		return err
	}
	// Limits come after validation (the domain is the normalized address's) and
	// before anything is written; they never depend on the address's state.
	if err := s.Limits.Signup(ctx, r.IP, v.Email[strings.LastIndexByte(v.Email, '@')+1:]); err != nil {
		s.Metrics.Signup("rate_limited")
		return err
	}
	s.Metrics.Signup("accepted")
	g := s.group()
	g.Join()
	defer g.Leave()
	for _, l := range lists {
		c := model.Consent{Source: r.Source, IP: r.IP, UserAgent: r.UserAgent}
		if r.Source == SourceForm {
			if c.TextVersion, err = s.consentVersion(ctx, s.shownText(l)); err != nil {
				return fmt.Errorf("save consent text: %w", err)
			}
		} else {
			c.TextVersion = "api"
		}
		p := store.SignupParams{Email: v.Email, ListID: l.ID, Consent: c, Fields: model.Values{}}
		if l.Fields.Has(model.FieldName) {
			p.Name = v.Name
		}
		for k, val := range v.Fields {
			if l.Fields.Has(k) {
				p.Fields[k] = val
			}
		}
		if err := s.trackingRequest(ctx, l, r, &p); err != nil {
			return err
		}
		res, err := g.Do(p)
		if err != nil {
			return fmt.Errorf("signup to list %s: %w", l.Slug, err)
		}
		s.enqueue(ctx, res.MessageID)
	}
	return nil
}

// checkDeclared refuses what none of the lists collects: a name for lists
// without the name field, a custom field none of them declares. Codes:
// invalid, naming the field.
func checkDeclared(ls []model.List, v Validated) error {
	declared := func(name string) bool {
		return slices.ContainsFunc(ls, func(l model.List) bool { return l.Fields.Has(name) })
	}
	if v.Name != "" && !declared(model.FieldName) {
		return apperr.FieldError("name", "This list does not collect a name: leave it out.")
	}
	for _, k := range slices.Sorted(maps.Keys(v.Fields)) {
		if k == model.FieldName || !declared(k) {
			return apperr.FieldError(k, "This list does not collect “"+k+"”: leave it out.")
		}
	}
	return nil
}

// Challenge makes a proof-of-work challenge for a list's form. Codes:
// not_found (no such list, or it asks for none).
func (s *Service) Challenge(ctx context.Context, slug string) (pow.Challenge, error) {
	l, err := s.Lists.Public(ctx, slug)
	if err != nil {
		return pow.Challenge{}, err
	}
	if !l.ProofOfWork || s.POW == nil {
		return pow.Challenge{}, apperr.New(apperr.NotFound, "This list's form asks for no proof-of-work challenge.")
	}
	return s.POW.New()
}

// checkProofOfWork asks the form of a list with proof_of_work for its solved
// challenge (the API, with its key, is not asked). Codes: invalid (Field altcha).
func (s *Service) checkProofOfWork(ctx context.Context, ls []model.List, r Request) error {
	if r.Source != SourceForm || s.POW == nil || !slices.ContainsFunc(ls, func(l model.List) bool { return l.ProofOfWork }) {
		return nil
	}
	switch err := s.POW.Verify(ctx, r.ProofOfWork); {
	case err == nil:
		return nil
	case errors.Is(err, pow.ErrMissing):
		return apperr.FieldError("altcha", "This form checks that a browser sends it: let the check finish (it needs JavaScript), then send the form again. Nothing was saved.")
	case errors.Is(err, pow.ErrExpired):
		return apperr.FieldError("altcha", "The anti-robot check expired: send the form again. Nothing was saved.")
	case errors.Is(err, pow.ErrMalformed), errors.Is(err, pow.ErrWrong), errors.Is(err, pow.ErrReplayed):
		return apperr.FieldError("altcha", "The anti-robot check did not pass: reload the page and send the form again. Nothing was saved.")
	default:
		return err
	}
}

// enqueue hands a ledger message to the queue. A failure is only logged: the row
// stays queued in PostgreSQL and the worker's sweeper enqueues it again.
// Enqueue queues ledger messages for the worker (those that fail to queue
// are found by the sweeper).
func (s *Service) Enqueue(ctx context.Context, messageIDs ...int64) {
	for _, id := range messageIDs {
		s.enqueue(ctx, id)
	}
}

func (s *Service) enqueue(ctx context.Context, messageID int64) {
	if messageID == 0 {
		return
	}
	if err := s.Queue.EnqueueTransactional(ctx, messageID); err != nil {
		s.Log.Warn("enqueue failed; the sweeper will retry", slog.Int64("message_id", messageID), slog.Any("error", err))
	}
}

// Token errors as the web layer shows them.
var (
	ErrBadLink     = apperr.New(apperr.BadRequest, "This link is not valid. It may have been cut off or changed: copy the whole link from the email.")
	ErrExpiredLink = apperr.New(apperr.Expired, "This confirmation link has expired.")
)

func (s *Service) verify(p token.Purpose, tok string) (token.Claims, error) {
	c, err := s.Tokens.Verify(p, tok)
	switch {
	case errors.Is(err, token.ErrExpired):
		return c, ErrExpiredLink
	case err != nil:
		return c, ErrBadLink
	}
	return c, nil
}

// Subscription returns what a link points to, for a page that asks the person to
// press a button. It changes nothing. Codes: bad_request, expired, not_found.
func (s *Service) Subscription(ctx context.Context, p token.Purpose, tok string) (model.Subscription, error) {
	c, err := s.verify(p, tok)
	if err != nil {
		return model.Subscription{}, err
	}
	sub, err := s.Store.SubscriptionByID(ctx, c.SubscriptionID)
	if apperr.ErrorCode(err) == apperr.NotFound {
		return sub, ErrBadLink // erased since the link was sent
	}
	return sub, err
}

// Confirm confirms the subscription a confirm token names, logs consent and
// queues the welcome mail. Repeating it is harmless.
// Codes: bad_request, expired, not_found.
func (s *Service) Confirm(ctx context.Context, tok, ip, userAgent string) (model.Subscription, error) {
	c, err := s.verify(token.Confirm, tok)
	if err != nil {
		return model.Subscription{}, err
	}
	res, err := s.Store.ConfirmSubscription(ctx, c.SubscriptionID, c.IssuedAt,
		model.Consent{Source: SourceLink, IP: ip, UserAgent: userAgent})
	if apperr.ErrorCode(err) == apperr.NotFound {
		return res.Subscription, ErrBadLink
	}
	if err != nil {
		return res.Subscription, err
	}
	if !res.AlreadyConfirmed {
		s.Metrics.Confirmation()
	}
	s.enqueue(ctx, res.WelcomeMessageID)
	return res.Subscription, nil
}

// ResendConfirmation sends a new confirmation mail for an expired confirm link,
// at most one per store.ConfirmInterval. Codes: bad_request, too_many.
func (s *Service) ResendConfirmation(ctx context.Context, tok, ip string) error {
	c, err := s.Tokens.Verify(token.Confirm, tok)
	if err != nil && !errors.Is(err, token.ErrExpired) {
		return ErrBadLink
	}
	if err := s.Limits.Resend(ctx, ip); err != nil {
		return err
	}
	id, err := s.Store.ResendConfirmation(ctx, c.SubscriptionID)
	if err != nil {
		return err
	}
	s.enqueue(ctx, id)
	return nil
}

// Unsubscribe ends the subscription an unsubscribe token names, at once.
// Repeating it is harmless. Codes: bad_request.
func (s *Service) Unsubscribe(ctx context.Context, tok, source, ip, userAgent string) (model.Subscription, error) {
	c, err := s.verify(token.Unsubscribe, tok)
	if err != nil {
		return model.Subscription{}, err
	}
	changed, err := s.Store.Unsubscribe(ctx, c.SubscriptionID, model.Consent{Source: source, IP: ip, UserAgent: userAgent})
	if apperr.ErrorCode(err) == apperr.NotFound {
		return model.Subscription{}, ErrBadLink
	}
	if err != nil {
		return model.Subscription{}, err
	}
	if changed {
		s.Metrics.Unsubscribe(source)
	}
	return s.Store.SubscriptionByID(ctx, c.SubscriptionID)
}

// ConfirmURL signs a fresh confirmation link and returns it with its expiry.
func (s *Service) ConfirmURL(subscriptionID int64) (string, time.Time) {
	return s.BaseURL + "/confirm/" + s.Tokens.Sign(token.Confirm, subscriptionID, s.ConfirmTTL), s.Tokens.Now().Add(s.ConfirmTTL)
}

// UnsubscribeURL signs a one-click unsubscribe link; it never expires.
func (s *Service) UnsubscribeURL(subscriptionID int64) string {
	return s.BaseURL + "/unsubscribe/" + s.Tokens.Sign(token.Unsubscribe, subscriptionID, 0)
}

// TransactionalMail builds a confirmation or welcome mail of the ledger for its
// subscription, with fresh signed links. due is false when the mail is no
// longer wanted: a confirmation for a subscription confirmed since, a welcome
// for one that left. An error means the message cannot be built.
func (s *Service) TransactionalMail(m model.TransactionalMessage, sub model.Subscription) (msg mail.Message, due bool, err error) {
	to := mail.Subscriber{Email: sub.Email, Name: sub.Name}
	l := mail.List{Slug: sub.ListSlug, Name: sub.ListName, WelcomeSubject: sub.WelcomeSubject, WelcomeBody: sub.WelcomeBody,
		Language: sub.ListLanguage}
	switch m.Kind {
	case model.KindConfirm:
		if sub.Status == model.StatusConfirmed {
			return msg, false, nil
		}
		u, exp := s.ConfirmURL(sub.ID)
		msg, err = s.Mail.Confirm(to, l, u, exp)
		return msg, true, err
	case model.KindWelcome:
		if sub.Status != model.StatusConfirmed {
			return msg, false, nil
		}
		msg, err = s.Mail.Welcome(to, l, s.UnsubscribeURL(sub.ID))
		return msg, true, err
	case model.KindRepermission:
		if sub.Status != model.StatusConfirmed {
			return msg, false, nil
		}
		ttl := s.RepermissionTTL
		if ttl <= 0 {
			ttl = 30 * 24 * time.Hour
		}
		exp := s.Tokens.Now().Add(ttl)
		msg, err = s.Mail.Repermission(to, l, s.BaseURL+"/confirm/"+s.Tokens.Sign(token.Confirm, sub.ID, ttl), exp, s.UnsubscribeURL(sub.ID))
		return msg, true, err
	}
	return msg, false, fmt.Errorf("unknown message kind %q", m.Kind)
}

// Subscribers returns the subscriber with this address (zero or one), with the
// lists they are on. Codes: invalid (Field email).
func (s *Service) Subscribers(ctx context.Context, email string) ([]model.Subscriber, error) {
	e, err := address.Normalize(email)
	if err != nil {
		return nil, apperr.FieldError("email", err.Error())
	}
	return s.Store.SubscribersByEmail(ctx, e)
}

// Page asks for one page of a list's subscribers, by id: after a cursor (the
// Next of the page before: keyset, as fast at the millionth subscriber as at the
// first) or, for older clients, by number (which skips rows: slower deep down).
type Page struct {
	List    string // slug
	Status  string // "" for all
	After   int64  // cursor; 0 for the first page or a numbered one
	Number  int    // 1-based page number, used when After is 0
	PerPage int
}

// SubscribersOnList returns one page of a list's subscribers.
// Codes: invalid (Field list or status).
func (s *Service) SubscribersOnList(ctx context.Context, p Page) (model.SubscriberPage, error) {
	switch p.Status {
	case "", model.StatusUnconfirmed, model.StatusConfirmed, model.StatusUnsubscribed:
	default:
		return model.SubscriberPage{}, apperr.FieldError("status", "status is unconfirmed, confirmed or unsubscribed.")
	}
	l, err := s.Lists.BySlug(ctx, "list", p.List)
	if err != nil {
		return model.SubscriberPage{}, err
	}
	skip := 0
	if p.After == 0 {
		p.Number = max(p.Number, 1)
		skip = (p.Number - 1) * p.PerPage
	} else {
		p.Number = 0
	}
	pg, err := s.Store.SubscribersOnList(ctx, l.ID, p.Status, p.After, skip, p.PerPage)
	pg.Page = p.Number
	return pg, err
}

// Subscriber returns one subscriber with the lists they are on. Codes: not_found.
func (s *Service) Subscriber(ctx context.Context, id int64) (model.Subscriber, error) {
	return s.Store.SubscriberByID(ctx, id)
}

// UnsubscribeByAPI ends a subscriber's subscriptions on the lists named by
// slug (every list when none is named), at once, logged in the consent log
// with source api, and returns the subscriber as they are now.
// Codes: not_found, invalid (Field lists).
func (s *Service) UnsubscribeByAPI(ctx context.Context, id int64, slugs []string, ip, userAgent string) (model.Subscriber, error) {
	var ids []int64
	if len(slugs) > 0 {
		ls, err := s.Lists.Resolve(ctx, "lists", slugs)
		if err != nil {
			return model.Subscriber{}, err
		}
		for _, l := range ls {
			ids = append(ids, l.ID)
		}
	}
	if err := s.Store.UnsubscribeSubscriber(ctx, id, ids, model.Consent{Source: SourceAPI, IP: ip, UserAgent: userAgent}); err != nil {
		return model.Subscriber{}, err
	}
	s.Metrics.Unsubscribe(SourceAPI)
	return s.Store.SubscriberByID(ctx, id)
}

// Search is a subscriber search: Q a substring of the address or name, on a
// list (slug, "" for any) with a status ("" for any), after a cursor.
type Search struct {
	Q       string
	List    string
	Status  string
	After   int64
	PerPage int
}

// Search returns a page of subscribers and the next page's cursor (0 at the
// end). Codes: invalid (Field list or status).
func (s *Service) Search(ctx context.Context, q Search) ([]model.Subscriber, int64, error) {
	switch q.Status {
	case "", model.StatusUnconfirmed, model.StatusConfirmed, model.StatusUnsubscribed:
	default:
		return nil, 0, apperr.FieldError("status", "status is unconfirmed, confirmed or unsubscribed.")
	}
	f := store.SubscriberSearch{Q: strings.TrimSpace(q.Q), Status: q.Status, After: q.After, Limit: q.PerPage}
	if utf8.RuneCountInString(f.Q) > 254 {
		return nil, 0, apperr.FieldError("q", "Search for at most 254 characters.")
	}
	if q.List != "" {
		l, err := s.Lists.BySlug(ctx, "list", q.List)
		if err != nil {
			return nil, 0, err
		}
		f.ListID = l.ID
	}
	return s.Store.SearchSubscribers(ctx, f)
}

// ConsentRecord is a subscriber's consent events, oldest first, each with
// the text shown. Codes: not_found.
func (s *Service) ConsentRecord(ctx context.Context, subscriberID int64) ([]model.ConsentEvent, error) {
	if _, err := s.Store.SubscriberByID(ctx, subscriberID); err != nil {
		return nil, err
	}
	return s.Store.ConsentEvents(ctx, subscriberID)
}

// Rename corrects a subscriber's name (by an admin: an authenticated request).
// Codes: not_found, invalid (Field name).
func (s *Service) Rename(ctx context.Context, id int64, name string) (model.Subscriber, error) {
	name, err := validName(name)
	if err != nil {
		return model.Subscriber{}, err
	}
	if err := s.Store.RenameSubscriber(ctx, id, name); err != nil {
		return model.Subscriber{}, err
	}
	if err := s.Store.LogSubscriberEvent(ctx, id, "rectify", model.Consent{Source: "admin"}); err != nil {
		return model.Subscriber{}, err
	}
	return s.Store.SubscriberByID(ctx, id)
}

// validName trims a name and checks it as a correction. Codes: invalid (Field name).
func validName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > MaxNameLength {
		return "", apperr.FieldError("name", fmt.Sprintf("Keep the name under %d characters.", MaxNameLength))
	}
	if !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", apperr.FieldError("name", "The name contains characters that cannot be used.")
	}
	return name, nil
}

// Suppression reasons a person's request may give.
var suppressReasons = []string{"complaint", "objection", "manual"}

// Suppress honours a complaint or an objection (GDPR art. 21) at once: the
// subscriber is unsubscribed from every list (logged with source api) and
// suppressed, never mailed until a fresh confirmed opt-in. Codes: not_found,
// invalid (Field reason).
func (s *Service) Suppress(ctx context.Context, id int64, reason, ip, userAgent string) (model.Subscriber, error) {
	if !slices.Contains(suppressReasons, reason) {
		return model.Subscriber{}, apperr.FieldError("reason", "The reason is complaint, objection or manual.")
	}
	if err := s.Store.SuppressSubscriber(ctx, id, reason, model.Consent{Source: SourceAPI, IP: ip, UserAgent: userAgent}); err != nil {
		return model.Subscriber{}, err
	}
	s.Metrics.Unsubscribe(SourceAPI)
	return s.Store.SubscriberByID(ctx, id)
}
