package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/feedback"
	"github.com/envoi/envoi/internal/mail"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/queue"
	"github.com/envoi/envoi/internal/store"
	"github.com/envoi/envoi/internal/token"
)

func (s *Service) runTransactionalClaims(ctx context.Context, reqs []store.TransactionalClaim) ([]store.TransactionalClaimed, error) {
	start := time.Now()
	defer func() { s.Metrics.Claim("transactional", time.Since(start)) }()
	return s.Store.ClaimTransactional(ctx, reqs, s.Store.Now().Add(-StaleAfter))
}

// SendTransactional sends one confirmation or welcome mail of the ledger: it
// claims the message (with the claims of every other sender of the process, in
// one statement), lets subscribe decide whether it is still due and build it,
// sends it over the pooled SMTP connections, and records the outcome (again
// grouped) before returning. No database connection or row lock is held during
// the SMTP transaction; a sender that dies leaves a claim that goes stale after
// StaleAfter, and the message is sent again then.
//
// It returns nil once the message is sent, skipped or was already done;
// ErrInFlight when another sender holds it; an error wrapping ErrTemporary to
// be retried; one wrapping ErrPermanent when it was refused for good.
func (s *Service) SendTransactional(ctx context.Context, id int64) error {
	s.init()
	s.tx.Join()
	defer s.tx.Leave()
	cl, err := s.tx.Do(store.TransactionalClaim{ID: id})
	if err != nil {
		return fmt.Errorf("claim message %d: %w", id, err)
	}
	if !cl.OK {
		m, err := s.Store.TransactionalMessageByID(ctx, id)
		switch {
		case apperr.ErrorCode(err) == apperr.NotFound:
			return nil // erased since it was queued
		case err != nil:
			return fmt.Errorf("message %d: %w", id, err)
		case m.Status == model.MessageQueued:
			return ErrInFlight
		}
		return nil // sent, skipped or failed already
	}
	o, sendErr := s.sendTransactional(ctx, cl)
	s.Metrics.Message("transactional", o.String())
	if _, err := s.tx.Do(store.TransactionalClaim{Prev: store.TransactionalOutcome{ID: id, Status: o.Status(), Error: errorText(sendErr)}}); err != nil {
		return fmt.Errorf("record message %d (%s): %w", id, o, err)
	}
	switch o {
	case Temporary:
		return fmt.Errorf("message %d: %w: %w", id, ErrTemporary, sendErr)
	case Permanent:
		return fmt.Errorf("message %d: %w: %w", id, ErrPermanent, sendErr)
	}
	return nil
}

// transactionalMail builds a ledger message; a change of address reads its
// request (the new address), which is gone once applied or replaced.
func (s *Service) transactionalMail(ctx context.Context, cl store.TransactionalClaimed) (mail.Message, bool, error) {
	if cl.Message.Kind != model.KindEmailChange {
		return s.Subscribe.TransactionalMail(cl.Message, cl.Subscription)
	}
	ch, err := s.Store.EmailChangeOfMessage(ctx, cl.Message.ID)
	if apperr.ErrorCode(err) == apperr.NotFound {
		return mail.Message{}, false, nil
	}
	if err != nil {
		return mail.Message{}, false, err
	}
	m, err := s.Subscribe.EmailChangeMail(cl.Subscription, ch)
	return m, true, err
}

func (s *Service) sendTransactional(ctx context.Context, cl store.TransactionalClaimed) (Outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, sendWithin)
	defer cancel()
	msg, due, err := s.transactionalMail(ctx, cl)
	switch {
	case err != nil:
		return Permanent, err
	case !due:
		return Skipped, nil
	}
	start := time.Now()
	err = s.SMTP.SendBytes(ctx, s.returnPath(msg.From, token.AddrTransactional, cl.Message.ID, 0), msg.To, msg.Raw)
	s.Metrics.SMTP("transactional", time.Since(start))
	o, who := OutcomeOf(err), fmt.Sprintf("subscriber %d", cl.Subscription.SubscriberID)
	s.refused(ctx, o, err, feedback.Target{SubscriberID: cl.Subscription.SubscriberID})
	err = redact(err, cl.Subscription.Email, who)
	for _, to := range msg.To { // a change of address goes to the new one
		err = redact(err, to, who)
	}
	return o, err
}

// SweepTransactional enqueues every message still queued after age: tasks lost
// with Redis, an enqueue that failed after its commit, or a claim left by a dead
// worker. A task still in Redis keeps its id, so enqueueing it again is a no-op.
// At most 1,000 a pass; the next pass takes the rest.
func (s *Service) SweepTransactional(ctx context.Context, age time.Duration) (int, error) {
	ids, err := s.Store.QueuedTransactional(ctx, s.Store.Now().Add(-age), 1000)
	if err != nil {
		return 0, err
	}
	for i, id := range ids {
		if err := s.Queue.EnqueueTransactional(ctx, id); err != nil {
			return i, err
		}
	}
	return len(ids), nil
}

// QueueHealth is the job queue's state. Codes: unavailable (Redis down).
func (s *Service) QueueHealth(ctx context.Context) (queue.Health, error) {
	if s.Inspector == nil {
		return queue.Health{}, apperr.New(apperr.Unavailable, "The job queue cannot be read.")
	}
	h, err := s.Inspector.Health()
	if err != nil {
		s.Log.Warn("queue health not read", slog.Any("error", err))
		return h, apperr.New(apperr.Unavailable, "The job queue cannot be read: is Redis up?")
	}
	return h, nil
}

// SendSystemTest sends the settings page's test message to to, now, over the
// campaign SMTP pool, and says what the relay answered. Codes: invalid (Field
// to), unavailable.
func (s *Service) SendSystemTest(ctx context.Context, to string) error {
	msg, err := s.Mail.Test(to)
	if err != nil {
		return apperr.FieldError("to", "Give an address like you@example.com.")
	}
	ctx, cancel := context.WithTimeout(ctx, sendWithin)
	defer cancel()
	if err := s.SMTP.SendBytes(ctx, msg.From, msg.To, msg.Raw); err != nil {
		return apperr.New(apperr.Unavailable, "The SMTP relay did not take the message: "+redact(err, to, "the test address").Error())
	}
	return nil
}
