package subscribe

import (
	"context"
	"fmt"

	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/store"
)

// trackingText is the label of the optional tracking box of a list's form:
// its own purpose, apart from the newsletter's (CNIL deliberation 2026-042).
// "" for a list without open tracking, whose form shows no box.
func (s *Service) trackingText(l model.List) string {
	if !l.OpenTracking {
		return ""
	}
	if s.Locale != nil {
		return s.Locale.For(l.Language).T("consent.tracking", map[string]any{"List": l.Name, "Org": s.Org})
	}
	return fmt.Sprintf("Optional: %s may record when I open its messages and which links I follow. I can withdraw this at any time in my preferences.", s.Org)
}

// trackingRequest adds a ticked tracking box to a signup, for a list with
// open tracking: the text shown is kept by version, as the newsletter's.
func (s *Service) trackingRequest(ctx context.Context, l model.List, r Request, p *store.SignupParams) error {
	if !r.TrackingConsent || !l.OpenTracking {
		return nil
	}
	p.Tracking = true
	if r.Source != SourceForm {
		p.TrackingTextVersion = "api"
		return nil
	}
	v, err := s.consentVersion(ctx, s.trackingText(l))
	if err != nil {
		return fmt.Errorf("save tracking consent text: %w", err)
	}
	p.TrackingTextVersion = v
	return nil
}

// SetTracking gives (on) or withdraws the separate tracking consent of a
// subscriber on a list, logged in the consent log as tracking_consent or
// tracking_withdraw with c (Source "preferences" from the preferences page, say, with the IP and user
// agent of the request). A withdrawal takes effect at once, also for mail sent
// before it: no per-person open or click is recorded after it, and the next
// campaign carries no person-bound pixel. Repeating is harmless.
// Codes: not_found (no such subscription), conflict (giving it to an
// unconfirmed subscription).
func (s *Service) SetTracking(ctx context.Context, subscriberID, listID int64, on bool, c model.Consent) error {
	_, err := s.Store.SetTrackingConsent(ctx, subscriberID, listID, on, c)
	return err
}

// Tracking says whether a subscriber gave the separate tracking consent on a
// list (for the preferences page's checkbox). Codes: not_found.
func (s *Service) Tracking(ctx context.Context, subscriberID, listID int64) (bool, error) {
	return s.Store.TrackingConsent(ctx, subscriberID, listID)
}
