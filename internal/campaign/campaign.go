// Package campaign owns composing campaigns: drafts (validation, template
// compilation at save), marketers' layouts, per-recipient rendering, and the
// status transitions (send, schedule, pause, resume, cancel). It does not send:
// internal/delivery selects the audience and delivers. It knows nothing of HTTP.
package campaign

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	netmail "net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/lists"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/queue"
	"github.com/envoi/envoi/internal/store"
)

// Service composes campaigns and moves them between statuses. Build it once;
// safe for concurrent use.
type Service struct {
	Store         *store.Store
	Queue         *queue.Client
	Templates     fs.FS
	DefaultFrom   string
	Org           string
	PostalAddress string
	Log           *slog.Logger
	// ClickTracking is the global switch (ENVOI_CLICK_TRACKING): off, no
	// campaign's links are rewritten, whatever its click_tracking.
	ClickTracking bool

	mu       sync.Mutex
	compiled map[int64]*Compiled
}

// Draft is what a marketer submits.
type Draft struct {
	Name     string   `json:"name"`
	Subject  string   `json:"subject"`
	Lists    []string `json:"lists"`
	Format   string   `json:"format"`
	Body     string   `json:"body"`
	TextBody string   `json:"text_body"`
	Template string   `json:"template"`
	From     string   `json:"from"`
	ReplyTo  string   `json:"reply_to"`
	// ClickTracking: links rewritten to counted /r/{token} redirects; nil is true.
	ClickTracking *bool `json:"click_tracking"`
}

// Create validates, compiles and stores a draft. Codes: invalid (with Field).
func (s *Service) Create(ctx context.Context, d Draft) (model.Campaign, error) {
	c, ids, err := s.prepare(ctx, d)
	if err != nil {
		return model.Campaign{}, err
	}
	return s.Store.CreateCampaign(ctx, c, ids)
}

// prepare validates and compiles a draft and resolves its lists.
func (s *Service) prepare(ctx context.Context, d Draft) (model.Campaign, []int64, error) {
	d.Name, d.Subject = strings.TrimSpace(d.Name), strings.TrimSpace(d.Subject)
	switch {
	case d.Name == "" || utf8.RuneCountInString(d.Name) > 200:
		return model.Campaign{}, nil, apperr.FieldError("name", "Give the campaign a name of at most 200 characters.")
	case d.Subject == "" || utf8.RuneCountInString(d.Subject) > 500:
		return model.Campaign{}, nil, apperr.FieldError("subject", "Give the campaign a subject of at most 500 characters.")
	case strings.TrimSpace(d.Body) == "":
		return model.Campaign{}, nil, apperr.FieldError("body", "The body is empty.")
	case len(d.Body) > 1<<20:
		return model.Campaign{}, nil, apperr.FieldError("body", "The body is larger than 1 MB.")
	case len(d.TextBody) > 1<<20:
		return model.Campaign{}, nil, apperr.FieldError("text_body", "The text body is larger than 1 MB.")
	case len(d.Lists) == 0:
		return model.Campaign{}, nil, apperr.FieldError("lists", "Name at least one list by slug.")
	}
	if d.Format == "" {
		d.Format = "markdown"
	}
	if d.Format != "markdown" && d.Format != "html" {
		return model.Campaign{}, nil, apperr.FieldError("format", "format is markdown or html.")
	}
	if d.From == "" {
		d.From = s.DefaultFrom
	}
	if d.Template == "" {
		d.Template = "default"
	}
	if d.ReplyTo != "" {
		if _, err := netmail.ParseAddress(d.ReplyTo); err != nil {
			return model.Campaign{}, nil, apperr.FieldError("reply_to", "reply_to must be an email address.")
		}
	}
	var ids []int64
	for _, slug := range d.Lists {
		l, err := s.Store.ListBySlug(ctx, slug)
		if apperr.ErrorCode(err) == apperr.NotFound {
			return model.Campaign{}, nil, apperr.FieldError("lists", "There is no list with the slug \""+slug+"\".")
		}
		if err != nil {
			return model.Campaign{}, nil, err
		}
		ids = append(ids, l.ID)
	}
	c := model.Campaign{Name: d.Name, Subject: d.Subject, From: d.From, ReplyTo: d.ReplyTo, Format: d.Format,
		Body: d.Body, TextBody: d.TextBody, Template: d.Template, ClickTracking: d.ClickTracking == nil || *d.ClickTracking}
	src, err := s.layoutSource(ctx, c.Template)
	if err != nil {
		return model.Campaign{}, nil, err
	}
	if _, err := Compile(c, src, s.layoutFields()); err != nil {
		return model.Campaign{}, nil, err
	}
	return c, ids, nil
}

