// Package lists owns mailing lists: what a valid slug, name and description
// are, looking lists up (cached for the public pages), and resolving the lists a
// request names. Every list is double opt-in; there is no setting to change that.
package lists

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/store"
)

// MaxPerRequest is the most lists one signup or API call may name.
const MaxPerRequest = 50

// cacheTTL bounds how stale a list's name or description on a public page may
// be. Lists change rarely and every signup needs one: this saves a query per
// request on the hottest path.
const cacheTTL = 5 * time.Second

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidSlug reports whether s can name a list (or a layout): 1 to 63 lower-case
// letters, digits and hyphens, starting with a letter or digit.
func ValidSlug(s string) bool { return slugRE.MatchString(s) }

// Service manages lists. Build it once; safe for concurrent use.
type Service struct {
	Store *store.Store
	Now   func() time.Time // for the cache; time.Now when nil
	// Languages are the tags a list may name (locales/); nil: any.
	Languages []string

	mu    sync.RWMutex
	cache map[string]cachedList

	statsCache  cached[[]model.ListStats]
	growthCache cached[[]model.DayCount]
}

type cachedList struct {
	list model.List
	at   time.Time
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// New is a list to create.
type New struct {
	Slug, Name, Description string
	ProofOfWork             bool
	Language                string // "" for English
	OpenTracking            bool
}

// Create validates and creates a list. Codes: invalid (Field slug, name or
// description), conflict (slug taken).
func (s *Service) Create(ctx context.Context, n New) (model.List, error) {
	slug, name, description := strings.TrimSpace(n.Slug), strings.TrimSpace(n.Name), strings.TrimSpace(n.Description)
	if !ValidSlug(slug) {
		return model.List{}, apperr.FieldError("slug", "A slug is 1 to 63 lower-case letters, digits and hyphens, starting with a letter or digit, like \"newsletter\".")
	}
	if err := checkNameDescription(name, description); err != nil {
		return model.List{}, err
	}
	if n.Language == "" {
		n.Language = "en"
	}
	if s.Languages != nil && !slices.Contains(s.Languages, n.Language) {
		return model.List{}, apperr.FieldError("language", "The language is one of "+strings.Join(s.Languages, ", ")+".")
	}
	l, err := s.Store.CreateList(ctx, slug, name, description, n.ProofOfWork)
	if err == nil && (n.Language != "en" || n.OpenTracking) {
		l.Language, l.OpenTracking = n.Language, n.OpenTracking
		l, err = s.Store.UpdateList(ctx, slug, l)
	}
	if apperr.ErrorCode(err) == apperr.Conflict {
		return l, &apperr.Error{Code: apperr.Conflict, Message: "A list with the slug \"" + slug + "\" already exists.", Field: "slug"}
	}
	return l, err
}

// Patch is a partial change of a list: the fields given replace the list's.
type Patch struct {
	Name           *string `json:"name"`
	Description    *string `json:"description"`
	ProofOfWork    *bool   `json:"proof_of_work"`
	WelcomeEnabled *bool   `json:"welcome_enabled"`
	WelcomeSubject *string `json:"welcome_subject"`
	WelcomeBody    *string `json:"welcome_body"`
	// ConsentText replaces the form's consent label ("" for the default);
	// every text shown is kept by version with the consent it was given under.
	ConsentText *string `json:"consent_text"`
	// Language of the list's public pages and system mails: a tag of Languages.
	Language *string `json:"language"`
	// Fields the list collects besides the address: "name" and custom ones,
	// each with a purpose (replaces them all).
	Fields *model.Fields `json:"fields"`
	// OpenTracking turns the open pixel on for this list's mail (off by default).
	OpenTracking *bool `json:"open_tracking"`
}

// Update changes a list's name or description. Codes: not_found, invalid.
func (s *Service) Update(ctx context.Context, slug string, p Patch) (model.List, error) {
	l, err := s.Store.ListBySlug(ctx, slug)
	if apperr.ErrorCode(err) == apperr.NotFound {
		return l, apperr.New(apperr.NotFound, "There is no list with the slug \""+slug+"\".")
	}
	if err != nil {
		return l, err
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&l.Name, p.Name)
	set(&l.Description, p.Description)
	set(&l.WelcomeSubject, p.WelcomeSubject)
	set(&l.WelcomeBody, p.WelcomeBody)
	set(&l.ConsentText, p.ConsentText)
	set(&l.Language, p.Language)
	if p.ProofOfWork != nil {
		l.ProofOfWork = *p.ProofOfWork
	}
	if p.WelcomeEnabled != nil {
		l.WelcomeEnabled = *p.WelcomeEnabled
	}
	if p.OpenTracking != nil {
		l.OpenTracking = *p.OpenTracking
	}
	var errs apperr.FieldErrors
	if p.Fields != nil {
		fs, err := CheckFields(*p.Fields)
		if err != nil {
			errs = append(errs, err)
		}
		l.Fields = fs
	}
	if err := checkNameDescription(l.Name, l.Description); err != nil {
		errs = append(errs, err.(*apperr.Error))
	}
	switch {
	case utf8.RuneCountInString(l.WelcomeSubject) > 200:
		errs = append(errs, apperr.FieldError("welcome_subject", "Keep the welcome subject under 200 characters."))
	case strings.ContainsAny(l.WelcomeSubject, "\r\n"):
		errs = append(errs, apperr.FieldError("welcome_subject", "The welcome subject is one line."))
	}
	if s.Languages != nil && !slices.Contains(s.Languages, l.Language) {
		errs = append(errs, apperr.FieldError("language", "The language is one of "+strings.Join(s.Languages, ", ")+"."))
	}
	if utf8.RuneCountInString(l.WelcomeBody) > 5000 {
		errs = append(errs, apperr.FieldError("welcome_body", "Keep the welcome message under 5,000 characters."))
	}
	if utf8.RuneCountInString(l.ConsentText) > 1000 {
		errs = append(errs, apperr.FieldError("consent_text", "Keep the consent text under 1,000 characters."))
	} else if strings.ContainsAny(l.ConsentText, "\r\n") {
		errs = append(errs, apperr.FieldError("consent_text", "The consent text is one paragraph, without line breaks."))
	}
	switch len(errs) {
	case 0:
	case 1:
		return model.List{}, errs[0]
	default:
		return model.List{}, errs
	}
	l, err = s.Store.UpdateList(ctx, slug, l)
	s.forget(slug)
	return l, err
}

// MaxFields is how many custom fields a list may collect.
const MaxFields = 10

var fieldNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// CheckFields validates a list's declared fields: "name" or custom keys
// (lower case letters, digits, underscores), each once, each custom one with
// a label and every one with a purpose of at most 300 characters (the name's
// may be empty: the form then says what it is for). Codes: invalid (Field fields).
func CheckFields(fs model.Fields) (model.Fields, *apperr.Error) {
	out := model.Fields{}
	seen := map[string]bool{}
	bad := func(msg string) (model.Fields, *apperr.Error) { return nil, apperr.FieldError("fields", msg) }
	for _, f := range fs {
		f.Name, f.Label, f.Purpose = strings.TrimSpace(f.Name), strings.TrimSpace(f.Label), strings.TrimSpace(f.Purpose)
		switch {
		case f.Name == "email":
			return bad("The address is always collected: do not declare it.")
		case slices.Contains([]string{"consent", "website", "altcha", "lists", "fields", "tracking_consent"}, f.Name):
			return bad("\"" + f.Name + "\" is a name the form uses itself: choose another.")
		case !fieldNameRE.MatchString(f.Name):
			return bad(fmt.Sprintf("A field's name is 1 to 32 lower-case letters, digits and underscores, starting with a letter, like \"company\" (got %q).", f.Name))
		case seen[f.Name]:
			return bad("The field \"" + f.Name + "\" is declared twice.")
		case f.Name != model.FieldName && f.Label == "":
			return bad("The field \"" + f.Name + "\" needs a label for the form.")
		case f.Name != model.FieldName && f.Purpose == "":
			return bad("The field \"" + f.Name + "\" needs a purpose: say why you collect it (the form shows it).")
		case utf8.RuneCountInString(f.Label) > 100 || utf8.RuneCountInString(f.Purpose) > 300:
			return bad("Keep a field's label under 100 characters and its purpose under 300.")
		case strings.ContainsAny(f.Label+f.Purpose, "\r\n"):
			return bad("A field's label and purpose are one line each.")
		}
		seen[f.Name] = true
		out = append(out, f)
	}
	if len(out.Custom()) > MaxFields {
		return bad(fmt.Sprintf("A list collects at most %d custom fields.", MaxFields))
	}
	return out, nil
}

// Delete deletes a list with its subscriptions, unless a campaign to it is
// scheduled, sending or paused. Codes: not_found, conflict.
func (s *Service) Delete(ctx context.Context, slug string) error {
	err := s.Store.DeleteList(ctx, slug)
	if apperr.ErrorCode(err) == apperr.NotFound {
		return apperr.New(apperr.NotFound, "There is no list with the slug \""+slug+"\".")
	}
	s.forget(slug)
	return err
}

func (s *Service) forget(slug string) {
	s.mu.Lock()
	delete(s.cache, slug)
	s.mu.Unlock()
}

func checkNameDescription(name, description string) error {
	switch {
	case name == "":
		return apperr.FieldError("name", "Give the list a name.")
	case utf8.RuneCountInString(name) > 200:
		return apperr.FieldError("name", "Keep the name under 200 characters.")
	case utf8.RuneCountInString(description) > 2000:
		return apperr.FieldError("description", "Keep the description under 2000 characters.")
	}
	return nil
}

// Lists returns every list by slug. Lists are few (tens), so no paging.
func (s *Service) Lists(ctx context.Context) ([]model.List, error) {
	return s.Store.Lists(ctx)
}

// ErrNoSuchList is the not_found a public page shows for an unknown slug.
var ErrNoSuchList = apperr.New(apperr.NotFound, "There is no newsletter at this address. Check the link you followed.")

// Public returns a list for a public page or signup, from a cache at most
// cacheTTL old. Misses are not cached, so a new list is visible at once.
// Codes: not_found (ErrNoSuchList).
func (s *Service) Public(ctx context.Context, slug string) (model.List, error) {
	s.mu.RLock()
	c, ok := s.cache[slug]
	s.mu.RUnlock()
	now := s.now()
	if ok && now.Sub(c.at) < cacheTTL {
		return c.list, nil
	}
	l, err := s.Store.ListBySlug(ctx, slug)
	if apperr.ErrorCode(err) == apperr.NotFound {
		return l, ErrNoSuchList
	}
	if err != nil {
		return l, err
	}
	s.mu.Lock()
	if s.cache == nil || len(s.cache) > 10000 {
		s.cache = map[string]cachedList{}
	}
	s.cache[slug] = cachedList{l, now}
	s.mu.Unlock()
	return l, nil
}

// Resolve returns the lists a request names by slug (field names the request's
// field), each once, in the order given. Codes: invalid (none, more than
// MaxPerRequest, or an unknown slug, named in the message).
func (s *Service) Resolve(ctx context.Context, field string, slugs []string) ([]model.List, error) {
	if len(slugs) == 0 {
		return nil, apperr.FieldError(field, "Name at least one list by slug, like \""+field+"\": [\"newsletter\"].")
	}
	if len(slugs) > MaxPerRequest {
		return nil, apperr.FieldError(field, "At most 50 lists at once.")
	}
	var out []model.List
	seen := map[string]bool{}
	for _, slug := range slugs {
		if seen[slug] {
			continue
		}
		seen[slug] = true
		l, err := s.Store.ListBySlug(ctx, slug)
		if apperr.ErrorCode(err) == apperr.NotFound {
			return nil, apperr.FieldError(field, "There is no list with the slug \""+slug+"\".")
		}
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// BySlug returns one list. Codes: invalid (Field field) for an unknown slug.
func (s *Service) BySlug(ctx context.Context, field, slug string) (model.List, error) {
	l, err := s.Store.ListBySlug(ctx, slug)
	if apperr.ErrorCode(err) == apperr.NotFound {
		return l, apperr.FieldError(field, "There is no list with the slug \""+slug+"\".")
	}
	return l, err
}

// StatsMaxAge is how old the dashboard's counts may be: counting a million
// subscriptions takes a few hundred milliseconds, so the counts are kept and
// refreshed in the background once older than this (the page says when they
// were made).
const StatsMaxAge = 30 * time.Second

// cached keeps one expensive read, refreshed in the background when stale
// (the stale value is served meanwhile) and synchronously when absent.
type cached[T any] struct {
	mu         sync.Mutex
	val        T
	at         time.Time
	ok         bool
	refreshing bool
}

func (c *cached[T]) get(ctx context.Context, now func() time.Time, load func(context.Context) (T, error)) (T, time.Time, error) {
	c.mu.Lock()
	if c.ok && now().Sub(c.at) < StatsMaxAge {
		defer c.mu.Unlock()
		return c.val, c.at, nil
	}
	if c.ok {
		if !c.refreshing {
			c.refreshing = true
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				at := now()
				v, err := load(ctx)
				c.mu.Lock()
				defer c.mu.Unlock()
				c.refreshing = false
				if err == nil {
					c.val, c.at = v, at
				}
			}()
		}
		defer c.mu.Unlock()
		return c.val, c.at, nil
	}
	c.mu.Unlock()
	at := now()
	v, err := load(ctx)
	if err != nil {
		return v, at, err
	}
	c.mu.Lock()
	c.val, c.at, c.ok = v, at, true
	c.mu.Unlock()
	return v, at, nil
}

// Stats counts every list's subscriptions by status, as of the time returned
// (at most StatsMaxAge ago); every list is there, a new one with zeros.
func (s *Service) Stats(ctx context.Context) ([]model.ListStats, time.Time, error) {
	ls, err := s.Store.Lists(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	counts, at, err := s.statsCache.get(ctx, s.now, s.Store.ListStats)
	if err != nil {
		return nil, at, err
	}
	by := map[string]model.ListStats{}
	for _, c := range counts {
		by[c.Slug] = c
	}
	out := make([]model.ListStats, len(ls))
	for i, l := range ls {
		out[i] = by[l.Slug]
		out[i].Slug, out[i].Name = l.Slug, l.Name
	}
	return out, at, nil
}

// Growth counts confirmations per day over the last days days, every day
// present (zero when none), oldest first, as Stats does (kept StatsMaxAge).
func (s *Service) Growth(ctx context.Context, days int) ([]model.DayCount, error) {
	today := s.now().UTC().Truncate(24 * time.Hour)
	from := today.AddDate(0, 0, -(days - 1))
	got, _, err := s.growthCache.get(ctx, s.now, func(ctx context.Context) ([]model.DayCount, error) {
		return s.Store.ConfirmationsByDay(ctx, from)
	})
	if err != nil {
		return nil, err
	}
	by := map[string]int64{}
	for _, d := range got {
		by[d.Day.Format("2006-01-02")] = d.Count
	}
	out := make([]model.DayCount, days)
	for i := range out {
		day := from.AddDate(0, 0, i)
		out[i] = model.DayCount{Day: day, Count: by[day.Format("2006-01-02")]}
	}
	return out, nil
}
