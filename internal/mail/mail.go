// Package mail builds the messages Envoi sends, from the templates in
// templates/mail: multipart text + HTML, with the headers each kind needs
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
	"strings"
	texttemplate "text/template"
	"time"

	gomail "github.com/wneessen/go-mail"
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
}

// Builder renders messages. Build one at start-up; it is safe for concurrent use.
type Builder struct {
	FromName       string
	FromAddress    string
	Org            string
	PostalAddress  string
	PrivacyContact string
	BaseHost       string // host of ENVOI_BASE_URL, for List-Id
	Now            func() time.Time

	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// Kinds of message with templates.
var kinds = []string{"confirm", "welcome"}

// NewBuilder parses the mail templates from fsys (templates.FS).
func NewBuilder(fsys fs.FS, b Builder) (*Builder, error) {
	b.text = map[string]*texttemplate.Template{}
	b.html = map[string]*htmltemplate.Template{}
	for _, k := range kinds {
		t, err := texttemplate.ParseFS(fsys, "mail/"+k+".txt.tmpl")
		if err != nil {
			return nil, fmt.Errorf("parse mail template %s: %w", k, err)
		}
		if t.Lookup("subject") == nil {
			return nil, fmt.Errorf("mail template %s.txt.tmpl defines no subject", k)
		}
		h, err := htmltemplate.ParseFS(fsys, "mail/"+k+".html.tmpl")
		if err != nil {
			return nil, fmt.Errorf("parse mail template %s: %w", k, err)
		}
		b.text[k], b.html[k] = t, h
	}
	if b.Now == nil {
		b.Now = time.Now
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
	ExpiresAt         time.Time
	UnsubscribeURL    string
	WelcomeParagraphs []string
}

// Confirm builds the confirmation request for a signup.
func (b *Builder) Confirm(to Subscriber, l List, confirmURL string, expires time.Time) (*gomail.Msg, error) {
	m, err := b.render("confirm", to, data{Subscriber: to, List: l, ConfirmURL: confirmURL, ExpiresAt: expires})
	if err != nil {
		return nil, err
	}
	// RFC 3834: an automatic reply to a request; auto-responders must not answer it.
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	return m, nil
}

// Welcome builds a list's welcome message, with the list headers every list
// message carries.
func (b *Builder) Welcome(to Subscriber, l List, unsubscribeURL string) (*gomail.Msg, error) {
	d := data{Subscriber: to, List: l, UnsubscribeURL: unsubscribeURL}
	for _, p := range strings.Split(strings.ReplaceAll(l.WelcomeBody, "\r\n", "\n"), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			d.WelcomeParagraphs = append(d.WelcomeParagraphs, p)
		}
	}
	m, err := b.render("welcome", to, d)
	if err != nil {
		return nil, err
	}
	b.SetListHeaders(m, l, unsubscribeURL)
	return m, nil
}

// SetListHeaders adds the headers of list mail: RFC 2369 List-Unsubscribe, RFC
// 8058 one-click List-Unsubscribe-Post, RFC 2919 List-Id, and Precedence: bulk.
func (b *Builder) SetListHeaders(m *gomail.Msg, l List, unsubscribeURL string) {
	m.SetGenHeader("List-Unsubscribe", "<"+unsubscribeURL+">")
	m.SetGenHeader("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	m.SetGenHeader("List-Id", fmt.Sprintf("%s <%s.%s>", quoteListName(l.Name), l.Slug, b.BaseHost))
	m.SetGenHeader("Precedence", "bulk")
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

func (b *Builder) render(kind string, to Subscriber, d data) (*gomail.Msg, error) {
	d.Org, d.PostalAddress, d.PrivacyContact = b.Org, b.PostalAddress, b.PrivacyContact
	var subj, text, html bytes.Buffer
	t := b.text[kind]
	if err := t.ExecuteTemplate(&subj, "subject", d); err != nil {
		return nil, fmt.Errorf("render %s subject: %w", kind, err)
	}
	if err := t.Execute(&text, d); err != nil {
		return nil, fmt.Errorf("render %s text: %w", kind, err)
	}
	if err := b.html[kind].Execute(&html, d); err != nil {
		return nil, fmt.Errorf("render %s html: %w", kind, err)
	}
	m := gomail.NewMsg()
	if err := m.FromFormat(b.FromName, b.FromAddress); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if err := m.AddToFormat(to.Name, to.Email); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	m.Subject(strings.TrimSpace(subj.String()))
	m.SetDateWithValue(b.Now())
	m.SetMessageIDWithValue(newID() + "@" + domainOf(b.FromAddress))
	m.SetBodyString(gomail.TypeTextPlain, text.String())
	m.AddAlternativeString(gomail.TypeTextHTML, html.String())
	return m, nil
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
