// Package gdpr carries out the data subject's rights and the controller's
// duties that are not the double opt-in itself: access and portability
// (export as JSON and CSV), erasure, restriction, the proof that the consent
// log was not altered. It knows nothing of HTTP.
package gdpr

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/auth"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/store"
	"github.com/envoi/envoi/internal/subscribe"
)

// Service runs the GDPR toolkit. Safe for concurrent use.
type Service struct {
	Store     *store.Store
	Subscribe *subscribe.Service
	Users     *auth.Users // the audit log
	Log       *slog.Logger
	// Controller is what the record of processing says about the organisation.
	Controller Controller
}

// Actor is who acts for the controller (an admin or an API key), for the audit log.
type Actor struct {
	UserID *int64 // an admin's account; nil for an API key
	Who    string // the admin's address, or "api key NAME"
	IP     string
	Source string // admin or api: the consent log's source
}

// audit records an action on a subscriber in the audit log, with its reason.
func (s *Service) audit(ctx context.Context, a Actor, action string, id int64, reason string) {
	target := "subscriber " + strconv.FormatInt(id, 10)
	if reason != "" {
		target += " (reason: " + reason + ")"
	}
	e := model.AuditEntry{UserID: a.UserID, UserEmail: a.Who, Action: action, Target: target}
	if a.IP != "" {
		e.IP = &a.IP
	}
	if err := s.Users.Record(context.WithoutCancel(ctx), e); err != nil {
		s.Log.Error("audit log", slog.String("action", action), slog.Any("error", err))
	}
}

// Export is everything held about one person.
type Export = store.SubscriberExport

// Formats of an export.
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
)

// CheckFormat says whether an export format is known. Codes: invalid (Field format).
func CheckFormat(f string) error {
	if f != FormatJSON && f != FormatCSV {
		return apperr.FieldError("format", "The format is json or csv.")
	}
	return nil
}

// Export gathers everything held about a subscriber (art. 15 and 20) for an
// admin or an API key, recorded in the audit log. Codes: not_found.
func (s *Service) Export(ctx context.Context, id int64, a Actor) (Export, error) {
	x, err := s.Store.ExportSubscriber(ctx, id)
	if err == nil {
		s.audit(ctx, a, "subscriber.export", id, "")
	}
	return x, err
}

// ExportByToken is Export for the holder of a preferences link.
// Codes: bad_request, not_found.
func (s *Service) ExportByToken(ctx context.Context, tok string) (Export, error) {
	id, err := s.Subscribe.PreferencesSubscriber(tok)
	if err != nil {
		return Export{}, err
	}
	x, err := s.Store.ExportSubscriber(ctx, id)
	if apperr.ErrorCode(err) == apperr.NotFound {
		return x, subscribe.ErrGone
	}
	return x, err
}

// WriteExport writes an export in a format (json or csv).
func WriteExport(w io.Writer, format string, x Export) error {
	if format == FormatJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(x)
	}
	return writeCSV(w, x)
}

// Encode writes an export as a downloadable file in a format (json or csv).
func Encode(format string, x Export) model.File {
	var b bytes.Buffer
	f := model.File{Name: "envoi-subscriber-" + strconv.FormatInt(x.Profile.ID, 10) + "." + format, ContentType: "application/json; charset=utf-8"}
	if format == FormatCSV {
		f.ContentType = "text/csv; charset=utf-8"
	}
	f.Err = WriteExport(&b, format, x)
	f.Body = b.Bytes()
	return f
}

// writeCSV writes an export as one table: section, item, field, value; one
// row per value, so that a spreadsheet opens it as it is.
func writeCSV(w io.Writer, x Export) error {
	cw := csv.NewWriter(w)
	row := func(section, item, field, value string) { cw.Write([]string{section, item, field, safeCell(value)}) }
	at := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	cw.Write([]string{"section", "item", "field", "value"})
	p := x.Profile
	row("profile", "", "id", strconv.FormatInt(p.ID, 10))
	row("profile", "", "email", p.Email)
	row("profile", "", "name", p.Name)
	row("profile", "", "created_at", at(&p.CreatedAt))
	row("profile", "", "last_activity_at", at(&p.LastActivityAt))
	row("profile", "", "suppressed_at", at(p.SuppressedAt))
	row("profile", "", "suppressed_reason", p.SuppressedReason)
	row("profile", "", "restricted_at", at(p.RestrictedAt))
	for _, k := range slices.Sorted(maps.Keys(p.Fields)) {
		row("profile", "field", k, p.Fields[k])
	}
	for _, sn := range x.Subscriptions {
		row("subscription", sn.List, "list_name", sn.ListName)
		row("subscription", sn.List, "status", sn.Status)
		row("subscription", sn.List, "created_at", at(&sn.CreatedAt))
		row("subscription", sn.List, "confirmed_at", at(sn.ConfirmedAt))
		row("subscription", sn.List, "unsubscribed_at", at(sn.UnsubscribedAt))
		row("subscription", sn.List, "tracking_consent_at", at(sn.TrackingConsentAt))
	}
	for i, e := range x.Consent {
		item := strconv.Itoa(i + 1)
		row("consent", item, "at", at(&e.At))
		row("consent", item, "list", e.ListSlug)
		row("consent", item, "action", e.Action)
		row("consent", item, "source", e.Source)
		if e.IP != nil {
			row("consent", item, "ip", *e.IP)
		}
		row("consent", item, "user_agent", e.UserAgent)
		row("consent", item, "text_version", e.TextVersion)
		if e.Text != nil {
			row("consent", item, "text", *e.Text)
		}
		if e.Detail != "" {
			row("consent", item, "detail", e.Detail)
		}
	}
	for _, c := range x.Campaigns {
		item := strconv.FormatInt(c.ID, 10)
		row("campaign", item, "name", c.Name)
		row("campaign", item, "subject", c.Subject)
		row("campaign", item, "status", c.Status)
		row("campaign", item, "at", at(&c.At))
	}
	for i, m := range x.Messages {
		item := strconv.Itoa(i + 1)
		row("message", item, "list", m.List)
		row("message", item, "kind", m.Kind)
		row("message", item, "status", m.Status)
		row("message", item, "created_at", at(&m.CreatedAt))
		row("message", item, "sent_at", at(m.SentAt))
	}
	for i, a := range x.Activity {
		item := strconv.Itoa(i + 1)
		row("activity", item, "campaign", strconv.FormatInt(a.CampaignID, 10))
		row("activity", item, "kind", a.Kind)
		if a.URL != nil {
			row("activity", item, "url", *a.URL)
		}
		row("activity", item, "at", at(&a.At))
	}
	for i, b := range x.Bounces {
		item := strconv.Itoa(i + 1)
		if b.CampaignID != nil {
			row("bounce", item, "campaign", strconv.FormatInt(*b.CampaignID, 10))
		}
		row("bounce", item, "kind", b.Kind)
		row("bounce", item, "source", b.Source)
		row("bounce", item, "status", b.Status)
		row("bounce", item, "diagnostic", b.Diagnostic)
		row("bounce", item, "at", at(&b.At))
	}
	cw.Flush()
	return cw.Error()
}