// Patch is a partial change of a campaign: the fields given replace the campaign's.
type Patch struct {
	Name          *string   `json:"name"`
	Subject       *string   `json:"subject"`
	Lists         *[]string `json:"lists"`
	Format        *string   `json:"format"`
	Body          *string   `json:"body"`
	TextBody      *string   `json:"text_body"`
	Template      *string   `json:"template"`
	From          *string   `json:"from"`
	ReplyTo       *string   `json:"reply_to"`
	ClickTracking *bool     `json:"click_tracking"`
}

// Update changes a draft or scheduled campaign, checked and compiled as at
// creation. Codes: not_found, conflict (sending or done), invalid.
func (s *Service) Update(ctx context.Context, id int64, p Patch) (model.Campaign, error) {
	c, err := s.Store.CampaignWithoutCounts(ctx, id)
	if err != nil {
		return model.Campaign{}, err
	}
	if c.Status != model.CampaignDraft && c.Status != model.CampaignScheduled {
		return model.Campaign{}, &apperr.Error{Code: apperr.Conflict, Message: "The campaign is " + c.Status + "; only a draft or a scheduled campaign can be changed.", Field: "status"}
	}
	d := Draft{Name: c.Name, Subject: c.Subject, Lists: c.Lists, Format: c.Format, Body: c.Body, TextBody: c.TextBody,
		Template: c.Template, From: c.From, ReplyTo: c.ReplyTo, ClickTracking: &c.ClickTracking}
	if p.ClickTracking != nil {
		d.ClickTracking = p.ClickTracking
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&d.Name, p.Name)
	set(&d.Subject, p.Subject)
	set(&d.Format, p.Format)
	set(&d.Body, p.Body)
	set(&d.TextBody, p.TextBody)
	set(&d.Template, p.Template)
	set(&d.From, p.From)
	set(&d.ReplyTo, p.ReplyTo)
	if p.Lists != nil {
		d.Lists = *p.Lists
	}
	nc, ids, err := s.prepare(ctx, d)
	if err != nil {
		return model.Campaign{}, err
	}
	nc.ID = id
	s.mu.Lock()
	delete(s.compiled, id)
	s.mu.Unlock()
	return s.Store.UpdateCampaign(ctx, nc, ids)
}

// Delete deletes a draft. Codes: not_found, conflict (not a draft).
func (s *Service) Delete(ctx context.Context, id int64) error { return s.Store.DeleteCampaign(ctx, id) }

// MaxPerPage bounds a page of campaigns.
const MaxPerPage = 100

// Campaigns lists campaigns newest first, optionally of one status, before a
// cursor (0 from the newest). Codes: invalid (Field status).
func (s *Service) Campaigns(ctx context.Context, status string, before int64, perPage int) ([]model.Campaign, int64, error) {
	switch status {
	case "", model.CampaignDraft, model.CampaignScheduled, model.CampaignSending, model.CampaignPaused, model.CampaignSent, model.CampaignCancelled:
	default:
		return nil, 0, apperr.FieldError("status", "status is draft, scheduled, sending, paused, sent or cancelled.")
	}
	return s.Store.Campaigns(ctx, status, before, perPage)
}

// Preview renders a campaign as one recipient would get it: a subscriber of
// its lists when subscriberID is not 0 (their name, their unsubscribe link),
// or sample data. No mail is sent and nothing is written.
// Codes: not_found, invalid (Field subscriber_id).
func (s *Service) Preview(ctx context.Context, id, subscriberID int64, unsubscribeURL func(subscriptionID int64) string) (subject, html, text string, err error) {
	c, err := s.Store.CampaignWithoutCounts(ctx, id)
	if err != nil {
		return "", "", "", err
	}
	src, err := s.layoutSource(ctx, c.Template)
	if err != nil {
		return "", "", "", err
	}
	cc, err := Compile(c, src, s.layoutFields())
	if err != nil {
		return "", "", "", err
	}
	f := sample
	if subscriberID != 0 {
		r, ok, err := s.Store.CampaignRecipientBySubscriber(ctx, id, subscriberID)
		if err != nil {
			return "", "", "", err
		}
		if !ok {
			return "", "", "", apperr.FieldError("subscriber_id", "This subscriber is not a confirmed subscriber of the campaign's lists.")
		}
		u := unsubscribeURL(r.SubscriptionID)
		f = Fields{Subscriber: SubscriberFields{Name: r.Name, Email: r.Email}, List: ListFields{Name: r.ListName}, UnsubscribeURL: u, PreferencesURL: u}
	}
	return cc.Render(f, s.layoutFields())
}

