// Package send delivers rendered messages over SMTP through a small pool of
// connections that stay open between messages, optionally DKIM-signing the exact
// bytes that go out. It classifies failures as temporary (retry later) or
// permanent; it keeps no ledger of its own.
//
// Messages arrive as rendered bytes (DKIM must sign exactly what goes out;
// go-mail's own signer breaks on List-Unsubscribe headers) and go out in one
// buffered write per transaction, pipelined when the server allows (conn.go).
package send

import (
	"context"
	"crypto/x509"
	"errors"
	"time"

	"github.com/envoi/envoi/internal/config"
)

// Pool is a set of reusable SMTP connections. Safe for concurrent use.
type Pool struct {
	cfg    config.SMTP
	slots  chan struct{}
	idle   chan *conn
	Signer *Signer // nil: no DKIM
	// HeloName is announced in EHLO.
	HeloName string
	// Dialogue limits the SMTP extensions used even when the server offers more:
	// "" uses the best offered, DialoguePipelining never uses BDAT, DialogueClassic
	// waits for each reply (tests of those paths; servers that misbehave).
	Dialogue string
	// RootCAs verifies the relay's certificate; nil means the system's roots.
	RootCAs *x509.CertPool
	// IdleCheck: a pooled connection idle longer than this is checked with NOOP
	// before a message is pipelined on it, since a relay may have closed it and
	// a pipelined message written to a closed connection cannot be known undelivered.
	IdleCheck time.Duration
}

// Dialogues (Pool.Dialogue).
const (
	DialoguePipelining = "pipelining"
	DialogueClassic    = "classic"
)

// DefaultIdleCheck is Pool.IdleCheck's default.
const DefaultIdleCheck = 5 * time.Second

// NewPool returns a pool of at most size connections; it dials lazily.
func NewPool(cfg config.SMTP, size int) *Pool {
	return &Pool{cfg: cfg, slots: make(chan struct{}, size), idle: make(chan *conn, size), HeloName: "localhost", IdleCheck: DefaultIdleCheck}
}

// TempError is a failure worth retrying later (4xx reply, dropped connection).
type TempError struct{ Err error }

func (e *TempError) Error() string { return e.Err.Error() }
func (e *TempError) Unwrap() error { return e.Err }

// PermError is a permanent refusal (5xx reply): retrying will not help.
type PermError struct{ Err error }

func (e *PermError) Error() string { return e.Err.Error() }
func (e *PermError) Unwrap() error { return e.Err }

func classify(err error) error {
	var re *ReplyError
	if errors.As(err, &re) && re.Code >= 500 {
		return &PermError{err}
	}
	return &TempError{err}
}

// SendBytes DKIM-signs (when the pool has a signer) and delivers a rendered
// message. It returns nil, a *TempError or a *PermError.
func (p *Pool) SendBytes(ctx context.Context, from string, to []string, raw []byte) error {
	if p.Signer != nil {
		signed, err := p.Signer.Sign(raw)
		if err != nil {
			return &PermError{err}
		}
		raw = signed
	}
	return p.SendRaw(ctx, from, to, raw)
}

// SendRaw delivers rendered bytes. A stale pooled connection found before the
// message is handed over is replaced and the message tried once more. The
// transaction ends by ctx's deadline, if any (waiting for a connection too).
func (p *Pool) SendRaw(ctx context.Context, from string, to []string, raw []byte) error {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return &TempError{ctx.Err()}
	}
	defer func() { <-p.slots }()
	for attempt := 0; ; attempt++ {
		var c *conn
		fresh := false
		select {
		case c = <-p.idle:
			if time.Since(c.lastUsed) > p.IdleCheck && !c.alive() {
				c.nc.Close()
				continue
			}
		default:
			var err error
			if c, err = p.dialConn(ctx); err != nil {
				return err
			}
			fresh = true
		}
		deadline, _ := ctx.Deadline()
		handedOver, err := c.send(deadline, from, to, raw)
		if err == nil {
			p.idle <- c
			return nil
		}
		var re *ReplyError
		if errors.As(err, &re) {
			// The server answered with a code: the connection is fine, unless it said 421.
			if re.Code == 421 {
				c.nc.Close()
			} else {
				p.idle <- c
			}
			return classify(err)
		}
		c.nc.Close()
		// No reply code: the connection broke. Before the data was handed over
		// nothing was delivered, so one more try on a fresh connection is safe.
		if fresh || attempt > 0 || handedOver {
			return &TempError{err}
		}
	}
}

// Close closes idle connections.
func (p *Pool) Close() {
	for {
		select {
		case c := <-p.idle:
			c.quit()
		default:
			return
		}
	}
}
