// Package delivery sends Envoi's mail and keeps its ledgers exact: it plans a
// campaign's audience in keyset batches, sends each batch with every message
// claimed in the ledger right before its SMTP transaction (re-checking the
// subscriber's and the campaign's status), sends transactional mail
// (confirmations, welcomes) the same way, and sweeps for work whose queue task
// was lost. Claims of all the senders of a process go to PostgreSQL together
// (group commit). One outcome vocabulary serves all mail: Sent, Temporary,
// Permanent, Skipped. It knows nothing of HTTP and of the queue's server.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/envoi/envoi/internal/bounce"
	"github.com/envoi/envoi/internal/campaign"
	"github.com/envoi/envoi/internal/feedback"
	"github.com/envoi/envoi/internal/groupcommit"
	"github.com/envoi/envoi/internal/mail"
	"github.com/envoi/envoi/internal/metrics"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/queue"
	"github.com/envoi/envoi/internal/send"
	"github.com/envoi/envoi/internal/store"
	"github.com/envoi/envoi/internal/subscribe"
	"github.com/envoi/envoi/internal/token"
	"github.com/envoi/envoi/internal/tracking"
)

// Defaults.
const (
	// BatchSize is the audience of one campaign batch task.
	BatchSize = 500
	// StaleAfter: a message claimed this long ago belonged to a worker that died
	// mid-transaction; it is claimed and sent again.
	StaleAfter = time.Minute
	// sendWithin bounds the time from a claim to the end of its SMTP
	// transaction, waiting for a free connection included, so a live sender's
	// claim is never taken for stale.
	sendWithin = StaleAfter * 3 / 4
	// checkEvery bounds how long pause and cancel take to reach a running batch.
	checkEvery = 250 * time.Millisecond
)

// Outcome is what became of one attempt to send a message, for campaign and
// transactional mail alike.
type Outcome uint8

// Outcomes.
const (
	Sent      Outcome = iota + 1 // the relay accepted it
	Temporary                    // 4xx or a broken connection: queued again, retried with backoff
	Permanent                    // 5xx, or a message that cannot be built: failed for good
	Skipped                      // no longer due (unsubscribed, already confirmed…): not sent
)

func (o Outcome) String() string {
	switch o {
	case Sent:
		return "sent"
	case Temporary:
		return "temporary"
	case Permanent:
		return "permanent"
	case Skipped:
		return "skipped"
	}
	return "unknown"
}

// Status is the ledger status an outcome leaves the message in.
func (o Outcome) Status() string {
	switch o {
	case Sent:
		return model.MessageSent
	case Permanent:
		return model.MessageFailed
	case Skipped:
		return model.MessageSkipped
	}
	return model.MessageQueued
}

// OutcomeOf classifies the error of an SMTP transaction.
func OutcomeOf(err error) Outcome {
	var perm *send.PermError
	switch {
	case err == nil:
		return Sent
	case errors.As(err, &perm):
		return Permanent
	}
	return Temporary
}

// redacted is an SMTP error with the recipient's address replaced by who they
// are in the ledger: relays echo the address in their replies ("550 5.1.1
// <ann@example.com>: unknown"), and the error goes to the ledger's error
// column, the log and the queue's task in Redis, none of which may hold an
// address (erasing a person deletes their rows, not every copy of a reply).
type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err } // errors.As still finds *send.PermError

// redact returns err with every spelling of the address (its case ignored)
// replaced by who, or nil for nil.
func redact(err error, email, who string) error {
	if err == nil || email == "" {
		return err
	}
	msg := err.Error()
	lower, e := strings.ToLower(msg), strings.ToLower(email)
	if !strings.Contains(lower, e) {
		return err
	}
	var b strings.Builder
	for {
		i := strings.Index(lower, e)
		if i < 0 {
			b.WriteString(msg)
			break
		}
		b.WriteString(msg[:i])
		b.WriteString(who)
		msg, lower = msg[i+len(e):], lower[i+len(e):]
	}
	return &redacted{msg: b.String(), err: err}
}

// returnPath is the envelope sender of a message: the signed VERP address when
// an inbound domain is configured, else from.
func (s *Service) returnPath(from string, kind byte, a, b int64) string {
	if s.InboundDomain == "" || s.Tokens == nil || a == 0 || (kind == token.AddrCampaign && b == 0) {
		return from
	}
	return "bounces+" + s.Tokens.SignAddress(kind, a, b) + "@" + s.InboundDomain
}

// refused applies the bounce policy to a 5xx the relay answered at send time
// (listmonk counts none of those): a hard bounce, a full mailbox, or a refusal
// because of the sender, told apart by its status code and words.
func (s *Service) refused(ctx context.Context, o Outcome, err error, t feedback.Target) {
	var re *send.ReplyError
	if o != Permanent || s.Feedback == nil || !errors.As(err, &re) {
		return
	}
	ev := bounce.Event{Kind: bounce.Classify(re.Code, "", re.Msg), Status: bounce.FindStatus(re.Msg),
		Diagnostic: bounce.Redact(fmt.Sprintf("%d %s", re.Code, re.Msg)), Source: bounce.SourceSMTP}
	if err := s.Feedback.Record(context.WithoutCancel(ctx), t, ev); err != nil {
		s.Log.Warn("recording a refusal at send time failed", slog.Int64("subscriber_id", t.SubscriberID),
			slog.Int64("campaign_id", t.CampaignID), slog.Any("error", err))
	}
}

// ErrInFlight: another sender holds the message right now; try again later.
var ErrInFlight = errors.New("message is being sent by another worker")

// ErrTemporary is returned when some messages met temporary failures; the
// queue retries the task later with backoff.
var ErrTemporary = errors.New("temporary SMTP failures; will be retried")

// ErrPermanent is returned for a transactional message refused for good; the
// queue does not retry it.
var ErrPermanent = errors.New("message refused for good")

// Service delivers all of Envoi's mail. Build it once; safe for concurrent use.
type Service struct {
	Store     *store.Store
	Queue     *queue.Client
	SMTP      *send.Pool
	Limiter   *send.RateLimiter
	Mail      *mail.Builder
	Campaigns *campaign.Service
	Subscribe *subscribe.Service
	// Tracking signs the click and open links of campaign mail; nil: none.
	Tracking *tracking.Service
	// TestUnsubscribeURL stands in for the unsubscribe link in a test message to
	// an address that is not a confirmed subscriber of the campaign's lists.
	TestUnsubscribeURL string
	// TestAddresses may receive test sends without being subscribers
	// (ENVOI_TEST_ADDRESSES, normalized): the marketing team's own inboxes.
	TestAddresses []string
	// Inspector reads the job queue's state (the admin dashboard); nil: unknown.
	Inspector *queue.Inspector
	Metrics   *metrics.Metrics // nil: none
	Log       *slog.Logger
	// InboundDomain (ENVOI_INBOUND_DOMAIN), when set, makes every message's
	// envelope sender bounces+{signed id}@InboundDomain (VERP, signed by Tokens)
	// so each bounce maps back to its message; "": the From address.
	InboundDomain string
	Tokens        *token.Signer
	// Feedback applies the bounce policy to a 5xx answered at send time; nil: not counted.
	Feedback *feedback.Service

	once   sync.Once
	claims *groupcommit.Group[store.Claim, store.Claimed]
	tx     *groupcommit.Group[store.TransactionalClaim, store.TransactionalClaimed]
	states stateCache
}

func (s *Service) init() {
	s.once.Do(func() {
		s.claims = groupcommit.New(s.runClaims)
		s.tx = groupcommit.New(s.runTransactionalClaims)
	})
}