// PreviewDraft renders a draft that is not saved (the editor's live
// preview) with sample data, checked as at save. Nothing is written.
// Codes: invalid (with Field).
func (s *Service) PreviewDraft(ctx context.Context, d Draft) (subject, html, text string, err error) {
	if len(d.Lists) == 0 {
		d.Lists = []string{"-"} // lists do not change a preview
	}
	c, _, err := s.prepare(ctx, d)
	if err != nil && apperr.ErrorCode(err) == apperr.Invalid {
		if e, ok := apperr.As(err); ok && e.Field == "lists" {
			err = nil
		}
	}
	if err != nil {
		return "", "", "", err
	}
	if c.Template == "" {
		c = model.Campaign{Name: d.Name, Subject: d.Subject, From: d.From, ReplyTo: d.ReplyTo, Format: d.Format,
			Body: d.Body, TextBody: d.TextBody, Template: d.Template}
	}
	if c.From == "" {
		c.From = s.DefaultFrom
	}
	if c.Format == "" {
		c.Format = "markdown"
	}
	src, err := s.layoutSource(ctx, c.Template)
	if err != nil {
		return "", "", "", err
	}
	cc, err := Compile(c, src, s.layoutFields())
	if err != nil {
		return "", "", "", err
	}
	return cc.Render(sample, s.layoutFields())
}

// PreviewLayout renders a saved layout around a sample body with sample
// data. Codes: invalid (Field template: no such layout).
func (s *Service) PreviewLayout(ctx context.Context, name string) (html string, err error) {
	src, err := s.layoutSource(ctx, name)
	if err != nil {
		return "", err
	}
	c := model.Campaign{Name: "Sample", Subject: "A sample subject", From: s.DefaultFrom, Format: "markdown", Template: name,
		Body: "# A sample heading\n\nHello {{with .Subscriber.Name}}{{.}}{{else}}there{{end}}, this is what a campaign looks like in this layout: a paragraph, **bold** and *italic* text, [a link](https://example.com/) and a list:\n\n- one\n- two\n\nThank you for reading."}
	cc, err := Compile(c, src, s.layoutFields())
	if err != nil {
		return "", err
	}
	_, html, _, err = cc.Render(sample, s.layoutFields())
	return html, err
}

// Campaign returns a campaign with its counts. Codes: not_found.
func (s *Service) Campaign(ctx context.Context, id int64) (model.Campaign, error) {
	return s.Store.CampaignByID(ctx, id)
}

// Send starts a draft now, or schedules it when at is in the future (a time
// more than a minute past is refused). Codes: not_found, conflict, invalid (at).
func (s *Service) Send(ctx context.Context, id int64, at *time.Time) (model.Campaign, error) {
	if at != nil && at.Before(s.Store.Now().Add(-time.Minute)) {
		return model.Campaign{}, apperr.FieldError("at", "The send time "+at.UTC().Format(time.RFC3339)+" is in the past: give a later one, or none to send now.")
	}
	if at != nil && at.After(s.Store.Now()) {
		// The delivery sweeper starts it on time, also after a restart.
		c, err := s.Store.TransitionCampaign(ctx, id, []string{model.CampaignDraft, model.CampaignScheduled}, model.CampaignScheduled, at)
		c.Warnings = s.warnings()
		return c, err
	}
	c, err := s.Store.TransitionCampaign(ctx, id, []string{model.CampaignDraft, model.CampaignScheduled}, model.CampaignSending, nil)
	if err != nil {
		return c, err
	}
	s.start(ctx, c)
	c.Warnings = s.warnings()
	return c, nil
}

// NoPostalAddress warns that list mail goes out without the sender's postal
// address, which the law of many countries (CAN-SPAM, and the CNIL's guidance
// on identifying the sender) asks of marketing mail.
const NoPostalAddress = "ENVOI_POSTAL_ADDRESS is not set: this mail carries no postal address of the sender, which the law of many countries asks of marketing mail."

func (s *Service) warnings() []string {
	if strings.TrimSpace(s.PostalAddress) == "" {
		return []string{NoPostalAddress}
	}
	return nil
}

// Pause stops sending within a second; Resume goes on where it stopped.
// Codes: not_found, conflict.
func (s *Service) Pause(ctx context.Context, id int64) (model.Campaign, error) {
	return s.Store.TransitionCampaign(ctx, id, []string{model.CampaignSending}, model.CampaignPaused, nil)
}

// Resume continues a paused campaign. Codes: not_found, conflict.
func (s *Service) Resume(ctx context.Context, id int64) (model.Campaign, error) {
	c, err := s.Store.TransitionCampaign(ctx, id, []string{model.CampaignPaused}, model.CampaignSending, nil)
	if err != nil {
		return c, err
	}
	s.start(ctx, c)
	return c, nil
}

// Cancel stops a campaign for good; what was not sent is counted as skipped.
// Codes: not_found, conflict.
func (s *Service) Cancel(ctx context.Context, id int64) (model.Campaign, error) {
	return s.Store.TransitionCampaign(ctx, id, []string{model.CampaignDraft, model.CampaignScheduled, model.CampaignSending, model.CampaignPaused}, model.CampaignCancelled, nil)
}

