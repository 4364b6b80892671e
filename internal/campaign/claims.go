package campaign

import (
	"context"
	"sync"
	"time"

	"github.com/envoi/envoi/internal/store"
)

// claimGroups is group commit for the delivery ledger: every sender (one per
// worker slot) still claims its next message, with its previous outcome, before
// each SMTP transaction, but the claims of all senders that are waiting at the
// same moment go to PostgreSQL as one statement and one commit. Nothing is
// batched ahead of time, so each sender still has at most one message in flight:
// the exactly-once semantics are those of one statement per message, at a
// fraction of PostgreSQL's CPU.
type claimGroups struct {
	store *store.Store
	// flushers bounds the statements in progress at once.
	flushers int
	maxGroup int
	// window is how long a claim may wait for others to join its group, unless
	// every sender is already waiting.
	window time.Duration

	mu      sync.Mutex
	pending []*claimCall
	active  int
	senders int
}

type claimCall struct {
	claim store.Claim
	stale time.Time
	at    time.Time
	res   store.Claimed
	err   error
	done  chan struct{}
}

// join and leave count the senders that may claim, so that a group is not held
// back waiting for senders that do not exist.
func (g *claimGroups) join() {
	g.mu.Lock()
	g.senders++
	g.mu.Unlock()
}

func (g *claimGroups) leave() {
	g.mu.Lock()
	g.senders--
	g.mu.Unlock()
}

// do claims one delivery (and records the previous outcome) and waits for the
// answer. It waits even when ctx ends, at most one statement's time, so that
// what the ledger says is always what the sender knows.
func (g *claimGroups) do(c store.Claim, staleBefore time.Time) (store.Claimed, error) {
	call := &claimCall{claim: c, stale: staleBefore, at: time.Now(), done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, call)
	if g.active < g.flushers {
		g.active++
		go g.flush()
	}
	g.mu.Unlock()
	<-call.done
	return call.res, call.err
}

// flush runs groups until nothing is pending.
func (g *claimGroups) flush() {
	for {
		g.mu.Lock()
		if len(g.pending) == 0 {
			g.active--
			g.mu.Unlock()
			return
		}
		if wait := g.window - time.Since(g.pending[0].at); wait > 0 && len(g.pending) < min(g.maxGroup, g.senders) {
			g.mu.Unlock()
			time.Sleep(min(wait, g.window/4))
			continue
		}
		n := min(len(g.pending), g.maxGroup)
		group := make([]*claimCall, n)
		copy(group, g.pending)
		g.pending = append(g.pending[:0], g.pending[n:]...)
		g.mu.Unlock()

		claims := make([]store.Claim, n)
		stale := group[0].stale
		for i, c := range group {
			claims[i] = c.claim
			if c.stale.Before(stale) {
				stale = c.stale
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := g.store.ClaimDeliveries(ctx, claims, stale)
		cancel()
		for i, c := range group {
			if err != nil {
				c.err = err
			} else {
				c.res = res[i]
			}
			close(c.done)
		}
	}
}
