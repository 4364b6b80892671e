// Package send delivers built messages over SMTP through a small pool of
// connections that stay open between messages. It classifies failures as
// temporary (retry later) or permanent; it keeps no ledger of its own.
package send

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/envoi/envoi/internal/config"
)

// Pool is a set of reusable SMTP connections. Safe for concurrent use.
type Pool struct {
	cfg   config.SMTP
	slots chan struct{}
	idle  chan *gomail.Client
}

// NewPool returns a pool of at most size connections; it dials lazily.
func NewPool(cfg config.SMTP, size int) *Pool {
	return &Pool{cfg: cfg, slots: make(chan struct{}, size), idle: make(chan *gomail.Client, size)}
}

func (p *Pool) dial(ctx context.Context) (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(p.cfg.Port),
		gomail.WithTimeout(30 * time.Second),
		gomail.WithoutNoop(), // a dead connection shows at MAIL FROM; we redial then
		gomail.WithoutRset(), // nothing to reset after a completed transaction
	}
	switch p.cfg.TLS {
	case "none":
		opts = append(opts, gomail.WithTLSPortPolicy(gomail.NoTLS))
	case "starttls":
		opts = append(opts, gomail.WithTLSPortPolicy(gomail.TLSMandatory), gomail.WithTLSConfig(&tls.Config{ServerName: p.cfg.Host, MinVersion: tls.VersionTLS12}))
	case "tls":
		opts = append(opts, gomail.WithSSLPort(false), gomail.WithTLSConfig(&tls.Config{ServerName: p.cfg.Host, MinVersion: tls.VersionTLS12}))
	}
	if p.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(p.cfg.Username), gomail.WithPassword(p.cfg.Password))
	}
	c, err := gomail.NewClient(p.cfg.Host, opts...)
	if err != nil {
		return nil, err
	}
	if err := c.DialWithContext(ctx); err != nil {
		return nil, &TempError{fmt.Errorf("connect to SMTP %s:%d: %w", p.cfg.Host, p.cfg.Port, err)}
	}
	return c, nil
}

// TempError is a failure worth retrying later (4xx reply, dropped connection).
type TempError struct{ Err error }

func (e *TempError) Error() string { return e.Err.Error() }
func (e *TempError) Unwrap() error { return e.Err }

// PermError is a permanent refusal (5xx reply): retrying will not help.
type PermError struct{ Err error }

func (e *PermError) Error() string { return e.Err.Error() }
func (e *PermError) Unwrap() error { return e.Err }

// Send delivers one message. It returns nil, a *TempError or a *PermError.
// A stale pooled connection found before the message is handed over is replaced
// and the message tried once more on a fresh one.
func (p *Pool) Send(ctx context.Context, m *gomail.Msg) error {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return &TempError{ctx.Err()}
	}
	defer func() { <-p.slots }()
	for attempt := 0; ; attempt++ {
		var c *gomail.Client
		fresh := false
		select {
		case c = <-p.idle:
		default:
			var err error
			if c, err = p.dial(ctx); err != nil {
				return err
			}
			fresh = true
		}
		err := c.Send(m)
		if err == nil {
			p.idle <- c
			return nil
		}
		var se *gomail.SendError
		isSendErr := errors.As(err, &se)
		if isSendErr && se.ErrorCode() >= 400 {
			// The server answered with a code: the connection is fine.
			p.idle <- c
			if se.ErrorCode() >= 500 && !se.IsTemp() {
				return &PermError{err}
			}
			return &TempError{err}
		}
		c.Close()
		// No reply code: the connection broke. Before DATA ended nothing was
		// delivered, so one more try on a fresh connection is safe.
		handedOver := isSendErr && (se.Reason == gomail.ErrSMTPDataClose || se.Reason == gomail.ErrWriteContent)
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
			c.Close()
		default:
			return
		}
	}
}