// safeCell keeps a spreadsheet from reading a value as a formula (CSV
// injection: a name typed as =HYPERLINK(…)).
func safeCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// Erasure reasons an admin may give (the audit log and the consent log keep it).
var eraseReasons = []string{"request", "objection", "inactive", "unconfirmed", "legal", "other"}

// Erase deletes a subscriber's personal data everywhere (art. 17) at an
// admin's or an API key's request; see store.EraseSubscriber. The reason goes
// to the consent log and the audit log. Codes: not_found, invalid (Field reason).
func (s *Service) Erase(ctx context.Context, id int64, reason string, a Actor) error {
	if reason == "" {
		reason = "request"
	}
	if !slices.Contains(eraseReasons, reason) {
		return apperr.FieldError("reason", "The reason is one of "+strings.Join(eraseReasons, ", ")+".")
	}
	if err := s.erase(ctx, id, a.Source, reason); err != nil {
		return err
	}
	s.audit(ctx, a, "subscriber.erase", id, reason)
	return nil
}

func (s *Service) erase(ctx context.Context, id int64, source, reason string) error {
	if err := s.Store.EraseSubscriber(ctx, id, source, "reason="+reason); err != nil {
		return err
	}
	s.Log.Info("subscriber erased", slog.Int64("subscriber", id), slog.String("source", source), slog.String("reason", reason))
	return nil
}

// ErrConfirmErase: the erasure form was sent without its confirming box.
var ErrConfirmErase = apperr.FieldError("confirm", "Tick the box to confirm that everything about you should be erased.")

// EraseByToken is the person's own erasure from their preferences page, after
// a confirming POST. Codes: bad_request, not_found, invalid (Field confirm).
func (s *Service) EraseByToken(ctx context.Context, tok string, confirmed bool) error {
	id, err := s.Subscribe.PreferencesSubscriber(tok)
	if err != nil {
		return err
	}
	if !confirmed {
		return ErrConfirmErase
	}
	err = s.erase(ctx, id, subscribe.SourcePreferences, "request")
	if apperr.ErrorCode(err) == apperr.NotFound {
		return subscribe.ErrGone
	}
	return err
}

// Grounds of a restriction (art. 18(1)): the person contests the data's
// accuracy, the processing is unlawful but they want the data kept, they need
// it for a legal claim, an objection is being examined; or simply asked.
var restrictReasons = []string{"request", "accuracy", "unlawful", "legal_claims", "objection"}

// Restrict turns the restriction of processing (art. 18) on or off: the data
// is kept, and nothing is mailed while it is on. Logged in the consent log and
// the audit log with the reason. Codes: not_found, invalid (Field reason).
func (s *Service) Restrict(ctx context.Context, id int64, on bool, reason string, a Actor) (model.Subscriber, error) {
	if reason == "" {
		reason = "request"
	}
	if on && !slices.Contains(restrictReasons, reason) {
		return model.Subscriber{}, apperr.FieldError("reason", "The reason is one of "+strings.Join(restrictReasons, ", ")+".")
	}
	if err := s.Store.RestrictSubscriber(ctx, id, on, model.Consent{Source: a.Source, Detail: "reason=" + reason}); err != nil {
		return model.Subscriber{}, err
	}
	action := "subscriber.unrestrict"
	if on {
		action = "subscriber.restrict"
	}
	s.audit(ctx, a, action, id, reason)
	return s.Store.SubscriberByID(ctx, id)
}

// VerifyConsent walks the consent log's hash chain (envoi consent verify).
func (s *Service) VerifyConsent(ctx context.Context) (store.ChainReport, error) {
	return s.Store.VerifyConsentChain(ctx)
}
