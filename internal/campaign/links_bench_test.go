package campaign

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/mail"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/token"
	"github.com/envoi/envoi/templates"
)

// BenchmarkMessageLinks is BenchmarkMessage with 10 links in the body: as
// compiled before tracking (links as they are), and compiled for sending with
// click tracking, one token signed per message and the open pixel.
func BenchmarkMessageLinks(b *testing.B) {
	p := "<p>" + strings.Repeat("This is the weekly letter with news, notes and links for our readers. ", 3) + "</p>"
	var links strings.Builder
	for i := range 10 {
		links.WriteString(`<p><a href="https://example.org/story/` + strconv.Itoa(i) + `?utm_source=news">Story ` + strconv.Itoa(i) + `</a></p>`)
	}
	c := model.Campaign{ID: 1, Name: "bench", Subject: "This week for {{.Subscriber.Name}}", From: "News <news@example.com>",
		Format: "html", Body: "<h1>This week</h1><p>Dear {{.Subscriber.Name}},</p>" + strings.Repeat(p, 12) + links.String()}
	signer := token.NewSigner("0123456789abcdef0123456789abcdef-bench")
	mb, err := mail.NewBuilder(templates.FS, mail.Builder{FromName: "News", FromAddress: "news@example.com", BaseHost: "news.example.com", Now: time.Now})
	if err != nil {
		b.Fatal(err)
	}
	for _, tracked := range []bool{false, true} {
		name := "Untouched"
		if tracked {
			name = "Tracked"
		}
		b.Run(name, func(b *testing.B) {
			cc, err := Compile(c, defaultLayout(b), layout)
			if tracked {
				cc, err = CompileForSending(c, defaultLayout(b), layout, true)
			}
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			sid := int64(0)
			for b.Loop() {
				sid++
				f := reader
				if tracked {
					f.Click = "https://news.example.com/r/" + signer.SignCampaign(token.Click, 1, sid)
					f.OpenPixel = "https://news.example.com/o/" + signer.SignCampaign(token.Open, 1, sid)
				}
				sc := GetScratch()
				subject, err := cc.renderEncoded(sc, f, layout, SendDeadline)
				if err != nil {
					b.Fatal(err)
				}
				sc.msg.Reset()
				mb.WriteList(&sc.msg, mail.ListParts{FromName: "News", FromAddress: "news@example.com",
					To: mail.Subscriber{Email: "ann@example.com", Name: "Ann"}, List: mail.List{Slug: "weekly", Name: "Weekly"},
					Subject: subject, Text: sc.text.Bytes(), HTML: sc.html.Bytes(), Encoded: true, UnsubscribeURL: reader.UnsubscribeURL})
				PutScratch(sc)
			}
		})
	}
}
