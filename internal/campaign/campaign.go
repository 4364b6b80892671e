// Package campaign owns campaigns: composing (validation, template compilation),
// the audience (confirmed subscriptions of the target lists, each address once),
// and sending: the audience is selected in keyset batches into a per-recipient
// delivery ledger, batches fan out as queue tasks, and each message is claimed
// in the ledger, with the subscriber's status read again, right before it goes out.
// It knows nothing of HTTP.
package campaign

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	netmail "net/mail"
	"regexp"
	"slices"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"
	"unicode/utf8"

	"github.com/envoi/envoi/internal/address"
	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/mail"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/queue"
	"github.com/envoi/envoi/internal/send"
	"github.com/envoi/envoi/internal/store"
)

// Defaults.
const (
	BatchSize = 500
	// StaleAfter: a delivery left "sending" this long belonged to a worker that
	// died mid-transaction (the SMTP timeout is 30 s); it is sent again.
	StaleAfter = time.Minute
	// sendWithin bounds the time from a claim to the end of its SMTP transaction.
	sendWithin = StaleAfter * 3 / 4
	// checkEvery bounds how long pause and cancel take to reach a running batch.
	checkEvery = 250 * time.Millisecond
	// maxAttempts: after this many temporary failures a delivery is failed.
	maxAttempts = 10
)

// Service composes and sends campaigns. Build it once; safe for concurrent use.
type Service struct {
	Store          *store.Store
	Queue          *queue.Client
	SMTP           *send.Pool
	Limiter        *send.RateLimiter
	Mail           *mail.Builder
	Templates      fs.FS
	DefaultFrom    string
	Org            string
	PostalAddress  string
	UnsubscribeURL func(subscriptionID int64) string
	// TestUnsubscribeURL stands in for the unsubscribe link in a test message to
	// an address that is not a confirmed subscriber of the campaign's lists.
	TestUnsubscribeURL string
	// TestAddresses may receive test sends without being subscribers
	// (ENVOI_TEST_ADDRESSES, normalized): the marketing team's own inboxes.
	TestAddresses []string
	Log           *slog.Logger

	mu       sync.Mutex
	compiled map[int64]*Compiled
	groups   *claimGroups
	states   stateCache
}

// stateCache shares the campaign status checks of all the senders of a process:
// one query per campaign per checkEvery/2 instead of one per sender.
type stateCache struct {
	mu sync.Mutex
	m  map[int64]cachedState
}

type cachedState struct {
	st model.CampaignState
	at time.Time
}

