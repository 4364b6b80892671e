package send

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
)

// conn is one SMTP client connection. Envoi speaks SMTP itself (over net/textproto)
// rather than through go-smtp's client because that client waits for the reply
// to every command: four round trips and eight system calls per message. With
// PIPELINING (RFC 2920) and CHUNKING (RFC 3030), which Postfix, Exim and the big
// relays offer, a whole transaction is one write and one read:
//
//	MAIL FROM:<…> / RCPT TO:<…> / BDAT <size> LAST / <message bytes>
//
// That halves the CPU the relay spends per message too. Servers without them get
// the classic command-by-command dialogue with DATA.
type conn struct {
	nc       net.Conn
	r        *textproto.Reader
	w        *bufio.Writer
	ext      map[string]string
	timeout  time.Duration
	lastUsed time.Time
	// fast: PIPELINING and CHUNKING; pipelining: PIPELINING only.
	fast, pipelining bool
}

// ReplyError is an SMTP reply other than success.
type ReplyError struct {
	Code int
	Msg  string
}

func (e *ReplyError) Error() string { return fmt.Sprintf("SMTP %d %s", e.Code, e.Msg) }

var errProtocol = errors.New("protocol error")

func newConn(nc net.Conn, timeout time.Duration) *conn {
	return &conn{nc: nc, r: textproto.NewReader(bufio.NewReaderSize(nc, 4096)),
		w: bufio.NewWriterSize(nc, 16<<10), timeout: timeout}
}

// reply reads one reply (all its lines); err is a *ReplyError unless its first
// digit is want.
func (c *conn) reply(want int) (code int, msg string, err error) {
	code, msg, err = c.r.ReadResponse(want)
	var te *textproto.Error
	if errors.As(err, &te) {
		code, msg = te.Code, te.Msg
		err = &ReplyError{Code: te.Code, Msg: te.Msg}
	}
	if err != nil && !errors.As(err, new(*ReplyError)) {
		return code, msg, err // the connection broke
	}
	if code < 200 || code > 599 {
		// Not an SMTP reply: the conversation is broken, whatever the server meant.
		return 0, "", fmt.Errorf("malformed SMTP reply %d %q: %w", code, msg, errProtocol)
	}
	return code, msg, err
}

// cmd sends one command and reads its reply.
func (c *conn) cmd(want int, line string) (string, error) {
	c.nc.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.w.WriteString(line + "\r\n"); err != nil {
		return "", err
	}
	if err := c.w.Flush(); err != nil {
		return "", err
	}
	_, msg, err := c.reply(want)
	return msg, err
}

// hello sends EHLO (HELO if the server refuses it) and records the extensions.
func (c *conn) hello(name string) error {
	msg, err := c.cmd(2, "EHLO "+name)
	var re *ReplyError
	if errors.As(err, &re) && re.Code >= 500 {
		c.ext = map[string]string{}
		_, err = c.cmd(2, "HELO "+name)
		return err
	}
	if err != nil {
		return err
	}
	c.ext = map[string]string{}
	lines := strings.Split(msg, "\n")
	for _, l := range lines[1:] { // the first line is the greeting
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		c.ext[strings.ToUpper(k)] = v
	}
	_, pipe := c.ext["PIPELINING"]
	_, chunk := c.ext["CHUNKING"]
	c.pipelining, c.fast = pipe, pipe && chunk
	return nil
}

// startTLS upgrades the connection (RFC 3207) and says hello again.
func (c *conn) startTLS(cfg *tls.Config, name string) error {
	if _, ok := c.ext["STARTTLS"]; !ok {
		return &ReplyError{Code: 554, Msg: "the server does not offer STARTTLS (set tls=none to send in clear)"}
	}
	if _, err := c.cmd(2, "STARTTLS"); err != nil {
		return err
	}
	tc := tls.Client(c.nc, cfg)
	c.nc.SetDeadline(time.Now().Add(c.timeout))
	if err := tc.Handshake(); err != nil {
		return err
	}
	*c = *newConn(tc, c.timeout)
	return c.hello(name)
}

// auth authenticates with a SASL mechanism (go-sasl), RFC 4954.
func (c *conn) auth(a sasl.Client) error {
	mech, resp, err := a.Start()
	if err != nil {
		return err
	}
	line := "AUTH " + mech
	if resp != nil {
		line += " " + encodeSASL(resp)
	}
	for {
		c.nc.SetDeadline(time.Now().Add(c.timeout))
		c.w.WriteString(line + "\r\n")
		if err := c.w.Flush(); err != nil {
			return err
		}
		code, msg, err := c.r.ReadResponse(0)
		var te *textproto.Error
		if errors.As(err, &te) {
			code, msg, err = te.Code, te.Msg, nil
		}
		if err != nil {
			return err
		}
		switch {
		case code == 235:
			return nil
		case code == 334:
			challenge, err := base64.StdEncoding.DecodeString(msg)
			if err != nil {
				return err
			}
			if resp, err = a.Next(challenge); err != nil {
				c.cmd(0, "*")
				return err
			}
			line = encodeSASL(resp)
		default:
			return &ReplyError{Code: code, Msg: msg}
		}
	}
}

func encodeSASL(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

// dialConn connects, reads the greeting, says hello, upgrades to TLS and
// authenticates as configured.
func (p *Pool) dialConn(ctx context.Context) (*conn, error) {
	addr := net.JoinHostPort(p.cfg.Host, strconv.Itoa(p.cfg.Port))
	tlsCfg := &tls.Config{ServerName: p.cfg.Host, MinVersion: tls.VersionTLS12, RootCAs: p.RootCAs}
	d := net.Dialer{Timeout: 30 * time.Second}
	var nc net.Conn
	var err error
	if p.cfg.TLS == "tls" {
		nc, err = (&tls.Dialer{NetDialer: &d, Config: tlsCfg}).DialContext(ctx, "tcp", addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, &TempError{fmt.Errorf("connect to SMTP %s: %w", addr, err)}
	}
	c := newConn(nc, 30*time.Second)
	if err := p.setUp(c, tlsCfg); err != nil {
		nc.Close()
		return nil, classify(fmt.Errorf("SMTP %s: %w", addr, err))
	}
	return c, nil
}

// setUp reads the greeting, says hello, upgrades to TLS and authenticates as
// configured.
func (p *Pool) setUp(c *conn, tlsCfg *tls.Config) error {
	c.nc.SetDeadline(time.Now().Add(c.timeout))
	if _, _, err := c.reply(2); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if err := c.hello(p.HeloName); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if p.cfg.TLS == "starttls" {
		if err := c.startTLS(tlsCfg, p.HeloName); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if p.cfg.Username != "" {
		if err := c.auth(sasl.NewPlainClient("", p.cfg.Username, p.cfg.Password)); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	switch p.Dialogue {
	case DialoguePipelining:
		c.fast = false
	case DialogueClassic:
		c.fast, c.pipelining = false, false
	}
	return nil
}

// send runs one mail transaction. handedOver reports whether the whole message
// reached the server, so that a broken connection may have delivered it.
// A refused transaction is reset, leaving the connection ready for the next.
//
// The whole transaction ends by deadline (zero: twice the command timeout), so
// that a caller can bound how long a message may be in flight.
func (c *conn) send(deadline time.Time, from string, to []string, raw []byte) (handedOver bool, err error) {
	c.lastUsed = time.Now()
	if limit := time.Now().Add(2 * c.timeout); deadline.IsZero() || deadline.After(limit) {
		deadline = limit
	}
	c.nc.SetDeadline(deadline)
	c.w.WriteString("MAIL FROM:<" + from + ">\r\n")
	if !c.pipelining {
		if err := c.flushReply(); err != nil {
			return false, err
		}
	}
	for _, r := range to {
		c.w.WriteString("RCPT TO:<" + r + ">\r\n")
		if !c.pipelining {
			if err := c.flushReply(); err != nil {
				return false, err
			}
		}
	}
	if c.fast {
		c.w.WriteString("BDAT " + strconv.Itoa(len(raw)) + " LAST\r\n")
		c.w.Write(raw)
		if err := c.w.Flush(); err != nil {
			// A chunk counts only once all its bytes arrive: not delivered.
			return false, err
		}
		// One reply per command, in order; the first refusal is the answer.
		var first error
		for i := 0; i < 2+len(to); i++ {
			if _, _, err := c.reply(2); err != nil {
				var re *ReplyError
				if !errors.As(err, &re) {
					return true, err
				}
				if first == nil || re.Code == 421 {
					first = err // a 421 says the connection is closing: report that
				}
			}
		}
		if first != nil {
			c.reset(first)
		}
		return true, first
	}
	c.w.WriteString("DATA\r\n")
	if err := c.w.Flush(); err != nil {
		return false, err
	}
	if c.pipelining {
		var first error
		for i := 0; i < 1+len(to); i++ {
			if _, _, err := c.reply(2); err != nil {
				var re *ReplyError
				if !errors.As(err, &re) {
					return false, err
				}
				if first == nil || re.Code == 421 {
					first = err
				}
			}
		}
		if _, _, err := c.reply(3); err != nil {
			if first == nil {
				first = err
			}
			var re *ReplyError
			if !errors.As(err, &re) {
				return false, first
			}
			c.reset(first)
			return false, first
		}
		if first != nil {
			// DATA was accepted although a command before it was not: end the
			// message without content so the server discards it.
			c.w.WriteString(".\r\n")
			c.flushReply()
			c.reset(first)
			return false, first
		}
	} else if _, _, err := c.reply(3); err != nil {
		c.reset(err)
		return false, err
	}
	dw := textproto.NewWriter(c.w).DotWriter()
	if _, err := dw.Write(raw); err != nil {
		return false, err
	}
	if err := dw.Close(); err != nil { // writes the final dot and flushes
		return false, err
	}
	_, _, err = c.reply(2)
	return true, err
}

// flushReply sends what is buffered and reads one reply; a refusal resets the
// transaction.
func (c *conn) flushReply() error {
	if err := c.w.Flush(); err != nil {
		return err
	}
	_, _, err := c.reply(2)
	var re *ReplyError
	if errors.As(err, &re) {
		c.reset(err)
	}
	return err
}

// reset ends a refused transaction with RSET (not after 421: the server is
// closing the connection).
func (c *conn) reset(cause error) {
	var re *ReplyError
	if errors.As(cause, &re) && re.Code == 421 {
		return
	}
	c.cmd(2, "RSET")
}

// alive checks a connection that sat idle, with NOOP: a relay may have closed it.
func (c *conn) alive() bool {
	_, err := c.cmd(2, "NOOP")
	return err == nil
}

func (c *conn) quit() {
	c.nc.SetDeadline(time.Now().Add(5 * time.Second))
	c.w.WriteString("QUIT\r\n")
	if c.w.Flush() == nil {
		c.r.ReadLine()
	}
	c.nc.Close()
}
