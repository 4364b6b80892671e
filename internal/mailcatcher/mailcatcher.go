// Package mailcatcher is a small SMTP server that keeps what it receives in
// memory and shows it over HTTP. `envoi mailcatcher` runs it for local
// development, and tests use it as their real SMTP server: it can be told to
// fail or stall, like a real relay having a bad day. It never relays mail.
package mailcatcher

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode non-UTF-8 parts
	gomessagemail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message as received.
type Message struct {
	ID   int       `json:"id"`
	From string    `json:"from"`
	To   []string  `json:"to"`
	At   time.Time `json:"at"`
	Raw  []byte    `json:"-"`
}

// Header returns the first value of a header, decoded.
func (m Message) Header(name string) string {
	e, err := message.Read(bytes.NewReader(m.Raw))
	if e == nil && err != nil {
		return ""
	}
	v, err := e.Header.Text(name)
	if err != nil {
		return e.Header.Get(name)
	}
	return v
}

// Subject returns the decoded Subject.
func (m Message) Subject() string { return m.Header("Subject") }

// Part returns the decoded body of the first part of the given media type
// ("text/plain" or "text/html"), or "" when there is none.
func (m Message) Part(mediaType string) string {
	r, err := gomessagemail.CreateReader(bytes.NewReader(m.Raw))
	if err != nil {
		e, err2 := message.Read(bytes.NewReader(m.Raw))
		if e == nil || err2 != nil && !message.IsUnknownCharset(err2) {
			return ""
		}
		if t, _, _ := e.Header.ContentType(); t == mediaType {
			b, _ := io.ReadAll(e.Body)
			return string(b)
		}
		return ""
	}
	for {
		p, err := r.NextPart()
		if err != nil {
			return ""
		}
		if h, ok := p.Header.(*gomessagemail.InlineHeader); ok {
			if t, _, _ := h.ContentType(); t == mediaType {
				b, _ := io.ReadAll(p.Body)
				return string(b)
			}
		}
	}
}

// Fault lets a test make the server misbehave. Each hook may return an error
// (an *smtp.SMTPError for a coded reply) or block; nil means accept.
type Fault struct {
	Mail func(from string) error
	Rcpt func(to string) error
	Data func(from string, to []string, raw []byte) error
	// Drop, when it returns true after the message data arrived, closes the
	// connection without a reply: the client cannot know whether it was accepted
	// (it was not).
	Drop func(to []string) bool
	// KeepThenDrop, when it returns true after the message data arrived (and
	// Drop did not), stores the message and then closes the connection without
	// a reply: the client cannot know whether it was accepted (it was), so a
	// client that retries delivers it twice. This is the one fault after which
	// a duplicate is the client's right.
	KeepThenDrop func(to []string) bool
}

// Catcher receives and stores messages.
type Catcher struct {
	mu      sync.Mutex
	msgs    []Message
	nextID  int
	max     int
	changed chan struct{}
	fault   Fault
	closed  int // SMTP connections closed so far

	user, pass  string // RequireAuth
	implicitTLS bool

	srv  *smtp.Server
	ln   net.Listener
	Addr string // host:port of the SMTP listener
}

// New returns a catcher that keeps the last max messages (0: 10,000).
func New(max int) *Catcher {
	if max <= 0 {
		max = 10000
	}
	c := &Catcher{max: max, changed: make(chan struct{})}
	c.srv = smtp.NewServer(backend{c})
	c.srv.Domain = "mailcatcher.localhost"
	c.srv.ReadTimeout = 60 * time.Second
	c.srv.WriteTimeout = 60 * time.Second
	c.srv.MaxMessageBytes = 25 << 20
	c.srv.MaxRecipients = 1000
	c.srv.AllowInsecureAuth = true
	return c
}

// SetIdleTimeout closes connections idle this long (a relay's timeout). Call before Serve.
func (c *Catcher) SetIdleTimeout(d time.Duration) { c.srv.ReadTimeout = d }

// RequireAuth makes the catcher refuse mail until a client authenticates
// with these PLAIN credentials.
func (c *Catcher) RequireAuth(user, pass string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.user, c.pass = user, pass
}

// UseTLS offers STARTTLS with this configuration; with implicit, the listener
// speaks TLS from the first byte instead (port 465 style). Call before Listen.
func (c *Catcher) UseTLS(cfg *tls.Config, implicit bool) {
	c.srv.TLSConfig = cfg
	c.implicitTLS = implicit
}

// Listen binds the SMTP listener (use "127.0.0.1:0" for a free port).
func (c *Catcher) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mailcatcher listen on %s: %w", addr, err)
	}
	c.Addr = ln.Addr().String()
	ln = countingListener{Listener: ln, c: c}
	if c.implicitTLS {
		ln = tls.NewListener(ln, c.srv.TLSConfig)
	}
	c.ln = ln
	return nil
}

