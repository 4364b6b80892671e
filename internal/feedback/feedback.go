// Package feedback applies the bounce policy: it maps each bounce.Event (from
// the inbound listener, a provider's webhook or a 5xx at send time) back to
// the subscriber and, where known, the campaign it concerns, and changes their
// state: a hard bounce suppresses at once; soft bounces suppress after
// SoftLimit of the last SoftWindow campaign sends; a complaint unsubscribes
// from everything and suppresses; mail to the mailto unsubscribe address
// unsubscribes from that list. Refusals that are the sender's problem
// (authentication, policy) never suppress: they are counted per campaign, and
// past PauseShare of its attempts the campaign pauses itself and says why.
package feedback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/bounce"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/store"
	"github.com/envoi/envoi/internal/subscribe"
	"github.com/envoi/envoi/internal/token"
)

// Defaults of the policy (ENVOI_BOUNCE_*).
const (
	DefaultSoftLimit  = 3
	DefaultSoftWindow = 5
	DefaultPauseShare = 0.05
	DefaultPauseMin   = 100
	// attributeWithin: a report naming only the recipient is counted for the
	// last campaign sent to them within this long.
	attributeWithin = 7 * 24 * time.Hour
)

// Service applies the policy. Safe for concurrent use.
type Service struct {
	Store     *store.Store
	Tokens    *token.Signer
	Subscribe *subscribe.Service
	// SoftLimit soft bounces in a subscriber's last SoftWindow campaign sends suppress them.
	SoftLimit, SoftWindow int
	// A campaign pauses when sender refusals pass PauseShare of its attempts,
	// once it made PauseMin (PauseShare 0: never).
	PauseShare float64
	PauseMin   int64
	Log        *slog.Logger
}

// Target is the message an event is about.
type Target struct {
	SubscriberID int64
	CampaignID   int64 // 0: a transactional message, or not known
}

// Result counts what Handle did.
type Result struct {
	Applied   int // events that changed or counted something
	Unmatched int // events that name nobody Envoi mailed, or carry a forged id
}

// Trust says how far an event's claims are believed.
type Trust uint8

const (
	// Signed: only a signed id in the event counts (its return path, its
	// unsubscribe token): mail anyone can send to the inbound listener.
	Signed Trust = iota
	// Authenticated: the whole event comes from a verified provider webhook, so
	// its recipient address alone is enough to find the subscriber.
	Authenticated
)

// Handle applies events. It returns an error only when storage failed: the
// caller answers so that the sender tries again later (451, HTTP 500), and
// applying the same event again changes nothing more.
func (s *Service) Handle(ctx context.Context, evs []bounce.Event, trust Trust) (Result, error) {
	var r Result
	for _, ev := range evs {
		t, ok, err := s.resolve(ctx, ev, trust)
		if err != nil {
			return r, err
		}
		if !ok {
			r.Unmatched++
			continue
		}
		if err := s.apply(ctx, t, ev); err != nil {
			return r, err
		}
		r.Applied++
	}
	return r, nil
}

// Record applies an event about a known message: a 5xx answered at send time.
func (s *Service) Record(ctx context.Context, t Target, ev bounce.Event) error {
	if t.SubscriberID == 0 {
		return nil
	}
	return s.apply(ctx, t, ev)
}

// ReturnPathID returns the signed part of a VERP address
// (bounces+{signed}@domain), "" for another address.
func ReturnPathID(addr string) string {
	local, _, ok := strings.Cut(strings.Trim(strings.TrimSpace(addr), "<>"), "@")
	if !ok || len(local) < len("bounces+")+1 || !strings.EqualFold(local[:len("bounces+")], "bounces+") {
		return ""
	}
	return local[len("bounces+"):]
}

func (s *Service) resolve(ctx context.Context, ev bounce.Event, trust Trust) (Target, bool, error) {
	if ev.Kind == bounce.Unsubscribe {
		return Target{}, ev.Unsubscribe != "", nil // the token is checked by the unsubscribe itself
	}
	if ev.ReturnPath != "" {
		kind, a, b, err := s.Tokens.VerifyAddress(ReturnPathID(ev.ReturnPath))
		if err != nil {
			return Target{}, false, nil // forged or altered: changes nothing
		}
		switch kind {
		case token.AddrCampaign:
			return Target{SubscriberID: b, CampaignID: a}, true, nil
		case token.AddrTransactional:
			sub, err := s.Store.SubscriberOfTransactional(ctx, a)
			if apperr.ErrorCode(err) == apperr.NotFound {
				return Target{}, false, nil // erased since
			}
			return Target{SubscriberID: sub}, err == nil, err
		}
		return Target{}, false, nil
	}
	var sub int64
	switch {
	case ev.Unsubscribe != "":
		c, err := s.Tokens.Verify(token.Unsubscribe, ev.Unsubscribe)
		if err != nil {
			return Target{}, false, nil
		}
		sub, err = s.Store.SubscriberOfSubscription(ctx, c.SubscriptionID)
		if apperr.ErrorCode(err) == apperr.NotFound {
			return Target{}, false, nil
		}
		if err != nil {
			return Target{}, false, err
		}
	case ev.Recipient != "" && trust == Authenticated:
		var err error
		if sub, err = s.Store.SubscriberIDByEmail(ctx, ev.Recipient); err != nil || sub == 0 {
			return Target{}, false, err
		}
	default:
		return Target{}, false, nil
	}
	c, err := s.Store.LatestCampaignSentTo(ctx, sub, s.Store.Now().Add(-attributeWithin))
	return Target{SubscriberID: sub, CampaignID: c}, err == nil, err
}

