// Package tracking owns what Envoi measures of campaign mail, as the CNIL's
// deliberation 2026-042 on tracking pixels allows: the signed /r/{token} and
// /o/{token} links put in campaign mail, the redirect to a campaign's own links
// only (never an open redirect), aggregate counts of clicks per link and of
// opens per campaign, a subscriber's last activity on a click (never on an
// open), and per-person events only with the separate tracking consent. It
// knows nothing of HTTP and renders nothing.
package tracking

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/groupcommit"
	"github.com/envoi/envoi/internal/store"
	"github.com/envoi/envoi/internal/token"
)

// CountWithin bounds how long a click or an open waits for its count: a slow
// or failing database never holds the redirect longer.
const CountWithin = 2 * time.Second

// Service signs tracking links, resolves clicks and counts. Build it once; safe
// for concurrent use.
type Service struct {
	Store   *store.Store
	Tokens  *token.Signer
	BaseURL string
	Log     *slog.Logger

	once  sync.Once
	group *groupcommit.Group[store.TrackEvent, struct{}]
	mu    sync.RWMutex
	links map[linkKey]string // links of sent campaigns never change
}

type linkKey struct {
	campaign int64
	idx      int
}

func (s *Service) counter() *groupcommit.Group[store.TrackEvent, struct{}] {
	s.once.Do(func() {
		s.group = groupcommit.New(func(ctx context.Context, evs []store.TrackEvent) ([]struct{}, error) {
			ctx, cancel := context.WithTimeout(ctx, CountWithin)
			defer cancel()
			return s.Store.Track(ctx, evs)
		})
	})
	return s.group
}

// ClickPrefix is a message's prefix of its rewritten links: BaseURL/r/ and one
// token for the campaign and the recipient; each link appends .N (token.ClickToken).
func (s *Service) ClickPrefix(campaignID, subscriberID int64) string {
	return s.BaseURL + "/r/" + s.Tokens.SignCampaign(token.Click, campaignID, subscriberID)
}

// OpenURL is the URL of an open pixel: of a person (subscriberID, only for one
// with tracking consent) or of the campaign alone (subscriberID 0, aggregate).
func (s *Service) OpenURL(campaignID, subscriberID int64) string {
	return s.BaseURL + "/o/" + s.Tokens.SignCampaign(token.Open, campaignID, subscriberID)
}

// ErrNoLink: a click token that is not authentic, or names no link of its campaign.
var ErrNoLink = apperr.New(apperr.NotFound, "This link is not valid. It may have been cut off or changed: copy the whole link from the email.")

// Click resolves a /r/{token} to the link of the campaign it names and counts
// the click (aggregate per link, the subscriber's last activity, per person
// only with tracking consent). A count that fails is logged and the redirect
// goes on. Codes: not_found (ErrNoLink; nothing counted).
func (s *Service) Click(ctx context.Context, tok string) (string, error) {
	cid, sid, idx, err := s.Tokens.VerifyClick(tok)
	if err != nil {
		return "", ErrNoLink
	}
	u, err := s.linkURL(ctx, cid, idx)
	if err != nil {
		if apperr.ErrorCode(err) == apperr.NotFound {
			return "", ErrNoLink
		}
		return "", err
	}
	s.count(ctx, store.TrackEvent{CampaignID: cid, SubscriberID: sid, Link: idx})
	return u, nil
}

// Open counts a pixel fetch: in aggregate, and per person only when the token
// names one who still has tracking consent. Opens never count as activity
// (Apple Mail's privacy proxy fetches every pixel). Codes: not_found.
func (s *Service) Open(ctx context.Context, tok string) error {
	cid, sid, err := s.Tokens.VerifyCampaign(token.Open, tok)
	if err != nil {
		return apperr.New(apperr.NotFound, "There is no such image.")
	}
	s.count(ctx, store.TrackEvent{CampaignID: cid, SubscriberID: sid, Link: -1})
	return nil
}

func (s *Service) count(ctx context.Context, e store.TrackEvent) {
	g := s.counter()
	g.Join()
	defer g.Leave()
	if _, err := g.Do(e); err != nil && !errors.Is(err, context.Canceled) {
		s.Log.Warn("tracking count failed; the redirect went on", slog.Int64("campaign_id", e.CampaignID), slog.Any("error", err))
	}
}

func (s *Service) linkURL(ctx context.Context, cid int64, idx int) (string, error) {
	k := linkKey{cid, idx}
	s.mu.RLock()
	u, ok := s.links[k]
	s.mu.RUnlock()
	if ok {
		return u, nil
	}
	u, err := s.Store.CampaignLinkURL(ctx, cid, idx)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.links == nil || len(s.links) > 100_000 {
		s.links = map[linkKey]string{}
	}
	s.links[k] = u
	s.mu.Unlock()
	return u, nil
}
