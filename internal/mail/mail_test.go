package mail

import (
	"strings"
	"testing"
	"time"

	"github.com/envoi/envoi/templates"
)

// TestTransactionalMessages: confirmations and welcomes, written directly, carry
// the headers of their kind and parts that say what the templates render.
func TestTransactionalMessages(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	b, err := NewBuilder(templates.FS, Builder{FromName: "News", FromAddress: "news@example.com", Org: "Example SA",
		PostalAddress: "1 Rue X, Paris", PrivacyContact: "dpo@example.com", BaseHost: "news.example.com", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	to := Subscriber{Email: "ann@example.com", Name: "Ann Lee"}
	l := List{Slug: "weekly", Name: "Weekly Letter", WelcomeBody: "First paragraph.\r\n\r\nSecond = paragraph, é."}
	t.Run("Confirm", func(t *testing.T) {
		m, err := b.Confirm(to, l, "https://news.example.com/confirm/TOKEN", now.Add(168*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if m.From != "news@example.com" || len(m.To) != 1 || m.To[0] != "ann@example.com" {
			t.Fatalf("envelope %q %q", m.From, m.To)
		}
		p := parse(t, m.Raw)
		for k, want := range map[string]string{"From": `"News" <news@example.com>`, "To": `<ann@example.com>`,
			"Subject": "Confirm your subscription to Weekly Letter", "Auto-Submitted": "auto-generated", "Mime-Version": "1.0"} {
			if p.header[k] != want {
				t.Errorf("%s = %q, want %q", k, p.header[k], want)
			}
		}
		if _, ok := p.header["List-Unsubscribe"]; ok {
			t.Error("a confirmation is not list mail: no List-Unsubscribe")
		}
		for _, ct := range []string{"text/plain", "text/html"} {
			if strings.Contains(p.parts[ct], "Ann") {
				t.Errorf("%s part carries the name typed with the signup:\n%s", ct, p.parts[ct])
			}
			if !strings.Contains(p.parts[ct], "https://news.example.com/confirm/TOKEN") || !strings.Contains(p.parts[ct], "8 December 2026 10:00 UTC") {
				t.Errorf("%s part lacks the link or its expiry:\n%s", ct, p.parts[ct])
			}
		}
	})
	t.Run("Welcome", func(t *testing.T) {
		m, err := b.Welcome(to, l, "https://news.example.com/unsubscribe/TOKEN")
		if err != nil {
			t.Fatal(err)
		}
		p := parse(t, m.Raw)
		for k, want := range map[string]string{"Subject": "Welcome to Weekly Letter", "List-Unsubscribe": "<https://news.example.com/unsubscribe/TOKEN>",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click", "List-Id": `"Weekly Letter" <weekly.news.example.com>`, "Precedence": "bulk"} {
			if p.header[k] != want {
				t.Errorf("%s = %q, want %q", k, p.header[k], want)
			}
		}
		if !strings.Contains(p.parts["text/plain"], "Second = paragraph, é.") || !strings.Contains(p.parts["text/html"], "Second = paragraph, é.") {
			t.Errorf("welcome body lost:\n%s", p.parts["text/plain"])
		}
	})
	t.Run("ErrBadAddress", func(t *testing.T) {
		if _, err := b.Confirm(Subscriber{Email: "not an address"}, l, "u", now); err == nil {
			t.Fatal("built a message to a bad address")
		}
	})
}
