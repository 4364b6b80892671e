package send_test

import (
	"context"
	"errors"
	"strings"
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
				if err := p.Send(ctx, msg(t, "ok@example.com")); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			var te *send.TempError
			if err := p.Send(ctx, msg(t, "temp@example.com")); !errors.As(err, &te) {
				t.Fatalf("451 to RCPT: %v, want TempError", err)
			}
			if err := p.Send(ctx, msg(t, "data-temp@example.com")); !errors.As(err, &te) {
				t.Fatalf("451 to the data: %v, want TempError", err)
			}
			var pe *send.PermError
			if err := p.Send(ctx, msg(t, "perm@example.com")); !errors.As(err, &pe) {
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