// consentSource is the consent log's source for a state change from src.
func consentSource(k bounce.Kind, src string) string {
	switch src {
	case bounce.SourceSES, bounce.SourcePostmark, bounce.SourceSendGrid, bounce.SourceMailgun:
		return "webhook"
	}
	if k == bounce.Complaint {
		return "complaint"
	}
	return "bounce"
}

func (s *Service) apply(ctx context.Context, t Target, ev bounce.Event) error {
	if ev.Kind == bounce.Unsubscribe {
		_, err := s.Subscribe.Unsubscribe(ctx, ev.Unsubscribe, bounce.SourceMailto, "", "")
		if errors.Is(err, subscribe.ErrBadLink) || apperr.ErrorCode(err) == apperr.BadRequest {
			return nil // a forged or erased token: nothing to do
		}
		return err
	}
	kind := ev.Kind.String()
	if ev.Kind != bounce.Hard && ev.Kind != bounce.Soft && ev.Kind != bounce.Sender && ev.Kind != bounce.Complaint {
		return nil
	}
	recorded, err := s.Store.RecordBounce(ctx, store.Bounce{SubscriberID: t.SubscriberID, CampaignID: t.CampaignID, Kind: kind,
		Source: ev.Source, Status: ev.Status, Diagnostic: bounce.Redact(ev.Diagnostic), EventID: ev.ID})
	if err != nil || !recorded {
		return err
	}
	detail := kind + " " + ev.Status + " via " + ev.Source
	if t.CampaignID != 0 {
		detail += fmt.Sprintf(", campaign %d", t.CampaignID)
	}
	consent := model.Consent{Source: consentSource(ev.Kind, ev.Source), Detail: strings.Join(strings.Fields(detail), " ")}
	switch ev.Kind {
	case bounce.Hard:
		return s.suppress(ctx, t, "hard_bounce", consent)
	case bounce.Soft:
		limit, window := s.SoftLimit, s.SoftWindow
		if limit <= 0 || window <= 0 {
			limit, window = DefaultSoftLimit, DefaultSoftWindow
		}
		n, err := s.Store.SoftBouncesInLastSends(ctx, t.SubscriberID, window)
		if err != nil || n < limit {
			return err
		}
		consent.Detail += fmt.Sprintf(" (%d soft bounces in the last %d sends)", n, window)
		return s.suppress(ctx, t, "soft_bounces", consent)
	case bounce.Complaint:
		err := s.Store.SuppressSubscriber(ctx, t.SubscriberID, "complaint", consent)
		if apperr.ErrorCode(err) == apperr.NotFound {
			return nil
		}
		if err == nil {
			s.Log.Info("complaint: subscriber unsubscribed from every list and suppressed",
				slog.Int64("subscriber_id", t.SubscriberID), slog.Int64("campaign_id", t.CampaignID), slog.String("source", ev.Source))
		}
		return err
	case bounce.Sender:
		return s.maybePause(ctx, t.CampaignID, ev)
	}
	return nil
}

func (s *Service) suppress(ctx context.Context, t Target, reason string, c model.Consent) error {
	changed, err := s.Store.SuppressBounced(ctx, t.SubscriberID, reason, c)
	if changed {
		s.Log.Info("bounce: subscriber suppressed", slog.Int64("subscriber_id", t.SubscriberID),
			slog.Int64("campaign_id", t.CampaignID), slog.String("reason", reason))
	}
	return err
}

// maybePause pauses the campaign when its sender refusals pass the threshold.
func (s *Service) maybePause(ctx context.Context, campaignID int64, ev bounce.Event) error {
	if campaignID == 0 || s.PauseShare <= 0 {
		return nil
	}
	counts, err := s.Store.CampaignCounts(ctx, campaignID)
	if err != nil {
		return err
	}
	attempts := counts.Sent + counts.Failed
	minAttempts := s.PauseMin
	if minAttempts <= 0 {
		minAttempts = DefaultPauseMin
	}
	if attempts < minAttempts || float64(counts.SenderRefusals) <= s.PauseShare*float64(attempts) {
		return nil
	}
	last := strings.TrimSpace(ev.Status + " " + bounce.Redact(ev.Diagnostic))
	reason := fmt.Sprintf("Paused by Envoi: %d of %d messages (%.1f%%) were refused because of the sender (authentication, policy or reputation; last: %s). "+
		"Check SPF, DKIM and DMARC with envoi doctor --domain YOUR-DOMAIN, fix what it says, then resume the campaign.",
		counts.SenderRefusals, attempts, 100*float64(counts.SenderRefusals)/float64(attempts), last)
	paused, err := s.Store.PauseCampaignFor(ctx, campaignID, reason)
	if paused {
		s.Log.Warn("campaign paused: too many refusals because of the sender", slog.Int64("campaign_id", campaignID),
			slog.Int64("sender_refusals", counts.SenderRefusals), slog.Int64("attempts", attempts), slog.String("last", last))
	}
	return err
}
