// Package send delivers rendered messages over SMTP through a small pool of
// connections that stay open between messages, optionally DKIM-signing the exact
// bytes that go out. It classifies failures as temporary (retry later) or
// permanent; it keeps no ledger of its own.
//
// Messages are built with go-mail (package mail) and rendered to bytes; the bytes
// are sent with emersion/go-smtp, because DKIM must sign the rendered bytes
// (go-mail's own signer breaks on List-Unsubscribe headers) and one buffered
// write per message costs far fewer system calls than go-mail's streaming writer.
package send

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	gomail "github.com/wneessen/go-mail"

	"github.com/envoi/envoi/internal/config"
)

// Pool is a set of reusable SMTP connections. Safe for concurrent use.
type Pool struct {
	cfg    config.SMTP
	slots  chan struct{}
	idle   chan *smtp.Client
	Signer *Signer // nil: no DKIM
	// HeloName is announced in EHLO.
	HeloName string
}

// NewPool returns a pool of at most size connections; it dials lazily.
func NewPool(cfg config.SMTP, size int) *Pool {
	return &Pool{cfg: cfg, slots: make(chan struct{}, size), idle: make(chan *smtp.Client, size), HeloName: "localhost"}
}

func (p *Pool) dial(ctx context.Context) (*smtp.Client, error) {
	addr := net.JoinHostPort(p.cfg.Host, strconv.Itoa(p.cfg.Port))
	tlsCfg := &tls.Config{ServerName: p.cfg.Host, MinVersion: tls.VersionTLS12}
	d := net.Dialer{Timeout: 30 * time.Second}
	var conn net.Conn
	var err error
	if p.cfg.TLS == "tls" {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: tlsCfg}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, &TempError{fmt.Errorf("connect to SMTP %s: %w", addr, err)}
	}
	var c *smtp.Client
	if p.cfg.TLS == "starttls" {
		if c, err = smtp.NewClientStartTLS(conn, tlsCfg); err != nil {
			conn.Close()
			return nil, classify(fmt.Errorf("STARTTLS with %s: %w", addr, err))
		}
	} else {
		c = smtp.NewClient(conn)
		if err := c.Hello(p.HeloName); err != nil {
			c.Close()
			return nil, classify(fmt.Errorf("EHLO: %w", err))
		}
	}
	c.CommandTimeout = 30 * time.Second
	c.SubmissionTimeout = 60 * time.Second
	if p.cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", p.cfg.Username, p.cfg.Password)); err != nil {
			c.Close()
			return nil, classify(fmt.Errorf("AUTH: %w", err))
		}
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

func classify(err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 {
		return &PermError{err}
	}
	return &TempError{err}
}

// Render turns a built message into its envelope and bytes, DKIM-signed when
// the pool has a signer.
func (p *Pool) Render(m *gomail.Msg) (from string, to []string, raw []byte, err error) {
	if from, err = m.GetSender(false); err != nil {
		return "", nil, nil, &PermError{fmt.Errorf("sender: %w", err)}
	}
	if to, err = m.GetRecipients(); err != nil {
		return "", nil, nil, &PermError{fmt.Errorf("recipients: %w", err)}
	}
	// go-mail gives "<addr>"; the SMTP client adds its own brackets.
	from = strings.Trim(from, "<>")
	for i := range to {
		to[i] = strings.Trim(to[i], "<>")
	}
	var b bytes.Buffer
	b.Grow(12 << 10)
	if _, err := m.WriteTo(&b); err != nil {
		return "", nil, nil, &PermError{fmt.Errorf("render message: %w", err)}
	}
	raw = b.Bytes()
	if p.Signer != nil {
		if raw, err = p.Signer.Sign(raw); err != nil {
			return "", nil, nil, &PermError{err}
		}
	}
	return from, to, raw, nil
}

// Send renders and delivers one message. It returns nil, a *TempError or a *PermError.
func (p *Pool) Send(ctx context.Context, m *gomail.Msg) error {
	from, to, raw, err := p.Render(m)
	if err != nil {
		return err
	}
	return p.SendRaw(ctx, from, to, raw)
}

// SendRaw delivers rendered bytes. A stale pooled connection found before the
// message is handed over is replaced and the message tried once more.
func (p *Pool) SendRaw(ctx context.Context, from string, to []string, raw []byte) error {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return &TempError{ctx.Err()}
	}
	defer func() { <-p.slots }()
	for attempt := 0; ; attempt++ {
		var c *smtp.Client
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
		handedOver, err := transaction(c, from, to, raw)
		if err == nil {
			p.idle <- c
			return nil
		}
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			// The server answered with a code: the connection is fine, unless it said 421.
			if se.Code == 421 {
				c.Close()
			} else {
				c.Reset()
				p.idle <- c
			}
			return classify(err)
		}
		c.Close()
		// No reply code: the connection broke. Before the data was handed over
		// nothing was delivered, so one more try on a fresh connection is safe.
		if fresh || attempt > 0 || handedOver {
			return &TempError{err}
		}
	}
}

func transaction(c *smtp.Client, from string, to []string, raw []byte) (handedOver bool, err error) {
	if err := c.Mail(from, nil); err != nil {
		return false, err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return false, err
		}
	}
	w, err := c.Data()
	if err != nil {
		return false, err
	}
	if _, err := w.Write(raw); err != nil {
		return true, err
	}
	return true, w.Close()
}

// Close closes idle connections.
func (p *Pool) Close() {
	for {
		select {
		case c := <-p.idle:
			c.Quit()
		default:
			return
		}
	}
}