// countingListener hands out connections that tell the catcher when they close.
type countingListener struct {
	net.Listener
	c *Catcher
}

func (l countingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: nc, c: l.c}, nil
}

type countingConn struct {
	net.Conn
	c    *Catcher
	once sync.Once
}

func (cc *countingConn) Close() error {
	err := cc.Conn.Close()
	cc.once.Do(cc.c.connClosed)
	return err
}

func (c *Catcher) connClosed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed++
	c.notify()
}

// Disconnects returns how many SMTP connections have been closed so far, by
// either side (QUIT, an idle timeout, a fault, Close).
func (c *Catcher) Disconnects() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// WaitDisconnects blocks until at least n SMTP connections have been closed
// (their sockets, not just their sessions) or the timeout passes, and reports
// whether they were. A test uses it to know that the relay has hung up, say
// after SetIdleTimeout, instead of sleeping.
func (c *Catcher) WaitDisconnects(timeout time.Duration, n int) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		closed, ch := c.closed, c.changed
		c.mu.Unlock()
		if closed >= n {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return c.Disconnects() >= n
		}
	}
}

// Serve accepts SMTP connections until Close.
func (c *Catcher) Serve() error {
	err := c.srv.Serve(c.ln)
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server and drops open connections.
func (c *Catcher) Close() error { return c.srv.Close() }

// Shutdown stops accepting and waits for open sessions to finish.
func (c *Catcher) Shutdown(ctx context.Context) error { return c.srv.Shutdown(ctx) }

// SetFault installs fault hooks (zero Fault to behave again).
func (c *Catcher) SetFault(f Fault) {
	c.mu.Lock()
	c.fault = f
	c.mu.Unlock()
}

func (c *Catcher) getFault() Fault {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fault
}

// Messages returns a copy of what arrived, oldest first.
func (c *Catcher) Messages() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Message(nil), c.msgs...)
}

// To returns the messages with rcpt among their envelope recipients.
func (c *Catcher) To(rcpt string) []Message {
	var out []Message
	for _, m := range c.Messages() {
		for _, t := range m.To {
			if strings.EqualFold(t, rcpt) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// Reset forgets every message.
func (c *Catcher) Reset() {
	c.mu.Lock()
	c.msgs = nil
	c.mu.Unlock()
}

// Wait blocks until cond holds for the stored messages or the timeout passes,
// and returns the messages then.
func (c *Catcher) Wait(timeout time.Duration, cond func([]Message) bool) ([]Message, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		msgs := append([]Message(nil), c.msgs...)
		ch := c.changed
		c.mu.Unlock()
		if cond(msgs) {
			return msgs, true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return msgs, cond(msgs)
		}
	}
}

func (c *Catcher) add(from string, to []string, raw []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	c.msgs = append(c.msgs, Message{ID: c.nextID, From: from, To: to, At: time.Now(), Raw: raw})
	if len(c.msgs) > c.max {
		c.msgs = c.msgs[len(c.msgs)-c.max:]
	}
	c.notify()
}

// notify wakes Wait and WaitDisconnects; c.mu must be held.
func (c *Catcher) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

type backend struct{ c *Catcher }

func (b backend) NewSession(conn *smtp.Conn) (smtp.Session, error) {
	return &session{c: b.c, conn: conn}, nil
}

type session struct {
	c      *Catcher
	conn   *smtp.Conn
	from   string
	to     []string
	authed bool
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

// Auth checks PLAIN credentials against RequireAuth's; without them any are taken.
func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		s.c.mu.Lock()
		user, pass := s.c.user, s.c.pass
		s.c.mu.Unlock()
		if user != "" && (username != user || password != pass) {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.c.mu.Lock()
	needAuth := s.c.user != ""
	s.c.mu.Unlock()
	if needAuth && !s.authed {
		return smtp.ErrAuthRequired
	}
	if f := s.c.getFault().Mail; f != nil {
		if err := f(from); err != nil {
			return err
		}
	}
	s.from, s.to = from, nil
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if f := s.c.getFault().Rcpt; f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if f := s.c.getFault().Data; f != nil {
		if err := f(s.from, s.to, raw); err != nil {
			return err
		}
	}
	if f := s.c.getFault().Drop; f != nil && f(s.to) {
		s.conn.Conn().Close()
		return errors.New("connection dropped by fault injection")
	}
	if f := s.c.getFault().KeepThenDrop; f != nil && f(s.to) {
		s.c.add(s.from, s.to, raw)
		s.conn.Conn().Close()
		return errors.New("connection dropped by fault injection after the message was kept")
	}
	s.c.add(s.from, s.to, raw)
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// TempFail is a 451 reply for fault hooks.
var TempFail = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}

// Closing is a 421 reply for fault hooks: the service is closing the
// connection (clients must drop it and try again later).
var Closing = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down"}

// PermFail is a 550 reply for fault hooks.
var PermFail = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
