package campaign

import (
	"strings"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/mail"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/templates"
)

// BenchmarkMessage measures what the sender does per recipient before SMTP:
// render the templates and write the MIME message to bytes.
func BenchmarkMessage(b *testing.B) {
	// As bench/campaign.sh: ~4 KB of HTML, the name in the subject and once in the body.
	p := "<p>" + strings.Repeat("This is the weekly letter with news, notes and links for our readers. ", 3) + "</p>"
	c := model.Campaign{Name: "bench", Subject: "This week for {{.Subscriber.Name}}", From: "News <news@example.com>",
		Format: "html", Body: "<h1>This week</h1><p>Dear {{.Subscriber.Name}},</p>" + strings.Repeat(p, 12)}
	cc, err := Compile(c, defaultLayout(b), layout)
	if err != nil {
		b.Fatal(err)
	}
	mb, err := mail.NewBuilder(templates.FS, mail.Builder{FromName: "News", FromAddress: "news@example.com", BaseHost: "news.example.com", Now: time.Now})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	size := 0
	for b.Loop() {
		sc := GetScratch()
		subject, err := cc.renderEncoded(sc, reader, layout, SendDeadline)
		if err != nil {
			b.Fatal(err)
		}
		sc.msg.Reset()
		mb.WriteList(&sc.msg, mail.ListParts{FromName: "News", FromAddress: "news@example.com",
			To: mail.Subscriber{Email: "ann@example.com", Name: "Ann"}, List: mail.List{Slug: "weekly", Name: "Weekly"},
			Subject: subject, Text: sc.text.Bytes(), HTML: sc.html.Bytes(), Encoded: true, UnsubscribeURL: reader.UnsubscribeURL})
		size = sc.msg.Len()
		PutScratch(sc)
	}
	b.ReportMetric(float64(size), "bytes/msg")
}
