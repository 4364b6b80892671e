// Package jobs runs Envoi's background work: asynq handlers that decode a task,
// call one delivery (or imports) method and return its outcome to the queue (retry or not).
// It holds no rules and no SQL; the sweeper that re-queues lost work is
// delivery's.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/envoi/envoi/internal/delivery"
	"github.com/envoi/envoi/internal/imports"
	"github.com/envoi/envoi/internal/queue"
	"github.com/envoi/envoi/internal/requestid"
)

// Worker processes tasks from one queue. Several may run against the same Redis.
type Worker struct {
	Delivery    *delivery.Service
	Imports     *imports.Service // nil: import tasks are not handled here
	Queue       string
	Log         *slog.Logger
	Concurrency int

	srv *asynq.Server
}

// Start starts processing; it returns once the worker is running.
func (w *Worker) Start(opt asynq.RedisConnOpt) error {
	w.srv = asynq.NewServer(opt, asynq.Config{
		Concurrency:       w.Concurrency,
		Queues:            map[string]int{w.Queue: 1},
		ShutdownTimeout:   25 * time.Second,
		TaskCheckInterval: 200 * time.Millisecond, // an idle queue is polled this often: mail latency
		RetryDelayFunc:    retryDelay,
		Logger:            asynqLogger{w.Log},
		LogLevel:          asynq.WarnLevel,
		IsFailure:         func(err error) bool { return !errors.Is(err, delivery.ErrInFlight) },
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			var p struct {
				RequestID string `json:"request_id"`
			}
			json.Unmarshal(t.Payload(), &p)
			w.Log.Warn("task failed", slog.String("type", t.Type()), slog.String("request_id", p.RequestID), slog.Any("error", err))
		}),
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.TypeTransactional, w.handleTransactional)
	mux.HandleFunc(queue.TypeCampaignPlan, w.handleCampaign)
	mux.HandleFunc(queue.TypeCampaignBatch, w.handleCampaign)
	if w.Imports != nil {
		mux.HandleFunc(queue.TypeImport, w.handleImport)
	}
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
	if errors.Is(err, delivery.ErrInFlight) {
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
	ctx = requestid.With(ctx, p.RequestID)
	var err error
	if t.Type() == queue.TypeCampaignPlan {
		err = w.Delivery.Plan(ctx, p.CampaignID, p.Generation)
	} else {
		err = w.Delivery.SendBatch(ctx, p.CampaignID, p.Generation, p.Batch)
	}
	w.Log.Debug("task done", slog.String("type", t.Type()), slog.Int64("campaign_id", p.CampaignID), slog.Int("batch", p.Batch),
		slog.String("request_id", p.RequestID), slog.Bool("ok", err == nil))
	return err
}

func (w *Worker) handleTransactional(ctx context.Context, t *asynq.Task) error {
	var p queue.TransactionalPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.MessageID <= 0 {
		return fmt.Errorf("bad payload %q: %w", t.Payload(), asynq.SkipRetry)
	}
	ctx = requestid.With(ctx, p.RequestID)
	err := w.Delivery.SendTransactional(ctx, p.MessageID)
	if errors.Is(err, delivery.ErrPermanent) {
		w.Log.Warn("message refused for good", slog.Int64("message_id", p.MessageID), slog.String("request_id", p.RequestID), slog.Any("error", err))
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	w.Log.Debug("task done", slog.String("type", t.Type()), slog.Int64("message_id", p.MessageID),
		slog.String("request_id", p.RequestID), slog.Bool("ok", err == nil))
	return err
}

// handleImport runs a staged import to its end; interrupted (shutdown, a
// lost database), the retry goes on from its last committed chunk.
func (w *Worker) handleImport(ctx context.Context, t *asynq.Task) error {
	var p queue.ImportPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.ImportID <= 0 {
		return fmt.Errorf("bad payload %q: %w", t.Payload(), asynq.SkipRetry)
	}
	ctx = requestid.With(ctx, p.RequestID)
	im, err := w.Imports.Run(ctx, p.ImportID, nil)
	w.Log.Debug("task done", slog.String("type", t.Type()), slog.Int64("import_id", p.ImportID), slog.String("state", im.State),
		slog.String("request_id", p.RequestID), slog.Bool("ok", err == nil))
	return err
}

type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }
