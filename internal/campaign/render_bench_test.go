package campaign

import (
	"strings"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/config"
	"github.com/envoi/envoi/internal/mail"
	"github.com/envoi/envoi/internal/send"
	"github.com/envoi/envoi/internal/store"
	"github.com/envoi/envoi/templates"
)

// BenchmarkMessage measures what the sender does per recipient before SMTP:
// render the templates, build the MIME message, encode it to bytes.
func BenchmarkMessage(b *testing.B) {
	p := "<p>Dear {{.Subscriber.Name}}, " + strings.Repeat("this is the weekly letter with news, notes and links for our readers. ", 3) + "</p>"
	c := store.Campaign{Name: "bench", Subject: "This week for {{.Subscriber.Name}}", From: "News <news@example.com>",
		Format: "html", Body: "<h1>This week</h1>" + strings.Repeat(p, 12)}
	cc, err := Compile(c, defaultLayout(b), layout)
	if err != nil {
		b.Fatal(err)
	}
	mb, err := mail.NewBuilder(templates.FS, mail.Builder{FromName: "News", FromAddress: "news@example.com", BaseHost: "news.example.com", Now: time.Now})
	if err != nil {
		b.Fatal(err)
	}
	pool := send.NewPool(config.SMTP{Host: "127.0.0.1", Port: 25, TLS: "none"}, 1)
	b.ReportAllocs()
	size := 0
	for b.Loop() {
		subject, html, text, err := cc.Render(reader, layout)
		if err != nil {
			b.Fatal(err)
		}
		m, err := mb.ListMessage("News", "news@example.com", "", mail.Subscriber{Email: "ann@example.com", Name: "Ann"},
			mail.List{Slug: "weekly", Name: "Weekly"}, subject, html, text, reader.UnsubscribeURL)
		if err != nil {
			b.Fatal(err)
		}
		_, _, raw, err := pool.Render(m)
		if err != nil {
			b.Fatal(err)
		}
		size = len(raw)
	}
	b.ReportMetric(float64(size), "bytes/msg")
}
