package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/envoi/envoi/internal/address"
	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/campaign"
	"github.com/envoi/envoi/internal/feedback"
	"github.com/envoi/envoi/internal/mail"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/store"
	"github.com/envoi/envoi/internal/token"
)

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

func (s *Service) runClaims(ctx context.Context, claims []store.Claim) ([]store.Claimed, error) {
	start := time.Now()
	defer func() { s.Metrics.Claim("campaign", time.Since(start)) }()
	return s.Store.ClaimDeliveries(ctx, claims, s.Store.Now().Add(-StaleAfter))
}

// Plan selects a sending campaign's whole audience batch by batch, queueing
// each batch as soon as it is written, after re-queueing the batches already
// planned that still have work (a resume, or tasks lost with Redis). Memory
// stays flat: one batch of ids at a time.
func (s *Service) Plan(ctx context.Context, id int64, gen int) error {
	pending, err := s.Store.PendingBatches(ctx, id)
	if err != nil {
		return fmt.Errorf("pending batches of campaign %d: %w", id, err)
	}
	for _, b := range pending {
		if err := s.Queue.EnqueueCampaignBatch(ctx, id, gen, b); err != nil {
			return fmt.Errorf("enqueue batch %d of campaign %d: %w", b, id, err)
		}
	}
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

// SendBatch sends the pending deliveries of one batch, one at a time, each
// claimed in the ledger (with the send-time status check) before its SMTP
// transaction; its outcome is recorded with the next claim. It stops within
// checkEvery when the campaign is paused or cancelled. It returns ErrTemporary
// (wrapped) when some messages are to be retried.
func (s *Service) SendBatch(ctx context.Context, id int64, gen, batch int) error {
	s.init()
	c, err := s.Store.CampaignWithoutCounts(ctx, id)
	if err != nil {
		return err
	}
	if c.Status != model.CampaignSending || c.Generation != gen {
		return nil // paused, cancelled, or a newer generation owns the work
	}
	cc, err := s.Campaigns.Compiled(ctx, c)
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
	aggregate := "" // the campaign's anonymous open pixel, signed once per batch
	for _, l := range refs {
		byID[l.ID] = l
		if l.OpenTracking && s.Tracking != nil && aggregate == "" {
			aggregate = s.Tracking.OpenURL(id, 0)
		}
	}
	clicks := s.Tracking != nil && len(cc.Links()) > 0
	s.claims.Join()
	defer s.claims.Leave()
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
		cl, err := s.claims.Do(store.Claim{CampaignID: id, SubscriberID: sid, Prev: prev})
		if err != nil {
			return errors.Join(err, flush())
		}
		prev = store.Outcome{}
		if !cl.OK {
			continue
		}
		r := cl.Recipient
		r.ListSlug, r.ListName = byID[r.ListID].Slug, byID[r.ListID].Name
		// Tracking as the CNIL allows it: one click token per message (list
		// hygiene: a click is activity); a pixel only from a list with open
		// tracking, naming the person only with their tracking consent.
		var t tracked
		if clicks {
			t.click = s.Tracking.ClickPrefix(id, r.SubscriberID)
		}
		if byID[r.ListID].OpenTracking {
			t.pixel = aggregate
			if r.TrackingConsent {
				t.pixel = s.Tracking.OpenURL(id, r.SubscriberID)
			}
		}
		o, sendErr := s.deliver(ctx, cc, r, s.Subscribe.UnsubscribeURL(r.SubscriptionID), t)
		s.Metrics.Message("campaign", o.String())
		if o == Permanent {
			s.refused(ctx, o, sendErr, feedback.Target{SubscriberID: sid, CampaignID: id})
		}
		if o == Temporary {
			temp++
		}
		prev = store.Outcome{SubscriberID: sid, Status: o.Status(), Error: errorText(sendErr)}
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

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// MaxTestRecipients bounds a test send.
const MaxTestRecipients = 10

// SendTest sends the campaign now, synchronously, to a few addresses, with
// "[Test] " before the subject. So that a test cannot become a way to mail
// people who did not opt in, each address must be a confirmed subscriber of a
// target list (it gets its real name and unsubscribe link) or one of
// TestAddresses (it gets a placeholder link to a page that says it was a test).
// Nothing is written to the delivery ledger. Codes: invalid, not_found, unavailable.
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
	cc, err := s.Campaigns.TestCompiled(ctx, id)
	if err != nil {
		return err
	}
	for _, e := range norm {
		r, ok, err := s.Store.CampaignRecipientByEmail(ctx, id, e)
		if err != nil {
			return err
		}
		unsub := s.TestUnsubscribeURL
		if ok {
			unsub = s.Subscribe.UnsubscribeURL(r.SubscriptionID)
		} else if slices.ContainsFunc(s.TestAddresses, func(a string) bool { return strings.EqualFold(a, e) }) {
			r = model.Recipient{Email: e, ListSlug: "test", ListName: strings.Join(cc.Campaign.Lists, ", ")}
		} else {
			return apperr.FieldError("emails", e+" is neither a confirmed subscriber of this campaign's lists nor in ENVOI_TEST_ADDRESSES.")
		}
		if o, err := s.deliver(ctx, cc, r, unsub, tracked{}); o != Sent {
			return apperr.New(apperr.Unavailable, "The test message to "+e+" was not accepted by the mail server: "+errorText(err))
		}
	}
	return nil
}

// tracked are a message's click prefix and open pixel URL ("" for none).
type tracked struct{ click, pixel string }

// deliver renders and sends one campaign message.
func (s *Service) deliver(ctx context.Context, cc *campaign.Compiled, r model.Recipient, unsub string, t tracked) (Outcome, error) {
	prefs := s.TestUnsubscribeURL
	if r.SubscriberID > 0 {
		prefs = s.Subscribe.PreferencesURL(r.SubscriberID)
	}
	// The message was just claimed: it must be out, or given up, well before
	// another sender may take the claim for stale (StaleAfter), including any
	// wait for a free SMTP connection.
	ctx, cancel := context.WithTimeout(ctx, sendWithin)
	defer cancel()
	sc := campaign.GetScratch()
	defer campaign.PutScratch(sc)
	subject, err := cc.RenderEncoded(sc, campaign.Fields{
		Subscriber:     campaign.SubscriberFields{Name: r.Name, Email: r.Email},
		List:           campaign.ListFields{Name: r.ListName},
		UnsubscribeURL: unsub,
		PreferencesURL: prefs,
		Click:          t.click,
		OpenPixel:      t.pixel,
	})
	if err != nil {
		return Permanent, err
	}
	msg := sc.Msg()
	msg.Reset()
	s.Mail.WriteList(msg, mail.ListParts{
		FromName: cc.From.Name, FromAddress: cc.From.Address, ReplyTo: cc.Campaign.ReplyTo,
		To: mail.Subscriber{Email: r.Email, Name: r.Name}, List: mail.List{Slug: r.ListSlug, Name: r.ListName},
		Subject: subject, Text: sc.Text(), HTML: sc.HTML(), Encoded: true, UnsubscribeURL: unsub,
		FeedbackID: feedbackID(cc.Campaign.ID, r.ListSlug, cc.From.Address),
	})
	start := time.Now()
	err = s.SMTP.SendBytes(ctx, s.returnPath(cc.From.Address, token.AddrCampaign, cc.Campaign.ID, r.SubscriberID), []string{r.Email}, msg.Bytes())
	s.Metrics.SMTP("campaign", time.Since(start))
	who := "the test recipient"
	if r.SubscriberID != 0 {
		who = fmt.Sprintf("subscriber %d", r.SubscriberID)
	}
	return OutcomeOf(err), redact(err, r.Email, who)
}

// SweepCampaigns starts scheduled campaigns that are due and re-queues the
// work of sending campaigns whose tasks may have been lost (Redis restarted).
// Task ids make re-queueing work that is still queued a no-op.
func (s *Service) SweepCampaigns(ctx context.Context) error {
	if _, err := s.Store.StartDueCampaigns(ctx); err != nil {
		return err
	}
	sending, err := s.Store.CampaignsByStatus(ctx, model.CampaignSending)
	if err != nil {
		return err
	}
	for _, id := range sending {
		st, err := s.Store.CampaignStateByID(ctx, id)
		if err != nil {
			return err
		}
		if err := s.Queue.EnqueueCampaignPlan(ctx, id, st.Generation); err != nil {
			s.Log.Warn("enqueue campaign plan failed; the next sweep retries", slog.Int64("campaign_id", id), slog.Any("error", err))
			continue
		}
		if _, err := s.Store.FinishCampaignIfDone(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// feedbackID is a campaign message's Feedback-ID (Gmail's feedback loop:
// campaign, customer, mail type, then the sender's own id, here the From
// domain), so complaint rates come back per campaign and list.
func feedbackID(campaign int64, list, from string) string {
	domain := from[strings.LastIndexByte(from, '@')+1:]
	return "c" + strconv.FormatInt(campaign, 10) + ":" + list + ":newsletter:" + domain
}
