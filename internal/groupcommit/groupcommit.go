// Package groupcommit runs the requests of concurrent callers as one statement
// and one commit (group commit): each caller still makes its own request and
// waits for its own answer, but the requests waiting at the same moment go to
// PostgreSQL together. It owns only that mechanism; the statements are the
// store's and the callers' rules are the domain's.
package groupcommit

import (
	"context"
	"sync"
	"time"
)

// Group batches requests. For a ledger (claims of the senders' next messages
// with their previous outcomes) nothing is claimed ahead of time, so each
// sender still has at most one message in flight: the exactly-once semantics
// are those of one statement per message, at a fraction of PostgreSQL's CPU.
// Run answers the requests of one group, one answer each, in order. Key, when
// set, names requests that must not share a statement (the same row twice):
// a request whose key is already in the group waits for the next one.
type Group[Req, Res any] struct {
	Run func(ctx context.Context, reqs []Req) ([]Res, error)
	Key func(Req) string
	// Flushers bounds the statements in progress at once.
	Flushers int
	MaxGroup int
	// Window is how long a request may wait for others to join its group,
	// unless every caller is already waiting.
	Window time.Duration

	mu      sync.Mutex
	pending []*call[Req, Res]
	active  int
	senders int
}

type call[Req, Res any] struct {
	req  Req
	at   time.Time
	res  Res
	err  error
	done chan struct{}
}

// New returns a group with the defaults measured for the delivery ledger: two
// statements at once, at most 64 requests each, a 3 ms window.
func New[Req, Res any](run func(context.Context, []Req) ([]Res, error)) *Group[Req, Res] {
	return &Group[Req, Res]{Run: run, Flushers: 2, MaxGroup: 64, Window: 3 * time.Millisecond}
}

// Join and Leave count the callers that may make requests, so that a group is
// not held back waiting for callers that do not exist.
func (g *Group[Req, Res]) Join() {
	g.mu.Lock()
	g.senders++
	g.mu.Unlock()
}

// Leave undoes Join.
func (g *Group[Req, Res]) Leave() {
	g.mu.Lock()
	g.senders--
	g.mu.Unlock()
}

// Do makes one request and waits for its answer. It waits even when the
// caller's context ends, at most one statement's time, so that what the ledger
// says is always what the sender knows.
func (g *Group[Req, Res]) Do(r Req) (Res, error) {
	c := &call[Req, Res]{req: r, at: time.Now(), done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	if g.active < g.Flushers {
		g.active++
		go g.flush()
	}
	g.mu.Unlock()
	<-c.done
	return c.res, c.err
}

// flush runs groups until nothing is pending.
func (g *Group[Req, Res]) flush() {
	for {
		g.mu.Lock()
		if len(g.pending) == 0 {
			g.active--
			g.mu.Unlock()
			return
		}
		if wait := g.Window - time.Since(g.pending[0].at); wait > 0 && len(g.pending) < min(g.MaxGroup, g.senders) {
			g.mu.Unlock()
			time.Sleep(min(wait, g.Window/4))
			continue
		}
		calls := g.take()
		g.mu.Unlock()

		reqs := make([]Req, len(calls))
		for i, c := range calls {
			reqs[i] = c.req
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := g.Run(ctx, reqs)
		cancel()
		for i, c := range calls {
			if err != nil {
				c.err = err
			} else {
				c.res = res[i]
			}
			close(c.done)
		}
	}
}

// take removes the next group from pending (g.mu held): up to MaxGroup
// requests in arrival order, leaving for later any whose Key is already taken.
func (g *Group[Req, Res]) take() []*call[Req, Res] {
	n := min(len(g.pending), g.MaxGroup)
	if g.Key == nil {
		calls := make([]*call[Req, Res], n)
		copy(calls, g.pending)
		g.pending = append(g.pending[:0], g.pending[n:]...)
		return calls
	}
	var calls []*call[Req, Res]
	keys := make(map[string]bool, n)
	rest := g.pending[:0]
	for _, c := range g.pending {
		k := g.Key(c.req)
		if len(calls) == g.MaxGroup || keys[k] {
			rest = append(rest, c)
			continue
		}
		keys[k] = true
		calls = append(calls, c)
	}
	clear(g.pending[len(rest):])
	g.pending = rest
	return calls
}
