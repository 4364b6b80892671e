package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"mime"
	netmail "net/mail"
	"strings"
	"time"
)

// ListParts is one campaign message for one recipient, already rendered.
type ListParts struct {
	FromName, FromAddress string
	ReplyTo               string
	To                    Subscriber
	List                  List
	Subject               string
	Text, HTML            []byte
	// Encoded: Text and HTML are quoted-printable already (QPWriter).
	Encoded        bool
	UnsubscribeURL string
	// FeedbackID is Gmail's feedback-loop key (campaign mail only).
	FeedbackID string
}

// WriteList writes a complete campaign message (RFC 5322 headers with the list
// headers, multipart/alternative text and HTML) to w. It is the per-recipient
// hot path of a campaign, so it writes the MIME structure itself instead of
// building a go-mail message, with a quoted-printable encoder that copies runs
// of plain bytes (qp.go). The output is checked against go-mail's in the tests
// (same headers, same decoded parts).
func (b *Builder) WriteList(w *bytes.Buffer, p ListParts) {
	b.write(w, p, nil)
}

// write writes a message; extra headers (name, value pairs) come before the
// list headers, which are written when p.UnsubscribeURL is set.
func (b *Builder) write(w *bytes.Buffer, p ListParts, extra []string) {
	var id [16]byte
	rand.Read(id[:])
	var idHex [32]byte
	hex.Encode(idHex[:], id[:])
	boundary := string(idHex[:])

	header(w, "Date", b.Now().Format(time.RFC1123Z))
	header(w, "From", (&netmail.Address{Name: p.FromName, Address: p.FromAddress}).String())
	header(w, "To", (&netmail.Address{Name: p.To.Name, Address: p.To.Email}).String())
	if p.ReplyTo != "" {
		// Formatted again so that a name outside ASCII is RFC 2047 encoded.
		if a, err := netmail.ParseAddress(p.ReplyTo); err == nil {
			header(w, "Reply-To", a.String())
		} else {
			header(w, "Reply-To", encodeWords(p.ReplyTo))
		}
	}
	header(w, "Subject", encodeWords(p.Subject))
	header(w, "Message-ID", "<"+boundary+"@"+domainOf(p.FromAddress)+">")
	header(w, "MIME-Version", "1.0")
	for i := 0; i+1 < len(extra); i += 2 {
		header(w, extra[i], extra[i+1])
	}
	if p.UnsubscribeURL != "" {
		if m := b.UnsubscribeMailto(p.UnsubscribeURL); m != "" {
			header(w, "List-Unsubscribe", "<"+p.UnsubscribeURL+">, <"+m+">")
		} else {
			header(w, "List-Unsubscribe", "<"+p.UnsubscribeURL+">")
		}
		header(w, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
		header(w, "List-Id", quoteListName(p.List.Name)+" <"+p.List.Slug+"."+b.BaseHost+">")
		header(w, "Precedence", "bulk")
	}
	if p.FeedbackID != "" {
		header(w, "Feedback-ID", p.FeedbackID)
		if b.InboundDomain != "" {
			// RFC 9477: where mailbox providers send complaint reports (ARF).
			header(w, "CFBL-Address", "fbl@"+b.InboundDomain+"; report=arf")
		}
	}
	// A fresh random boundary per message: no content can guess it.
	rand.Read(id[:])
	hex.Encode(idHex[:], id[:])
	boundary = "envoi-" + string(idHex[:])
	header(w, "Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	w.WriteString("\r\n")
	part(w, boundary, "text/plain", p.Text, p.Encoded)
	part(w, boundary, "text/html", p.HTML, p.Encoded)
	w.WriteString("--" + boundary + "--\r\n")
}

// UnsubscribeMailto is the mailto URI of List-Unsubscribe for a one-click
// unsubscribe URL (…/unsubscribe/{token}): the same signed token before the
// inbound domain, "" when no inbound domain is configured. Mail to it
// unsubscribes (the inbound listener).
func (b *Builder) UnsubscribeMailto(unsubscribeURL string) string {
	if b.InboundDomain == "" {
		return ""
	}
	i := strings.LastIndex(unsubscribeURL, "/unsubscribe/")
	if i < 0 {
		return ""
	}
	tok := unsubscribeURL[i+len("/unsubscribe/"):]
	if tok == "" || strings.ContainsAny(tok, "/?#@") {
		return ""
	}
	return "mailto:unsubscribe+" + tok + "@" + b.InboundDomain + "?subject=unsubscribe"
}

// header writes one header field, folded at spaces so lines stay short
// (RFC 5322 2.2.3); control characters are dropped so a value cannot start a
// header of its own.
func header(w *bytes.Buffer, name, value string) {
	if strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		value = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, value)
	}
	w.WriteString(name)
	w.WriteString(": ")
	col := len(name) + 2
	for len(value) > 0 {
		if col+len(value) <= 78 {
			w.WriteString(value)
			break
		}
		// Break at the last space that keeps the line within 78, or else at
		// the first space at all (a long word cannot be split).
		cut := strings.LastIndexByte(value[:max(0, min(len(value), 78-col))], ' ')
		if cut <= 0 {
			cut = strings.IndexByte(value[1:], ' ') + 1
			if cut <= 0 {
				w.WriteString(value)
				break
			}
		}
		w.WriteString(value[:cut])
		w.WriteString("\r\n")
		value = value[cut:] // starts with the space: the fold
		col = 0
	}
	w.WriteString("\r\n")
}

// encodeWords returns s as it may stand in a header: unchanged when it is
// printable ASCII, else RFC 2047 encoded words.
func encodeWords(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return mime.QEncoding.Encode("UTF-8", s)
		}
	}
	return s
}

func part(w *bytes.Buffer, boundary, ctype string, body []byte, encoded bool) {
	w.WriteString("--" + boundary + "\r\nContent-Type: " + ctype + "; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	if encoded {
		w.Write(body)
	} else {
		writeQP(w, body)
	}
	w.WriteString("\r\n")
}
