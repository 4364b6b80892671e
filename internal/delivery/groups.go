package delivery

import (
	"context"
	"sync"
	"time"
)

// group is group commit for a ledger: every sender still makes its own request
// (claim its next message, record its previous outcome) before each SMTP
// transaction, but the requests of all senders waiting at the same moment go to
// PostgreSQL as one statement and one commit. Nothing is claimed ahead of time,
// so each sender still has at most one message in flight: the exactly-once
// semantics are those of one statement per message, at a fraction of
// PostgreSQL's CPU. run answers the requests of one group, one answer each, in order.
type group[Req, Res any] struct {
	run func(ctx context.Context, reqs []Req) ([]Res, error)
	// flushers bounds the statements in progress at once.
	flushers int
	maxGroup int
	// window is how long a request may wait for others to join its group,
	// unless every sender is already waiting.
	window time.Duration

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

func newGroup[Req, Res any](run func(context.Context, []Req) ([]Res, error)) *group[Req, Res] {
	return &group[Req, Res]{run: run, flushers: 2, maxGroup: 64, window: 3 * time.Millisecond}
}

// join and leave count the senders that may make requests, so that a group is
// not held back waiting for senders that do not exist.
func (g *group[Req, Res]) join() {
	g.mu.Lock()
	g.senders++
	g.mu.Unlock()
}

func (g *group[Req, Res]) leave() {
	g.mu.Lock()
	g.senders--
	g.mu.Unlock()
}

// do makes one request and waits for its answer. It waits even when the
// caller's context ends, at most one statement's time, so that what the ledger
// says is always what the sender knows.
func (g *group[Req, Res]) do(r Req) (Res, error) {
	c := &call[Req, Res]{req: r, at: time.Now(), done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	if g.active < g.flushers {
		g.active++
		go g.flush()
	}
	g.mu.Unlock()
	<-c.done
	return c.res, c.err
}

// flush runs groups until nothing is pending.
func (g *group[Req, Res]) flush() {
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
		calls := make([]*call[Req, Res], n)
		copy(calls, g.pending)
		g.pending = append(g.pending[:0], g.pending[n:]...)
		g.mu.Unlock()

		reqs := make([]Req, n)
		for i, c := range calls {
			reqs[i] = c.req
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := g.run(ctx, reqs)
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
