// Package jobs runs Envoi's background work: it decodes queued tasks, calls the
// domain, and returns. It also sweeps the PostgreSQL ledger for messages whose
// task was lost (Redis restarted, enqueue failed) and queues them again.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	gomail "github.com/wneessen/go-mail"

	"github.com/envoi/envoi/internal/campaign"
	"github.com/envoi/envoi/internal/mail"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/queue"
	"github.com/envoi/envoi/internal/send"
	"github.com/envoi/envoi/internal/store"
	"github.com/envoi/envoi/internal/subscribe"
)

// Worker processes tasks from one queue. Several may run against the same Redis.
type Worker struct {
	Store       *store.Store
	Subscribe   *subscribe.Service
	Mail        *mail.Builder
	SMTP        *send.Pool
	Queue       *queue.Client
	Campaigns   *campaign.Service
	Log         *slog.Logger
	Concurrency int
	// SweepEvery and SweepAge tune the ledger sweeper (defaults 30s and 1m).
	SweepEvery, SweepAge time.Duration

	srv *asynq.Server
}

// Start starts processing; it returns once the worker is running.
func (w *Worker) Start(opt asynq.RedisConnOpt) error {
	w.srv = asynq.NewServer(opt, asynq.Config{
		Concurrency:       w.Concurrency,
		Queues:            map[string]int{w.Queue.Queue: 1},
		ShutdownTimeout:   25 * time.Second,
		TaskCheckInterval: 200 * time.Millisecond, // an idle queue is polled this often: mail latency
		RetryDelayFunc:    retryDelay,
		Logger:            asynqLogger{w.Log},
		LogLevel:          asynq.WarnLevel,
		IsFailure:         func(err error) bool { return !errors.Is(err, store.ErrInFlight) },
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			w.Log.Warn("task failed", slog.String("type", t.Type()), slog.Any("error", err))
		}),
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.TypeTransactional, w.handleTransactional)
	mux.HandleFunc(queue.TypeCampaignPlan, w.handleCampaign)
	mux.HandleFunc(queue.TypeCampaignBatch, w.handleCampaign)
	return w.srv.Start(mux)
}

// Shutdown stops taking tasks and waits for running ones (up to 25 s), handing
// unfinished ones back to the queue.
func (w *Worker) Shutdown() {
	if w.srv != nil {
		w.srv.Shutdown()
	}
}

// retryDelay backs off exponentially from 2 s to 10 minutes; a task that found its
// message in flight elsewhere retries in 5 s.
func retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	if errors.Is(err, store.ErrInFlight) {
		return 5 * time.Second
	}
	d := 2 * time.Second << min(n, 9)
	return min(d, 10*time.Minute)
}

func (w *Worker) handleCampaign(ctx context.Context, t *asynq.Task) error {
	var p queue.CampaignPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.CampaignID <= 0 {
		return fmt.Errorf("bad payload %q: %w", t.Payload(), asynq.SkipRetry)
	}
	if t.Type() == queue.TypeCampaignPlan {
		return w.Campaigns.Plan(ctx, p.CampaignID, p.Generation)
	}
	return w.Campaigns.SendBatch(ctx, p.CampaignID, p.Generation, p.Batch)
}

func (w *Worker) handleTransactional(ctx context.Context, t *asynq.Task) error {
	var p queue.TransactionalPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.MessageID <= 0 {
		return fmt.Errorf("bad payload %q: %w", t.Payload(), asynq.SkipRetry)
	}
	err := w.Store.DeliverTransactional(ctx, p.MessageID, func(m model.TransactionalMessage, sub model.Subscription) error {
		msg, err := w.build(m, sub)
		if err != nil {
			return err
		}
		err = w.SMTP.Send(ctx, msg)
		var perm *send.PermError
		if errors.As(err, &perm) {
			return &store.PermanentError{Err: err}
		}
		return err
	})
	var perm *store.PermanentError
	switch {
	case errors.As(err, &perm):
		w.Log.Warn("message refused for good", slog.Int64("message_id", p.MessageID), slog.Any("error", err))
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	case errors.Is(err, store.ErrInFlight):
		return err
	case err != nil:
		return fmt.Errorf("message %d: %w", p.MessageID, err)
	}
	return nil
}

// build renders a ledger message, or returns store.ErrSkip when it is no longer
// due: a confirmation for a confirmed subscription, a welcome for one that left.
func (w *Worker) build(m model.TransactionalMessage, sub model.Subscription) (*gomail.Msg, error) {
	to := mail.Subscriber{Email: sub.Email, Name: sub.Name}
	l := mail.List{Slug: sub.ListSlug, Name: sub.ListName, WelcomeSubject: sub.WelcomeSubject, WelcomeBody: sub.WelcomeBody}
	switch m.Kind {
	case "confirm":
		if sub.Status == model.StatusConfirmed {
			return nil, store.ErrSkip
		}
		u, exp := w.Subscribe.ConfirmURL(sub.ID)
		return w.Mail.Confirm(to, l, u, exp)
	case "welcome":
		if sub.Status != model.StatusConfirmed {
			return nil, store.ErrSkip
		}
		return w.Mail.Welcome(to, l, w.Subscribe.UnsubscribeURL(sub.ID))
	}
	return nil, &store.PermanentError{Err: fmt.Errorf("unknown message kind %q", m.Kind)}
}

// Sweep enqueues ledger messages still queued after SweepAge, until ctx ends.
func (w *Worker) Sweep(ctx context.Context) {
	every, age := w.SweepEvery, w.SweepAge
	if every == 0 {
		every = 30 * time.Second
	}
	if age == 0 {
		age = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	ct := time.NewTicker(5 * time.Second) // scheduled campaigns start within 5 s of their time
	defer ct.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ct.C:
			if w.Campaigns != nil {
				if err := w.Campaigns.Sweep(ctx); err != nil {
					w.Log.Warn("campaign sweep failed", slog.Any("error", err))
				}
			}
			continue
		case <-t.C:
		}
		if n, err := w.SweepOnce(ctx, age); err != nil {
			w.Log.Warn("sweep failed", slog.Any("error", err))
		} else if n > 0 {
			w.Log.Info("sweeper re-enqueued messages", slog.Int("count", n))
		}
	}
}

// SweepOnce enqueues every message queued for longer than age. A task still in
// Redis keeps its id, so enqueueing it again is a no-op.
func (w *Worker) SweepOnce(ctx context.Context, age time.Duration) (int, error) {
	// At most 1,000 a pass; the next tick takes the rest.
	ids, err := w.Store.QueuedTransactional(ctx, w.Store.Now().Add(-age), 1000)
	if err != nil {
		return 0, err
	}
	for i, id := range ids {
		if err := w.Queue.EnqueueTransactional(ctx, id); err != nil {
			return i, err
		}
	}
	return len(ids), nil
}

type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }
