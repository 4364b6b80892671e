package send_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/envoi/envoi/internal/config"
	"github.com/envoi/envoi/internal/mailcatcher"
	"github.com/envoi/envoi/internal/send"
	"github.com/envoi/envoi/internal/testenv"
)

func msg(t *testing.T, to string) *gomail.Msg {
	m := gomail.NewMsg()
	if err := m.FromFormat("News", "news@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := m.To(to); err != nil {
		t.Fatal(err)
	}
	m.Subject("Hi")
	m.SetBodyString(gomail.TypeTextPlain, "hello")
	return m
}

// sendMsg sends a go-mail message through the pool as raw bytes.
func sendMsg(ctx context.Context, p *send.Pool, m *gomail.Msg) error {
	from, err := m.GetSender(false)
	if err != nil {
		return err
	}
	to, err := m.GetRecipients()
	if err != nil {
		return err
	}
	for i := range to {
		to[i] = strings.Trim(to[i], "<>")
	}
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		return err
	}
	return p.SendBytes(ctx, strings.Trim(from, "<>"), to, b.Bytes())
}

func pool(t *testing.T, c *mailcatcher.Catcher, size int) *send.Pool {
	cfg, err := config.ParseSMTPURL("smtp://" + c.Addr + "?tls=none")
	if err != nil {
		t.Fatal(err)
	}
	p := send.NewPool(cfg, size)
	t.Cleanup(p.Close)
	return p
}

// TestPool sends through each SMTP dialogue: pipelined with BDAT (what the
// in-process server offers), pipelined with DATA, and command by command.
func TestPool(t *testing.T) {
	t.Parallel()
	for _, dialogue := range []string{"", send.DialoguePipelining, send.DialogueClassic} {
		t.Run("dialogue="+dialogue, func(t *testing.T) {
			t.Parallel()
			c := testenv.SMTP(t)
			c.SetFault(mailcatcher.Fault{
				Data: func(from string, to []string, raw []byte) error {
					if strings.HasPrefix(to[0], "data-temp") {
						return mailcatcher.TempFail
					}
					time.Sleep(20 * time.Millisecond)
					return nil
				},
				Mail: func(from string) error {
					if strings.HasPrefix(from, "bounce-perm") {
						return mailcatcher.PermFail
					}
					return nil
				},
				Rcpt: func(to string) error {
					switch {
					case strings.HasPrefix(to, "temp"):
						return mailcatcher.TempFail
					case strings.HasPrefix(to, "perm"):
						return mailcatcher.PermFail
					}
					return nil
				},
			})
			p := pool(t, c, 2)
			p.Dialogue = dialogue
			ctx := context.Background()
			for i := 0; i < 5; i++ {
				if err := sendMsg(ctx, p, msg(t, "ok@example.com")); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			var te *send.TempError
			if err := sendMsg(ctx, p, msg(t, "temp@example.com")); !errors.As(err, &te) {
				t.Fatalf("451 to RCPT: %v, want TempError", err)
			}
			if err := sendMsg(ctx, p, msg(t, "data-temp@example.com")); !errors.As(err, &te) {
				t.Fatalf("451 to the data: %v, want TempError", err)
			}
			var pe *send.PermError
			if err := sendMsg(ctx, p, msg(t, "perm@example.com")); !errors.As(err, &pe) {
				t.Fatalf("550 to RCPT: %v, want PermError", err)
			}
			if err := p.SendRaw(ctx, "bounce-perm@example.com", []string{"ok@example.com"}, []byte("Subject: x\r\n\r\nx\r\n")); !errors.As(err, &pe) {
				t.Fatalf("550 to MAIL: %v, want PermError", err)
			}
			// The connection is still good after refusals, and dot-stuffing or
			// chunking keeps a body line that is a lone dot intact.
			body := "Subject: dots\r\n\r\nline\r\n.\r\n..two\r\nend\r\n"
			if err := p.SendRaw(ctx, "news@example.com", []string{"ok@example.com"}, []byte(body)); err != nil {
				t.Fatalf("after refusals: %v", err)
			}
			got := c.To("ok@example.com")
			if n := len(got); n != 6 {
				t.Fatalf("delivered %d, want 6", n)
			}
			if raw := string(got[5].Raw); !strings.HasSuffix(raw, "line\r\n.\r\n..two\r\nend\r\n") {
				t.Fatalf("body changed in transit: %q", raw)
			}
			if n := len(c.To("temp@example.com")) + len(c.To("perm@example.com")) + len(c.To("data-temp@example.com")); n != 0 {
				t.Fatalf("refused messages were stored: %d", n)
			}
		})
	}
}

// selfSigned returns a TLS configuration for 127.0.0.1 and the pool that trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, roots
}

// TestPoolTLSAndAuth: STARTTLS and implicit TLS with a certificate the pool
// must verify, AUTH PLAIN, and the errors a user can cause by configuring
// them wrong (each one a clear error, and nothing delivered).
func TestPoolTLSAndAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		serverTLS string // "", "starttls", "implicit"
		url       string // after smtp://
		trust     bool
		wantErr   string
		perm      bool
	}{
		{"starttls and auth", "starttls", "envoi:s3cr%40t@ADDR?tls=starttls", true, "", false},
		{"implicit tls and auth", "implicit", "envoi:s3cr%40t@ADDR?tls=tls", true, "", false},
		{"ErrWrongPassword", "starttls", "envoi:wrong@ADDR?tls=starttls", true, "535", true},
		{"ErrNoCredentials", "starttls", "ADDR?tls=starttls", true, "authenticate", true},
		{"ErrUntrustedCertificate", "starttls", "envoi:s3cr%40t@ADDR?tls=starttls", false, "certificate", false},
		{"ErrNoStartTLSOffered", "", "envoi:s3cr%40t@ADDR?tls=starttls", true, "does not offer STARTTLS", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mailcatcher.New(100)
			cfg, roots := selfSigned(t)
			if tt.serverTLS != "" {
				c.UseTLS(cfg, tt.serverTLS == "implicit")
			}
			c.RequireAuth("envoi", "s3cr@t")
			if err := c.Listen("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			go c.Serve()
			t.Cleanup(func() { c.Close() })
			sc, err := config.ParseSMTPURL("smtp://" + strings.Replace(tt.url, "ADDR", c.Addr, 1))
			if err != nil {
				t.Fatal(err)
			}
			p := send.NewPool(sc, 1)
			t.Cleanup(p.Close)
			if tt.trust {
				p.RootCAs = roots
			}
			err = sendMsg(context.Background(), p, msg(t, "ok@example.com"))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("send: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one that says %q", err, tt.wantErr)
			}
			var pe *send.PermError
			if tt.wantErr != "" && errors.As(err, &pe) != tt.perm {
				t.Errorf("permanent = %v, want %v (%v)", !tt.perm, tt.perm, err)
			}
			want := 1
			if tt.wantErr != "" {
				want = 0
			}
			if n := len(c.To("ok@example.com")); n != want {
				t.Fatalf("delivered %d, want %d", n, want)
			}
		})
	}
}

// TestPoolDeadline: a send gives up by its context's deadline while waiting
// for a busy connection, without handing anything over, so a caller can bound
// how long a claimed message may be in flight.
func TestPoolDeadline(t *testing.T) {
	t.Parallel()
	c := testenv.SMTP(t)
	// The relay holds the first message's data until the test releases it:
	// from entered until release, the pool's only connection is busy.
	entered := make(chan struct{})
	release := make(chan struct{})
	var enteredOnce, releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // never leave the relay's session blocked
	c.SetFault(mailcatcher.Fault{Data: func(_ string, to []string, _ []byte) error {
		if to[0] == "slow@example.com" {
			enteredOnce.Do(func() { close(entered) })
			<-release
		}
		return nil
	}})
	p := pool(t, c, 1)
	first := make(chan error, 1)
	go func() { first <- sendMsg(context.Background(), p, msg(t, "slow@example.com")) }()
	select {
	case <-entered: // the first message is inside the relay: the only connection is busy
	case err := <-first:
		t.Fatalf("first send ended before the relay held it: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the first message never reached the relay")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := sendMsg(ctx, p, msg(t, "waiting@example.com"))
	var te *send.TempError
	if !errors.As(err, &te) {
		t.Fatalf("send past its deadline: %v, want TempError", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("send failed with %v, want its deadline", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("gave up after %v, want about 300ms", d)
	}
	select {
	case err := <-first:
		t.Fatalf("the first send ended (%v) while the relay still held it", err)
	default:
	}
	unblock()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := len(c.To("waiting@example.com")); n != 0 {
		t.Errorf("the message that gave up was delivered %d time(s)", n)
	}
}

// TestPoolIdleConnectionClosedByRelay: a relay closes connections idle for
// 300 ms. A connection idle longer than IdleCheck is checked with NOOP and
// replaced, so the next message goes out; without the check the message is
// written to a closed connection and comes back as a temporary failure (it
// cannot be known undelivered), never as a loss or a double.
func TestPoolIdleConnectionClosedByRelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		idleCheck time.Duration
		wantTemp  bool
	}{
		{"checked after 100ms idle", 100 * time.Millisecond, false},
		{"not checked", time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mailcatcher.New(100)
			c.SetIdleTimeout(300 * time.Millisecond)
			if err := c.Listen("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			go c.Serve()
			t.Cleanup(func() { c.Close() })
			p := pool(t, c, 1)
			p.IdleCheck = tt.idleCheck
			ctx := context.Background()
			if err := sendMsg(ctx, p, msg(t, "first@example.com")); err != nil {
				t.Fatal(err)
			}
			// The relay closes the idle connection after 300 ms.
			if !c.WaitDisconnects(10*time.Second, 1) {
				t.Fatal("the relay did not close the idle connection")
			}
			err := sendMsg(ctx, p, msg(t, "second@example.com"))
			var te *send.TempError
			switch {
			case tt.wantTemp && !errors.As(err, &te):
				t.Fatalf("send on a closed connection: %v, want TempError", err)
			case !tt.wantTemp && err != nil:
				t.Fatalf("send after idle: %v", err)
			}
			want := 1
			if tt.wantTemp {
				want = 0
			}
			if n := len(c.To("second@example.com")); n != want {
				t.Fatalf("delivered %d, want %d", n, want)
			}
			// Either way the pool recovers for the next message.
			if err := sendMsg(ctx, p, msg(t, "third@example.com")); err != nil || len(c.To("third@example.com")) != 1 {
				t.Fatalf("next send: %v", err)
			}
		})
	}
}
