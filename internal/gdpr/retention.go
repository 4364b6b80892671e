package gdpr

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/envoi/envoi/internal/store"
)

// Retention is what a retention pass did, or would do (a dry run), per rule.
type Retention struct {
	DryRun bool
	At     time.Time
	Policy store.Retention
	// Counts per rule: unconfirmed signups erased, stale pending subscriptions
	// deleted, re-permission mails asked, unanswered erased, unsubscribed reduced
	// to the suppression hash, consent events purged.
	Unconfirmed, StalePending, Repermission, Unanswered, Unsubscribed, ConsentPurged int64
	Took                                                                             time.Duration
}

// Print writes a pass's report as envoi retention shows it.
func (r Retention) Print(w io.Writer) {
	verb := func(done, would string) string {
		if r.DryRun {
			return would
		}
		return done
	}
	line := func(d time.Duration, n int64, what string) {
		if d <= 0 {
			fmt.Fprintf(w, "  off          %s\n", what)
			return
		}
		fmt.Fprintf(w, "  %-12d %s\n", n, what)
	}
	days := func(d time.Duration) string { return fmt.Sprintf("%d days", int(d.Hours()/24)) }
	p := r.Policy
	fmt.Fprintf(w, "retention %s at %s:\n", verb("pass", "dry run"), r.At.UTC().Format(time.RFC3339))
	line(p.Unconfirmed, r.Unconfirmed, verb("erased", "would be erased")+": signups not confirmed within "+days(p.Unconfirmed))
	line(p.Unconfirmed, r.StalePending, verb("deleted", "would be deleted")+": pending subscriptions older than "+days(p.Unconfirmed)+" of people on other lists")
	line(p.Inactive, r.Repermission, verb("asked", "would be asked")+" again (re-permission mail): no sign of life for "+days(p.Inactive))
	line(p.Inactive, r.Unanswered, verb("erased", "would be erased")+": asked again more than "+days(p.Grace)+" ago, no answer")
	line(p.Unsubscribed, r.Unsubscribed, verb("reduced", "would be reduced")+" to the suppression hash: left every list more than "+days(p.Unsubscribed)+" ago")
	line(p.ConsentProof, r.ConsentPurged, verb("purged", "would be purged")+": consent events older than "+days(p.ConsentProof)+" of people no longer here")
	if !r.DryRun {
		fmt.Fprintf(w, "took %v\n", r.Took.Round(time.Millisecond))
	}
}

