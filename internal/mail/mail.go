// Package mail builds the messages Envoi sends, from the templates in
// templates/mail and the campaigns' own: multipart text + HTML, quoted-printable,
// written directly as bytes (list.go, qp.go), with the headers each kind needs
// (Auto-Submitted on confirmations; List-Unsubscribe, List-Unsubscribe-Post and
// List-Id on list mail). It renders; it never sends and never reads the database.
package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	netmail "net/mail"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/envoi/envoi/internal/locale"
)

// Subscriber is who a message goes to.
type Subscriber struct {
	Email string
	Name  string
}

// List is the list a message is about.
type List struct {
	Slug           string
	Name           string
	WelcomeSubject string
	WelcomeBody    string
	Language       string // of the list's system mails; "" for English
}

// Builder renders messages. Build one at start-up; it is safe for concurrent use.
type Builder struct {
	FromName       string
	FromAddress    string
	Org            string
	PostalAddress  string
	PrivacyContact string
	BaseHost       string // host of ENVOI_BASE_URL, for List-Id
	// InboundDomain (ENVOI_INBOUND_DOMAIN) receives bounces, complaints and
	// unsubscribe mail: when set, List-Unsubscribe also carries
	// mailto:unsubscribe+{token}@InboundDomain and campaign mail a CFBL-Address.
	InboundDomain string
	Now           func() time.Time
	// Locale translates the mails into the list's language; nil: English.
	Locale *locale.Catalog

	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// args makes the data of a translated message ({{.T.T "id" (args "List" .List.Name)}}).
func args(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok {
			m[k] = kv[i+1]
		}
	}
	return m
}

// Kinds of message with templates.
var kinds = []string{"confirm", "welcome", "test", "repermission", "email_change"}

// NewBuilder parses the mail templates from fsys (templates.FS).
func NewBuilder(fsys fs.FS, b Builder) (*Builder, error) {
	b.text = map[string]*texttemplate.Template{}
	b.html = map[string]*htmltemplate.Template{}
	for _, k := range kinds {
		t, err := texttemplate.New(k+".txt.tmpl").Funcs(texttemplate.FuncMap{"args": args}).ParseFS(fsys, "mail/"+k+".txt.tmpl")
		if err != nil {
			return nil, fmt.Errorf("parse mail template %s: %w", k, err)
		}
		if t.Lookup("subject") == nil {
			return nil, fmt.Errorf("mail template %s.txt.tmpl defines no subject", k)
		}
		h, err := htmltemplate.New(k+".html.tmpl").Funcs(htmltemplate.FuncMap{"args": args}).ParseFS(fsys, "mail/"+k+".html.tmpl")
		if err != nil {
			return nil, fmt.Errorf("parse mail template %s: %w", k, err)
		}
		b.text[k], b.html[k] = t, h
	}
	if b.Now == nil {
		b.Now = time.Now
	}
	if b.Locale == nil {
		b.Locale = locale.Builtin()
	}
	return &b, nil
}

type data struct {
	Org               string
	PostalAddress     string
	PrivacyContact    string
	Subscriber        Subscriber
	List              List
	ConfirmURL        string
	Expires           string // "2 January 2006 15:04 MST"
	UnsubscribeURL    string
	WelcomeParagraphs []string
	T                 locale.T // the list's language
	Lang              string
}

// Message is a transactional mail ready to send: envelope and bytes.
type Message struct {
	From string
	To   []string
	Raw  []byte
}

// Confirm builds the confirmation request for a signup. It carries nothing the
// requester typed but the address it goes to (no name in the greeting or in
// To:): whoever fills in a form must not be able to put words into mail the
// organisation sends to someone else.
func (b *Builder) Confirm(to Subscriber, l List, confirmURL string, expires time.Time) (Message, error) {
	to = Subscriber{Email: to.Email}
	d := data{Subscriber: to, List: l, ConfirmURL: confirmURL, Expires: expires.Format("2 January 2006 15:04 MST")}
	// RFC 3834: an automatic reply to a request; auto-responders must not answer it.
	return b.render("confirm", to, d, "", []string{"Auto-Submitted", "auto-generated"})
}

// Welcome builds a list's welcome message, with the list headers every list
// message carries.
func (b *Builder) Welcome(to Subscriber, l List, unsubscribeURL string) (Message, error) {
	d := data{Subscriber: to, List: l, UnsubscribeURL: unsubscribeURL}
	for _, p := range strings.Split(strings.ReplaceAll(l.WelcomeBody, "\r\n", "\n"), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			d.WelcomeParagraphs = append(d.WelcomeParagraphs, p)
		}
	}
	return b.render("welcome", to, d, unsubscribeURL, nil)
}

// Repermission asks a long-inactive subscriber whether they still want a
// list (retention): a confirm link, and the list headers (it is list mail).
func (b *Builder) Repermission(to Subscriber, l List, confirmURL string, expires time.Time, unsubscribeURL string) (Message, error) {
	d := data{Subscriber: to, List: l, ConfirmURL: confirmURL, Expires: expires.Format("2 January 2006"), UnsubscribeURL: unsubscribeURL}
	return b.render("repermission", to, d, unsubscribeURL, nil)
}

// EmailChange asks a new address to confirm that it replaces a subscriber's
// (it goes to the new address; like Confirm, it carries no text the requester typed).
func (b *Builder) EmailChange(newAddress string, l List, confirmURL string, expires time.Time) (Message, error) {
	to := Subscriber{Email: newAddress}
	d := data{Subscriber: to, List: l, ConfirmURL: confirmURL, Expires: expires.Format("2 January 2006 15:04 MST")}
	return b.render("email_change", to, d, "", []string{"Auto-Submitted", "auto-generated"})
}

// Test builds the settings page's test message to a team member.
func (b *Builder) Test(to string) (Message, error) {
	return b.render("test", Subscriber{Email: to}, data{}, "", []string{"Auto-Submitted", "auto-generated"})
}

func quoteListName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, s)
	return `"` + s + `"`
}

// render executes a kind's templates and writes the message directly, as
// WriteList does for campaigns: no go-mail message is built per mail.
func (b *Builder) render(kind string, to Subscriber, d data, unsubscribeURL string, extra []string) (Message, error) {
	d.Org, d.PostalAddress, d.PrivacyContact = b.Org, b.PostalAddress, b.PrivacyContact
	d.T = b.Locale.For(d.List.Language)
	d.Lang = d.T.Lang
	var subj, text, html, msg bytes.Buffer
	t := b.text[kind]
	if err := t.ExecuteTemplate(&subj, "subject", d); err != nil {
		return Message{}, fmt.Errorf("render %s subject: %w", kind, err)
	}
	if err := t.Execute(&text, d); err != nil {
		return Message{}, fmt.Errorf("render %s text: %w", kind, err)
	}
	if err := b.html[kind].Execute(&html, d); err != nil {
		return Message{}, fmt.Errorf("render %s html: %w", kind, err)
	}
	if _, err := netmail.ParseAddress(to.Email); err != nil {
		return Message{}, fmt.Errorf("to: %w", err)
	}
	msg.Grow(text.Len() + html.Len() + 2048)
	b.write(&msg, ListParts{FromName: b.FromName, FromAddress: b.FromAddress, To: to, List: List{Slug: d.List.Slug, Name: d.List.Name},
		Subject: strings.Join(strings.Fields(subj.String()), " "), Text: text.Bytes(), HTML: html.Bytes(), UnsubscribeURL: unsubscribeURL}, extra)
	return Message{From: b.FromAddress, To: []string{to.Email}, Raw: msg.Bytes()}, nil
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "envoi.localhost"
}
