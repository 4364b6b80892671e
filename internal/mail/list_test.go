package mail

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/envoi/envoi/templates"
	gomail "github.com/wneessen/go-mail"
)

// parsed is what a mail client sees of a message: header values decoded, and
// each part's content type and decoded body.
type parsed struct {
	raw    netmail.Header
	header map[string]string
	parts  map[string]string
}

func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a message: %v\n%s", err, raw)
	}
	p := parsed{raw: m.Header, header: map[string]string{}, parts: map[string]string{}}
	dec := new(mime.WordDecoder)
	for k, v := range m.Header {
		if len(v) != 1 {
			t.Fatalf("header %s appears %d times", k, len(v))
		}
		d, err := dec.DecodeHeader(v[0])
		if err != nil {
			t.Fatalf("header %s: %v", k, err)
		}
		p.header[k] = d
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: %v", m.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := r.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		p.parts[ct] = strings.TrimRight(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	}
	return p
}

// TestWriteListMatchesGoMail: the campaign fast path says what go-mail's
// message says, header by header and part by part, for plain and awkward input.
func TestWriteListMatchesGoMail(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	b, err := NewBuilder(templates.FS, Builder{FromName: "News", FromAddress: "news@example.com", BaseHost: "news.example.com",
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("Très longue ligne avec des accents é à ü, ", 40)
	tests := []struct {
		name string
		p    ListParts
	}{
		{"ascii", ListParts{FromName: "News", FromAddress: "news@example.com", To: Subscriber{"ann@example.com", "Ann"},
			List: List{Slug: "weekly", Name: "Weekly"}, Subject: "This week", Text: []byte("Hello Ann.\n\nBye."),
			HTML: []byte(`<p style="color:red">Hello <b>Ann</b>.</p>`), UnsubscribeURL: "https://news.example.com/u/TOKEN"}},
		{"unicode and long lines", ListParts{FromName: "Les Nouvelles « Hebdo »", FromAddress: "news@example.com", ReplyTo: "Équipe « Hebdo » <team@example.com>",
			To: Subscriber{"zoe@example.com", "Zoé Ünïcödé, \"Jr\""}, List: List{Slug: "hebdo", Name: "L’Hebdo"},
			Subject: "Les nouvelles de la semaine pour Zoé — " + strings.Repeat("encore ", 30), Text: []byte(long + "\n. \n..\nfin  \n"),
			HTML: []byte("<p>" + long + "</p>\r\n<p>=3D ligne</p>"), UnsubscribeURL: "https://news.example.com/u/" + strings.Repeat("T", 200)}},
		{"header injection", ListParts{FromName: "News", FromAddress: "news@example.com", To: Subscriber{"eve@example.com", "Eve\r\nBcc: all@example.com"},
			List: List{Slug: "weekly", Name: "Weekly\r\nX-Evil: 1"}, Subject: "Hi\r\nBcc: all@example.com", Text: []byte("x"),
			HTML: []byte("<p>x</p>"), UnsubscribeURL: "https://news.example.com/u/T"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fast bytes.Buffer
			b.WriteList(&fast, tt.p)
			for _, line := range strings.Split(fast.String(), "\r\n") {
				if len(line) > 998 {
					t.Fatalf("line of %d characters", len(line))
				}
			}
			got := parse(t, fast.Bytes())
			to, err := netmail.ParseAddress(got.raw.Get("To"))
			if err != nil || to.Address != tt.p.To.Email || to.Name != tt.p.To.Name {
				t.Errorf("To: %q (%v), want %q <%s>", got.header["To"], err, tt.p.To.Name, tt.p.To.Email)
			}
			if got.header["Message-Id"] == "" {
				t.Error("no Message-ID")
			}
			if tt.p.ReplyTo != "" {
				raw := got.raw.Get("Reply-To")
				want, _ := netmail.ParseAddress(tt.p.ReplyTo)
				rt, err := netmail.ParseAddress(raw)
				if strings.ContainsFunc(raw, func(r rune) bool { return r > 0x7e }) || err != nil || *rt != *want {
					t.Errorf("Reply-To: %q (%v), want %q RFC 2047 encoded", raw, err, tt.p.ReplyTo)
				}
			}
			for _, h := range []string{"Bcc", "X-Evil"} {
				if _, ok := got.header[h]; ok {
					t.Errorf("injected header %s", h)
				}
			}
			m, err := goMailListMessage(b, tt.p.FromName, tt.p.FromAddress, tt.p.ReplyTo, tt.p.To, tt.p.List, tt.p.Subject,
				string(tt.p.HTML), string(tt.p.Text), tt.p.UnsubscribeURL)
			if strings.ContainsAny(tt.p.To.Name, "\r\n") {
				if err == nil {
					t.Error("go-mail took a name with a line break")
				}
				return // go-mail refuses it; the fast path encodes it, as checked above
			}
			if err != nil {
				t.Fatal(err)
			}
			var ref bytes.Buffer
			if _, err := m.WriteTo(&ref); err != nil {
				t.Fatal(err)
			}
			want := parse(t, ref.Bytes())
			for _, h := range []string{"From", "Subject", "Date", "Mime-Version", "List-Unsubscribe",
				"List-Unsubscribe-Post", "List-Id", "Precedence"} {
				if g, w := got.header[h], want.header[h]; g != w {
					t.Errorf("%s: %q, go-mail says %q", h, g, w)
				}
			}
			if g, w := got.raw.Get("Reply-To"), want.raw.Get("Reply-To"); g != w {
				ga, gerr := netmail.ParseAddress(g)
				wa, werr := netmail.ParseAddress(w)
				if gerr != nil || werr != nil || *ga != *wa {
					t.Errorf("Reply-To: %q, go-mail says %q", g, w)
				}
			}
			for _, ct := range []string{"text/plain", "text/html"} {
				if got.parts[ct] != want.parts[ct] {
					t.Errorf("%s part:\n%q\ngo-mail:\n%q", ct, got.parts[ct], want.parts[ct])
				}
			}
		})
	}
}

// goMailListMessage builds a list message with go-mail, the reference that
// WriteList's output is checked against.
func goMailListMessage(b *Builder, fromName, fromAddress, replyTo string, to Subscriber, l List, subject, html, text, unsubscribeURL string) (*gomail.Msg, error) {
	m := gomail.NewMsg()
	if err := m.FromFormat(fromName, fromAddress); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if err := m.AddToFormat(to.Name, to.Email); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	if replyTo != "" {
		if err := m.ReplyTo(replyTo); err != nil {
			return nil, fmt.Errorf("reply-to: %w", err)
		}
	}
	m.Subject(subject)
	m.SetDateWithValue(b.Now())
	m.SetMessageIDWithValue(newID() + "@" + domainOf(fromAddress))
	m.SetBodyString(gomail.TypeTextPlain, text)
	m.AddAlternativeString(gomail.TypeTextHTML, html)
	m.SetGenHeader("List-Unsubscribe", "<"+unsubscribeURL+">")
	m.SetGenHeader("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	m.SetGenHeader("List-Id", fmt.Sprintf("%s <%s.%s>", quoteListName(l.Name), l.Slug, b.BaseHost))
	m.SetGenHeader("Precedence", "bulk")
	return m, nil
}

// With an inbound domain, List-Unsubscribe carries the https URI and the
// mailto URI with the same token (RFC 2369, RFC 8058), and campaign mail
// (the one with a Feedback-ID) a CFBL-Address (RFC 9477).
func TestWriteListInboundDomain(t *testing.T) {
	tests := []struct {
		name, inbound, unsub, feedback string
		wantUnsub, wantCFBL            string
	}{
		{"no inbound domain", "", "https://news.example.com/unsubscribe/AbC-1_x", "c1:weekly:newsletter:example.com",
			"<https://news.example.com/unsubscribe/AbC-1_x>", ""},
		{"inbound domain", "bounces.example.com", "https://news.example.com/unsubscribe/AbC-1_x", "c1:weekly:newsletter:example.com",
			"<https://news.example.com/unsubscribe/AbC-1_x>, <mailto:unsubscribe+AbC-1_x@bounces.example.com?subject=unsubscribe>",
			"fbl@bounces.example.com; report=arf"},
		{"transactional list mail: no CFBL", "bounces.example.com", "https://news.example.com/unsubscribe/T", "",
			"<https://news.example.com/unsubscribe/T>, <mailto:unsubscribe+T@bounces.example.com?subject=unsubscribe>", ""},
		{"URL of another shape: https only", "bounces.example.com", "https://news.example.com/unsubscribe/test?x=1", "",
			"<https://news.example.com/unsubscribe/test?x=1>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewBuilder(templates.FS, Builder{FromName: "News", FromAddress: "news@example.com", BaseHost: "news.example.com",
				InboundDomain: tt.inbound, Now: time.Now})
			if err != nil {
				t.Fatal(err)
			}
			var w bytes.Buffer
			b.WriteList(&w, ListParts{FromName: "News", FromAddress: "news@example.com", To: Subscriber{"ann@example.com", "Ann"},
				List: List{Slug: "weekly", Name: "Weekly"}, Subject: "Hi", Text: []byte("x"), HTML: []byte("<p>x</p>"),
				UnsubscribeURL: tt.unsub, FeedbackID: tt.feedback})
			got := parse(t, w.Bytes())
			if u := got.header["List-Unsubscribe"]; u != tt.wantUnsub {
				t.Errorf("List-Unsubscribe = %q, want %q", u, tt.wantUnsub)
			}
			if c := got.header["Cfbl-Address"]; c != tt.wantCFBL {
				t.Errorf("CFBL-Address = %q, want %q", c, tt.wantCFBL)
			}
			if got.header["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
				t.Error("no List-Unsubscribe-Post")
			}
		})
	}
}
