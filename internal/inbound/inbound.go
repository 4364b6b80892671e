// Package inbound is Envoi's inbound SMTP listener: it accepts mail only for
// the inbound domain (refusing to relay) and only for the addresses Envoi
// hands out — bounces+{signed id} (VERP return paths), unsubscribe+{token}
// (the List-Unsubscribe mailto), fbl and abuse (complaint reports, RFC 9477's
// CFBL-Address) and postmaster — with size, recipient and rate limits. Each
// message becomes bounce.Events (a DSN, an ARF report, an unsubscribe) that
// the feedback service applies. A storage failure answers 451 so the sender
// tries again: nothing is lost. It logs no address.
package inbound

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/envoi/envoi/internal/bounce"
	"github.com/envoi/envoi/internal/feedback"
	"github.com/envoi/envoi/internal/token"
)

// Defaults.
const (
	DefaultMaxSize = 1 << 20
	maxRecipients  = 10
	timeout        = 60 * time.Second
)

// Handler applies events (feedback.Service).
type Handler interface {
	Handle(ctx context.Context, evs []bounce.Event, trust feedback.Trust) (feedback.Result, error)
}

// Server is the listener. Set the fields, then Start.
type Server struct {
	Domain   string // ENVOI_INBOUND_DOMAIN: the only domain mail is accepted for
	Addr     string // host:port to listen on; after Start, the address listened on
	Hostname string // the greeting's name; default Domain
	MaxSize  int64  // bytes; 0: DefaultMaxSize
	// RatePerMinute bounds the messages a minute from one client IP (0: no limit).
	RatePerMinute int
	Tokens        *token.Signer
	// Parse reads a report into events (bounce.Parse).
	Parse   func(io.Reader) ([]bounce.Event, error)
	Handler Handler
	Log     *slog.Logger
	Now     func() time.Time

	srv *smtp.Server
	ln  net.Listener

	mu    sync.Mutex
	rates map[string]*window
}

type window struct {
	start time.Time
	n     int
}

// Start listens and serves in the background.
func (s *Server) Start() error {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.MaxSize <= 0 {
		s.MaxSize = DefaultMaxSize
	}
	s.Domain = strings.ToLower(s.Domain)
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = s.Hostname
	if s.srv.Domain == "" {
		s.srv.Domain = s.Domain
	}
	s.srv.ReadTimeout, s.srv.WriteTimeout = timeout, timeout
	s.srv.MaxMessageBytes = s.MaxSize
	s.srv.MaxRecipients = maxRecipients
	s.srv.MaxLineLength = 2000
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	s.ln, s.Addr = ln, ln.Addr().String()
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.Log.Error("inbound SMTP listener stopped", slog.Any("error", err))
		}
	}()
	return nil
}

// Close stops the listener and ends open sessions.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

// allow counts one message from ip against the rate.
func (s *Server) allow(ip string) bool {
	if s.RatePerMinute <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	if s.rates == nil || len(s.rates) > 100_000 {
		s.rates = map[string]*window{}
	}
	w := s.rates[ip]
	if w == nil || now.Sub(w.start) >= time.Minute {
		w = &window{start: now}
		s.rates[ip] = w
	}
	w.n++
	return w.n <= s.RatePerMinute
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	ip := ""
	if a, ok := c.Conn().RemoteAddr().(*net.TCPAddr); ok {
		ip = a.IP.String()
		if a.IP.To4() == nil { // an IPv6 client by its /64
			ip = a.IP.Mask(net.CIDRMask(64, 128)).String()
		}
	}
	return &session{s: b.s, ip: ip}, nil
}

// rcpt is one accepted recipient: what it stands for.
type rcpt struct {
	kind  string // "bounces", "unsubscribe", "report"
	addr  string // the whole address (a VERP return path)
	token string // the unsubscribe token
}

type session struct {
	s    *Server
	ip   string
	to   []rcpt
	from bool
}

var (
	errRate     = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many messages from your address; try again later"}
	errRelay    = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relaying denied: this server accepts mail only for its own domain"}
	errNoUser   = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	errTemp     = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure; try again later"}
	errNeedMail = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "MAIL FROM first"}
)

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if !ss.s.allow(ss.ip) {
		return errRate
	}
	ss.from, ss.to = true, nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !ss.from {
		return errNeedMail
	}
	local, domain, ok := strings.Cut(to, "@")
	if !ok || !strings.EqualFold(strings.TrimSuffix(domain, "."), ss.s.Domain) {
		return errRelay
	}
	tag, rest, _ := strings.Cut(local, "+")
	switch strings.ToLower(tag) {
	case "bounces":
		if _, _, _, err := ss.s.Tokens.VerifyAddress(rest); err != nil {
			return errNoUser // forged or altered: refused, changes nothing
		}
		ss.to = append(ss.to, rcpt{kind: "bounces", addr: to})
	case "unsubscribe":
		if _, err := ss.s.Tokens.Verify(token.Unsubscribe, rest); err != nil {
			return errNoUser
		}
		ss.to = append(ss.to, rcpt{kind: "unsubscribe", token: rest})
	case "fbl", "abuse", "postmaster":
		if rest != "" {
			return errNoUser
		}
		ss.to = append(ss.to, rcpt{kind: "report"})
	default:
		return errNoUser
	}
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r) // bounded by MaxMessageBytes
	if err != nil {
		return err
	}
	var evs []bounce.Event
	var parsed []bounce.Event
	parsedOK := false
	parse := func() []bounce.Event {
		if !parsedOK {
			parsedOK = true
			p, err := ss.s.Parse(bytes.NewReader(raw))
			if err != nil {
				ss.s.Log.Debug("inbound: a message that is no parseable report", slog.Any("error", err))
			}
			parsed = p
		}
		return parsed
	}
	for _, t := range ss.to {
		switch t.kind {
		case "unsubscribe":
			evs = append(evs, bounce.Event{Kind: bounce.Unsubscribe, Unsubscribe: t.token, Source: bounce.SourceMailto})
		case "bounces":
			for _, ev := range parse() {
				if ev.Kind == bounce.Unsubscribe {
					continue
				}
				ev.ReturnPath = t.addr // the envelope recipient is the signed id itself
				evs = append(evs, ev)
			}
		case "report":
			for _, ev := range parse() {
				if ev.Kind != bounce.Unsubscribe {
					evs = append(evs, ev)
				}
			}
		}
	}
	if len(evs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := ss.s.Handler.Handle(ctx, evs, feedback.Signed)
	if err != nil {
		ss.s.Log.Warn("inbound: applying a report failed; the sender will retry", slog.Any("error", err))
		return errTemp
	}
	ss.s.Log.Info("inbound: report applied", slog.Int("events", len(evs)), slog.Int("applied", res.Applied), slog.Int("unmatched", res.Unmatched))
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = false, nil }
func (ss *session) Logout() error { return nil }
