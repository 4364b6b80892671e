package delivery

import (
	"context"
	"log/slog"
	"time"
)

// Sweep intervals (Sweeper's defaults).
const (
	// CampaignSweepEvery: scheduled campaigns start within this of their time.
	CampaignSweepEvery = 5 * time.Second
	// MessageSweepEvery and MessageSweepAge: a transactional message still
	// queued MessageSweepAge after it was written is queued again.
	MessageSweepEvery = 30 * time.Second
	MessageSweepAge   = time.Minute
)

// Sweeper runs the delivery sweeps on timers until its context ends. Zero
// fields take the defaults above.
type Sweeper struct {
	Delivery                                *Service
	CampaignEvery, MessageEvery, MessageAge time.Duration
}

// Run sweeps until ctx ends. Each sweep's errors are logged; the next one retries.
func (w *Sweeper) Run(ctx context.Context) {
	s := w.Delivery
	ce, me, age := w.CampaignEvery, w.MessageEvery, w.MessageAge
	if ce == 0 {
		ce = CampaignSweepEvery
	}
	if me == 0 {
		me = MessageSweepEvery
	}
	if age == 0 {
		age = MessageSweepAge
	}
	ct := time.NewTicker(ce)
	defer ct.Stop()
	mt := time.NewTicker(me)
	defer mt.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ct.C:
			if err := s.SweepCampaigns(ctx); err != nil && ctx.Err() == nil {
				s.Log.Warn("campaign sweep failed", slog.Any("error", err))
			}
		case <-mt.C:
			if _, err := s.Store.PruneConfirmClaims(ctx); err != nil && ctx.Err() == nil {
				s.Log.Warn("prune confirmation claims failed", slog.Any("error", err))
			}
			if n, err := s.SweepTransactional(ctx, age); err != nil && ctx.Err() == nil {
				s.Log.Warn("message sweep failed", slog.Any("error", err))
			} else if n > 0 {
				s.Log.Info("sweeper re-enqueued messages", slog.Int("count", n))
			}
		}
	}
}
