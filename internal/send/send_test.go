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

func TestPool(t *testing.T) {
	t.Parallel()
	c := testenv.SMTP(t)
	c.SetFault(mailcatcher.Fault{
		Data: func(string, []string, []byte) error { time.Sleep(20 * time.Millisecond); return nil },
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
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if err := p.Send(ctx, msg(t, "ok@example.com")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	var te *send.TempError
	if err := p.Send(ctx, msg(t, "temp@example.com")); !errors.As(err, &te) {
		t.Fatalf("451: %v, want TempError", err)
	}
	var pe *send.PermError
	if err := p.Send(ctx, msg(t, "perm@example.com")); !errors.As(err, &pe) {
		t.Fatalf("550: %v, want PermError", err)
	}
	// The connection is still good after refusals.
	if err := p.Send(ctx, msg(t, "ok@example.com")); err != nil {
		t.Fatalf("after refusals: %v", err)
	}
	if n := len(c.To("ok@example.com")); n != 6 {
		t.Fatalf("delivered %d, want 6", n)
	}
}