// start hands a sending campaign's generation to delivery (the plan task).
// A failure is only logged: delivery's sweeper queues it again.
func (s *Service) start(ctx context.Context, c model.Campaign) {
	if err := s.Queue.EnqueueCampaignPlan(ctx, c.ID, c.Generation); err != nil {
		s.Log.Warn("enqueue campaign plan failed; the sweeper will retry", slog.Int64("campaign_id", c.ID), slog.Any("error", err))
	}
}

func (s *Service) layoutFields() LayoutFields {
	return LayoutFields{Org: s.Org, PostalAddress: s.PostalAddress}
}

// layoutSource returns a layout's html/template source: "default" ships in
// the binary, others are the marketers' own. Codes: invalid (Field template).
func (s *Service) layoutSource(ctx context.Context, name string) (string, error) {
	if name == "" || name == "default" {
		b, err := fs.ReadFile(s.Templates, "mail/campaign_default.html.tmpl")
		return string(b), err
	}
	l, err := s.Store.LayoutByName(ctx, name)
	if apperr.ErrorCode(err) == apperr.NotFound {
		return "", apperr.FieldError("template", fmt.Sprintf("There is no layout template %q.", name))
	}
	return l.HTML, err
}

// Audience counts who the campaign would be sent to now: the confirmed
// subscribers of its lists, each once. Codes: not_found.
func (s *Service) Audience(ctx context.Context, id int64) (int64, error) {
	if _, err := s.Store.CampaignWithoutCounts(ctx, id); err != nil {
		return 0, err
	}
	return s.Store.CountAudience(ctx, id)
}

// SaveLayout validates and stores a marketer's layout. Codes: invalid.
func (s *Service) SaveLayout(ctx context.Context, name, html string) (model.Layout, error) {
	if !lists.ValidSlug(name) || name == "default" {
		return model.Layout{}, apperr.FieldError("name", "A layout name is 1 to 63 lower-case letters, digits and hyphens, and not \"default\".")
	}
	if len(html) > 1<<20 {
		return model.Layout{}, apperr.FieldError("html", "The layout is larger than 1 MB.")
	}
	if err := CheckLayout(html); err != nil {
		return model.Layout{}, err
	}
	return s.Store.SaveLayout(ctx, name, html)
}

// Layouts lists the layouts by name: "default", which ships in the binary,
// first, then the marketers' own.
func (s *Service) Layouts(ctx context.Context) ([]model.Layout, error) {
	src, err := s.layoutSource(ctx, "default")
	if err != nil {
		return nil, err
	}
	ls, err := s.Store.Layouts(ctx)
	if err != nil {
		return nil, err
	}
	return append([]model.Layout{{Name: "default", HTML: src}}, ls...), nil
}

// Compiled returns a campaign ready to render per recipient, compiled once per
// process and campaign (a campaign does not change once it sends).
func (s *Service) Compiled(ctx context.Context, c model.Campaign) (*Compiled, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cc, ok := s.compiled[c.ID]; ok {
		return cc, nil
	}
	src, err := s.layoutSource(ctx, c.Template)
	if err != nil {
		return nil, err
	}
	// Links are rewritten once here, per campaign, and saved for the redirect.
	cc, err := CompileForSending(c, src, s.layoutFields(), s.ClickTracking && c.ClickTracking)
	if err != nil {
		return nil, err
	}
	if err := s.Store.SaveCampaignLinks(ctx, c.ID, cc.Links()); err != nil {
		return nil, err
	}
	if s.compiled == nil || len(s.compiled) > 100 {
		s.compiled = map[int64]*Compiled{}
	}
	s.compiled[c.ID] = cc
	return cc, nil
}

// TestCompiled compiles a campaign for a test send: "[Test] " before the subject.
// Codes: not_found, invalid.
func (s *Service) TestCompiled(ctx context.Context, id int64) (*Compiled, error) {
	c, err := s.Store.CampaignWithoutCounts(ctx, id)
	if err != nil {
		return nil, err
	}
	src, err := s.layoutSource(ctx, c.Template)
	if err != nil {
		return nil, err
	}
	c.Subject = "[Test] " + c.Subject
	return Compile(c, src, s.layoutFields())
}

// Links returns a sent campaign's rewritten links with their clicks (none
// before it sends, or without click tracking). Codes: not_found.
func (s *Service) Links(ctx context.Context, id int64) ([]model.CampaignLink, error) {
	if _, err := s.Store.CampaignWithoutCounts(ctx, id); err != nil {
		return nil, err
	}
	return s.Store.CampaignLinks(ctx, id)
}