func (c *stateCache) get(ctx context.Context, st *store.Store, id int64) (model.CampaignState, error) {
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if ok && time.Since(e.at) < checkEvery/2 {
		return e.st, nil
	}
	state, err := st.CampaignStateByID(ctx, id)
	if err != nil {
		return state, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > 1000 {
		c.m = map[int64]cachedState{}
	}
	c.m[id] = cachedState{st: state, at: time.Now()}
	return state, nil
}

// claims returns the ledger's group-commit front, made on first use.
func (s *Service) claims() *claimGroups {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups == nil {
		s.groups = &claimGroups{store: s.Store, flushers: 2, maxGroup: 64, window: 3 * time.Millisecond}
	}
	return s.groups
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
}

// Create validates, compiles and stores a draft. Codes: invalid (with Field).
func (s *Service) Create(ctx context.Context, d Draft) (model.Campaign, error) {
	d.Name, d.Subject = strings.TrimSpace(d.Name), strings.TrimSpace(d.Subject)
	switch {
	case d.Name == "" || utf8.RuneCountInString(d.Name) > 200:
		return model.Campaign{}, apperr.FieldError("name", "Give the campaign a name of at most 200 characters.")
	case d.Subject == "" || utf8.RuneCountInString(d.Subject) > 500:
		return model.Campaign{}, apperr.FieldError("subject", "Give the campaign a subject of at most 500 characters.")
	case strings.TrimSpace(d.Body) == "":
		return model.Campaign{}, apperr.FieldError("body", "The body is empty.")
	case len(d.Body) > 1<<20:
		return model.Campaign{}, apperr.FieldError("body", "The body is larger than 1 MB.")
	case len(d.Lists) == 0:
		return model.Campaign{}, apperr.FieldError("lists", "Name at least one list by slug.")
	}
	if d.Format == "" {
		d.Format = "markdown"
	}
	if d.Format != "markdown" && d.Format != "html" {
		return model.Campaign{}, apperr.FieldError("format", "format is markdown or html.")
	}
	if d.From == "" {
		d.From = s.DefaultFrom
	}
	if d.Template == "" {
		d.Template = "default"
	}
	if d.ReplyTo != "" {
		if _, err := netmail.ParseAddress(d.ReplyTo); err != nil {
			return model.Campaign{}, apperr.FieldError("reply_to", "reply_to must be an email address.")
		}
	}
	var ids []int64
	for _, slug := range d.Lists {
		l, err := s.Store.ListBySlug(ctx, slug)
		if apperr.ErrorCode(err) == apperr.NotFound {
			return model.Campaign{}, apperr.FieldError("lists", "There is no list with the slug \""+slug+"\".")
		}
		if err != nil {
			return model.Campaign{}, err
		}
		ids = append(ids, l.ID)
	}
	c := model.Campaign{Name: d.Name, Subject: d.Subject, From: d.From, ReplyTo: d.ReplyTo, Format: d.Format,
		Body: d.Body, TextBody: d.TextBody, Template: d.Template}
	src, err := s.layoutSource(ctx, c.Template)
	if err != nil {
		return model.Campaign{}, err
	}
	if _, err := Compile(c, src, s.layoutFields()); err != nil {
		return model.Campaign{}, err
	}
	return s.Store.CreateCampaign(ctx, c, ids)
}

// Send starts a draft now, or schedules it when at is in the future.
// Codes: not_found, conflict.
func (s *Service) Send(ctx context.Context, id int64, at *time.Time) (model.Campaign, error) {
	if at != nil && at.After(s.Store.Now()) {
		c, err := s.Store.TransitionCampaign(ctx, id, []string{model.CampaignDraft, model.CampaignScheduled}, model.CampaignScheduled, at)
		if err != nil {
			return c, err
		}
		// The worker's sweeper starts it on time, also after a restart.
		return c, nil
	}
	c, err := s.Store.TransitionCampaign(ctx, id, []string{model.CampaignDraft, model.CampaignScheduled}, model.CampaignSending, nil)
	if err != nil {
		return c, err
	}
	s.kick(ctx, c.ID, c.Generation)
	return c, nil
}

// Pause stops sending within a second; Resume goes on where it stopped.
func (s *Service) Pause(ctx context.Context, id int64) (model.Campaign, error) {
	return s.Store.TransitionCampaign(ctx, id, []string{model.CampaignSending}, model.CampaignPaused, nil)
}

// Resume continues a paused campaign.
func (s *Service) Resume(ctx context.Context, id int64) (model.Campaign, error) {
	c, err := s.Store.TransitionCampaign(ctx, id, []string{model.CampaignPaused}, model.CampaignSending, nil)
	if err != nil {
		return c, err
	}
	s.kick(ctx, c.ID, c.Generation)
	return c, nil
}

// Cancel stops a campaign for good; what was not sent is counted as skipped.
func (s *Service) Cancel(ctx context.Context, id int64) (model.Campaign, error) {
	return s.Store.TransitionCampaign(ctx, id, []string{model.CampaignDraft, model.CampaignScheduled, model.CampaignSending, model.CampaignPaused}, model.CampaignCancelled, nil)
}

// kick queues the audience selection and every batch with work left. Failures
// are logged only: the sweeper queues them again.
func (s *Service) kick(ctx context.Context, id int64, gen int) {
	if err := s.Queue.EnqueueCampaignPlan(ctx, id, gen); err != nil {
		s.Log.Warn("enqueue campaign plan failed; the sweeper will retry", slog.Int64("campaign_id", id), slog.Any("error", err))
		return
	}
	batches, err := s.Store.PendingBatches(ctx, id)
	if err != nil {
		s.Log.Warn("list pending batches", slog.Int64("campaign_id", id), slog.Any("error", err))
		return
	}
	for _, b := range batches {
		if err := s.Queue.EnqueueCampaignBatch(ctx, id, gen, b); err != nil {
			s.Log.Warn("enqueue batch failed; the sweeper will retry", slog.Int64("campaign_id", id), slog.Any("error", err))
			return
		}
	}
}

// Plan selects the whole audience batch by batch, queueing each batch as soon as
// it is written. Memory stays flat: one batch of ids at a time.
func (s *Service) Plan(ctx context.Context, id int64, gen int) error {
	for {
		batch, _, done, err := s.Store.PlanBatch(ctx, id, BatchSize)
		if err != nil {
			return fmt.Errorf("plan campaign %d: %w", id, err)
		}
		if batch > 0 {
			if err := s.Queue.EnqueueCampaignBatch(ctx, id, gen, batch); err != nil {
				return fmt.Errorf("enqueue batch %d of campaign %d: %w", batch, id, err)
			}
		}
		if done || batch == 0 {
			_, err := s.Store.FinishCampaignIfDone(ctx, id)
			return err
		}
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

// SaveLayout validates and stores a marketer's layout. Codes: invalid.
func (s *Service) SaveLayout(ctx context.Context, name, html string) (model.Layout, error) {
	if !slugRE.MatchString(name) || name == "default" {
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

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func (s *Service) compile(ctx context.Context, c model.Campaign) (*Compiled, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cc, ok := s.compiled[c.ID]; ok {
		return cc, nil
	}
	src, err := s.layoutSource(ctx, c.Template)
	if err != nil {
		return nil, err
	}
	cc, err := Compile(c, src, s.layoutFields())
	if err != nil {
		return nil, err
	}
	if s.compiled == nil || len(s.compiled) > 100 {
		s.compiled = map[int64]*Compiled{}
	}
	s.compiled[c.ID] = cc
	return cc, nil
}

// ErrTemporary is returned by SendBatch when some messages met temporary SMTP
// failures; the queue retries the batch later with backoff.
var ErrTemporary = errors.New("temporary SMTP failures; batch will be retried")

// SendBatch sends the pending deliveries of one batch, one at a time, each
// claimed in the ledger (with the send-time status check) before its SMTP
// transaction and recorded after it. It stops within checkEvery when the
// campaign is paused or cancelled.
func (s *Service) SendBatch(ctx context.Context, id int64, gen, batch int) error {
	c, err := s.Store.CampaignWithoutCounts(ctx, id)
	if err != nil {
		return err
	}
	if c.Status != model.CampaignSending || c.Generation != gen {
		return nil // paused, cancelled, or a newer generation owns the work
	}
	cc, err := s.compile(ctx, c)
	if err != nil {
		return err
	}
	ids, err := s.Store.BatchPending(ctx, id, batch, s.Store.Now().Add(-StaleAfter))
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		if err := s.Store.BatchStarted(ctx, id, batch); err != nil {
			return err
		}
	}
	refs, err := s.Store.CampaignListRefs(ctx, id)
	if err != nil {
		return err
	}
	byID := make(map[int64]model.ListRef, len(refs))
	for _, l := range refs {
		byID[l.ID] = l
	}
	groups := s.claims()
	groups.join()
	defer groups.leave()
	temp := 0
	lastCheck := time.Now()
	var prev store.Outcome // recorded with the next claim, or flushed on the way out
	flush := func() error {
		if prev.SubscriberID == 0 {
			return nil
		}
		// Record even if ctx ended (shutdown): the message went out.
		err := s.Store.FinishDelivery(context.WithoutCancel(ctx), id, prev.SubscriberID, prev.Status, prev.Error)
		prev = store.Outcome{}
		return err
	}
	for _, sid := range ids {
		if time.Since(lastCheck) > checkEvery {
			st, err := s.states.get(ctx, s.Store, id)
			if err != nil {
				return errors.Join(err, flush())
			}
			if st.Status != model.CampaignSending || st.Generation != gen {
				return flush()
			}
			lastCheck = time.Now()
		}
		if err := s.Limiter.Wait(ctx); err != nil {
			return errors.Join(err, flush())
		}
		cl, err := groups.do(store.Claim{CampaignID: id, SubscriberID: sid, Prev: prev}, s.Store.Now().Add(-StaleAfter))
		if err != nil {
			return errors.Join(err, flush())
		}
		prev = store.Outcome{}
		if !cl.OK {
			continue
		}
		r := cl.Recipient
		r.ListSlug, r.ListName = byID[r.ListID].Slug, byID[r.ListID].Name
		status, errText := s.deliver(ctx, cc, r)
		if status == "queued" {
			temp++
		}
		prev = store.Outcome{SubscriberID: sid, Status: status, Error: errText}
	}
	if err := flush(); err != nil {
		return err
	}
	if temp > 0 {
		return fmt.Errorf("campaign %d batch %d: %d message(s): %w", id, batch, temp, ErrTemporary)
	}
	if err := s.Store.BatchDone(ctx, id, batch); err != nil {
		return err
	}
	_, err = s.Store.FinishCampaignIfDone(ctx, id)
	return err
}

// MaxTestRecipients bounds a test send.
const MaxTestRecipients = 10

// SendTest sends the campaign now, synchronously, to a few addresses, with
// "[Test] " before the subject. So that a test cannot become a way to mail
// people who did not opt in, each address must be a confirmed subscriber of a
// target list (it gets its real name and unsubscribe link) or one of
// TestAddresses (it gets a placeholder link to a page that says it was a test).
// Nothing is written to the delivery ledger. Codes: invalid, not_found.
func (s *Service) SendTest(ctx context.Context, id int64, emails []string) error {
	if len(emails) == 0 || len(emails) > MaxTestRecipients {
		return apperr.FieldError("emails", fmt.Sprintf("Give 1 to %d addresses.", MaxTestRecipients))
	}
	var norm []string
	for _, e := range emails {
		n, err := address.Normalize(e)
		if err != nil {
			return apperr.FieldError("emails", fmt.Sprintf("%q: %s", e, err.Error()))
		}
		norm = append(norm, n)
	}
	c, err := s.Store.CampaignWithoutCounts(ctx, id)
	if err != nil {
		return err
	}
	src, err := s.layoutSource(ctx, c.Template)
	if err != nil {
		return err
	}
	cc, err := Compile(c, src, s.layoutFields())
	if err != nil {
		return err
	}
	cc.Campaign.Subject = "[Test] " + cc.Campaign.Subject
	if cc.subject, err = texttemplate.New("subject").Option("missingkey=error").Parse(cc.Campaign.Subject); err != nil {
		return err
	}
	for _, e := range norm {
		r, ok, err := s.Store.CampaignRecipientByEmail(ctx, id, e)
		if err != nil {
			return err
		}
		unsub := s.TestUnsubscribeURL
		if ok {
			unsub = s.UnsubscribeURL(r.SubscriptionID)
		} else if slices.ContainsFunc(s.TestAddresses, func(a string) bool { return strings.EqualFold(a, e) }) {
			r = model.Recipient{Email: e, ListSlug: "test", ListName: strings.Join(c.Lists, ", ")}
		} else {
			return apperr.FieldError("emails", e+" is neither a confirmed subscriber of this campaign's lists nor in ENVOI_TEST_ADDRESSES.")
		}
		if status, errText := s.deliverWith(ctx, cc, r, unsub); status != "sent" {
			return apperr.New(apperr.Unavailable, "The test message to "+e+" was not accepted by the mail server: "+errText)
		}
	}
	return nil
}

// deliver renders and sends one message and says how to record it.
func (s *Service) deliver(ctx context.Context, cc *Compiled, r model.Recipient) (status, errText string) {
	return s.deliverWith(ctx, cc, r, s.UnsubscribeURL(r.SubscriptionID))
}

func (s *Service) deliverWith(ctx context.Context, cc *Compiled, r model.Recipient, unsub string) (status, errText string) {
	// The message was just claimed: it must be out, or given up, well before
	// another sender may take the claim for stale (StaleAfter), including any
	// wait for a free SMTP connection.
	ctx, cancel := context.WithTimeout(ctx, sendWithin)
	defer cancel()
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	subject, err := cc.renderEncoded(sc, Fields{
		Subscriber:     SubscriberFields{Name: r.Name, Email: r.Email},
		List:           ListFields{Name: r.ListName},
		UnsubscribeURL: unsub,
		PreferencesURL: unsub,
	}, s.layoutFields())
	if err != nil {
		return "failed", err.Error()
	}
	sc.msg.Reset()
	s.Mail.WriteList(&sc.msg, mail.ListParts{
		FromName: cc.From.Name, FromAddress: cc.From.Address, ReplyTo: cc.Campaign.ReplyTo,
		To: mail.Subscriber{Email: r.Email, Name: r.Name}, List: mail.List{Slug: r.ListSlug, Name: r.ListName},
		Subject: subject, Text: sc.text.Bytes(), HTML: sc.html.Bytes(), Encoded: true, UnsubscribeURL: unsub,
	})
	err = s.SMTP.SendBytes(ctx, cc.From.Address, []string{r.Email}, sc.msg.Bytes())
	var perm *send.PermError
	switch {
	case err == nil:
		return "sent", ""
	case errors.As(err, &perm):
		return "failed", err.Error()
	default:
		return "queued", err.Error()
	}
}

// Sweep starts scheduled campaigns that are due and re-queues the work of
// sending campaigns whose tasks may have been lost (Redis restarted). Task ids
// make re-queueing work that is still queued a no-op.
func (s *Service) Sweep(ctx context.Context) error {
	due, err := s.Store.StartDueCampaigns(ctx)
	if err != nil {
		return err
	}
	sending, err := s.Store.CampaignsByStatus(ctx, model.CampaignSending)
	if err != nil {
		return err
	}
	_ = due
	for _, id := range sending {
		st, err := s.Store.CampaignStateByID(ctx, id)
		if err != nil {
			return err
		}
		s.kick(ctx, id, st.Generation)
		if _, err := s.Store.FinishCampaignIfDone(ctx, id); err != nil {
			return err
		}
	}
	return nil
}