// RunRetention applies the retention rules once (or, dryRun, only counts).
// Each rule works in batches of its own transactions, so a pass can stop
// anywhere and the next one goes on.
func (s *Service) RunRetention(ctx context.Context, p store.Retention, dryRun bool) (Retention, error) {
	start := time.Now()
	now := s.Store.Now()
	r := Retention{DryRun: dryRun, At: now, Policy: p}
	erase := func(rule string, cutoff time.Time, reason, suppress string, n *int64) error {
		if dryRun {
			c, err := s.Store.CountRetention(ctx, rule, cutoff)
			*n = c
			return err
		}
		// Two batches are erased at once (each mostly index upkeep, and they
		// wait for each other only on the consent chain's head, taken last).
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(2)
		var done atomic.Int64
		for after := int64(0); gctx.Err() == nil; {
			ids, err := s.Store.RetentionIDs(gctx, rule, cutoff, after, 1000)
			if err != nil {
				g.Wait()
				return err
			}
			if len(ids) == 0 {
				break
			}
			after = ids[len(ids)-1]
			g.Go(func() error {
				k, err := s.Store.EraseSubscribers(gctx, ids, "retention", "reason="+reason, suppress)
				done.Add(int64(k))
				return err
			})
		}
		err := g.Wait()
		*n += done.Load()
		return err
	}
	if p.Unconfirmed > 0 {
		cutoff := now.Add(-p.Unconfirmed)
		if err := erase("unconfirmed", cutoff, "unconfirmed", "", &r.Unconfirmed); err != nil {
			return r, fmt.Errorf("retention of unconfirmed signups: %w", err)
		}
		for after := int64(0); ; {
			ids, err := s.Store.RetentionIDs(ctx, "stale_pending", cutoff, after, 1000)
			if err != nil {
				return r, fmt.Errorf("retention of pending subscriptions: %w", err)
			}
			if dryRun || len(ids) == 0 {
				r.StalePending += int64(len(ids))
				if dryRun && len(ids) == 1000 {
					n, err := s.Store.CountRetention(ctx, "stale_pending", cutoff)
					r.StalePending = n
					if err != nil {
						return r, err
					}
				}
				break
			}
			after = ids[len(ids)-1]
			n, err := s.Store.DeleteSubscriptions(ctx, ids)
			r.StalePending += n
			if err != nil {
				return r, err
			}
		}
	}
	if p.Inactive > 0 {
		// The unanswered first: the people asked this pass have a grace to answer.
		if err := erase("unanswered", now.Add(-p.Grace), "inactive", "inactive", &r.Unanswered); err != nil {
			return r, fmt.Errorf("retention of unanswered re-permissions: %w", err)
		}
		cutoff := now.Add(-p.Inactive)
		if dryRun {
			n, err := s.Store.CountRetention(ctx, "inactive", cutoff)
			if err != nil {
				return r, err
			}
			r.Repermission = n
		} else {
			for after := int64(0); ; {
				ids, err := s.Store.RetentionIDs(ctx, "inactive", cutoff, after, 1000)
				if err != nil {
					return r, fmt.Errorf("retention of inactive subscribers: %w", err)
				}
				if len(ids) == 0 {
					break
				}
				after = ids[len(ids)-1]
				msgs, err := s.Store.AskRepermission(ctx, ids)
				if err != nil {
					return r, err
				}
				r.Repermission += int64(len(ids))
				s.Subscribe.Enqueue(ctx, msgs...)
			}
		}
	}
	if p.Unsubscribed > 0 {
		if err := erase("unsubscribed", now.Add(-p.Unsubscribed), "unsubscribed", "unsubscribed", &r.Unsubscribed); err != nil {
			return r, fmt.Errorf("retention of unsubscribed people: %w", err)
		}
	}
	if p.ConsentProof > 0 {
		upTo, n, err := s.Store.ConsentPurgeable(ctx, now.Add(-p.ConsentProof))
		if err != nil {
			return r, fmt.Errorf("retention of consent proofs: %w", err)
		}
		r.ConsentPurged = n
		if !dryRun && n > 0 {
			if r.ConsentPurged, err = s.Store.PurgeConsent(ctx, upTo); err != nil {
				return r, err
			}
		}
	}
	r.Took = time.Since(start)
	if !dryRun {
		s.Log.Info("retention pass", slog.Int64("unconfirmed_erased", r.Unconfirmed), slog.Int64("pending_deleted", r.StalePending),
			slog.Int64("repermission_asked", r.Repermission), slog.Int64("unanswered_erased", r.Unanswered),
			slog.Int64("unsubscribed_reduced", r.Unsubscribed), slog.Int64("consent_purged", r.ConsentPurged), slog.Duration("took", r.Took))
	}
	return r, nil
}

// RetentionLoop runs a retention pass every interval until ctx ends. Any
// number of workers may run it: a PostgreSQL advisory lock lets one pass run
// at a time, the others skip their turn.
func (s *Service) RetentionLoop(ctx context.Context, p store.Retention, every time.Duration) {
	if every <= 0 {
		return
	}
	// The first pass waits a little: a process that just started has other work.
	first := time.NewTimer(min(every, time.Minute))
	select {
	case <-ctx.Done():
		first.Stop()
		return
	case <-first.C:
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ran, err := s.Store.WithTryLock(ctx, retentionLock, func() error {
			_, err := s.RunRetention(ctx, p, false)
			return err
		})
		if err != nil && ctx.Err() == nil {
			s.Log.Error("retention pass", slog.Any("error", err))
		} else if !ran {
			s.Log.Debug("retention pass skipped: another process runs one")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// retentionLock is the advisory lock of retention passes.
const retentionLock = 727100002
