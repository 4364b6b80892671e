package campaign

import (
	"bytes"
	"html"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Click tracking rewrites a campaign's links once, at compile time: each
// http(s) href of the page (body and layout) and each http(s) URL of a
// marketer's own text part becomes {{.Click}}.N, where N is the link's index in
// the campaign (Compiled.Links) and Click the message's /r/{token} prefix: one
// signature per message, whatever the number of links. Personalized URLs
// (with a template action), the unsubscribe and preferences links and mailto:
// are left as they are.

// clickMark stands for the message's Fields.Click in the templates' constant
// text, and pixelMark for its open pixel (nothing when it has none): markWriter
// puts them in as the parts are written. No template action, so no escaper
// runs per link (html/template's three per URL cost more than the rest of a
// message), and the constant text around them keeps its once-per-campaign
// encoding (mail.QPCache knows the same slices).
const (
	clickMark = "ENVOICLICKX"
	pixelMark = "ENVOIPIXELX"
)

// MaxLinks bounds the links of one campaign that are rewritten; later ones stay as they are.
const MaxLinks = 1000

var hrefRE = regexp.MustCompile(`(?i)(<a\b[^>]*?\shref=")([^"]*)(")`)

// textURLRE finds URLs in a marketer's text part; template actions end them.
var textURLRE = regexp.MustCompile(`https?://[^\s<>"'(){}\[\]]+`)

// linkSet numbers a campaign's distinct link targets in order of appearance.
type linkSet struct {
	urls []string
	idx  map[string]int
}

func (ls *linkSet) index(u string) (int, bool) {
	if i, ok := ls.idx[u]; ok {
		return i, true
	}
	if len(ls.urls) >= MaxLinks || len(u) > 4096 {
		return 0, false
	}
	if ls.idx == nil {
		ls.idx = map[string]int{}
	}
	ls.idx[u] = len(ls.urls)
	ls.urls = append(ls.urls, u)
	return len(ls.urls) - 1, true
}

// trackable reports whether a link target is one to rewrite: an absolute
// http(s) URL with no template action or placeholder in it.
func trackable(u string) bool {
	lu := strings.ToLower(u)
	if !strings.HasPrefix(lu, "http://") && !strings.HasPrefix(lu, "https://") {
		return false
	}
	return !strings.Contains(u, "ENVOI") && !strings.Contains(u, "{{") && len(u) > len("https://")
}

// rewriteHrefs rewrites the trackable hrefs of a page (HTML with placeholders
// for actions): attribute values are HTML-escaped, the URLs kept are not.
func (ls *linkSet) rewriteHrefs(page string) string {
	return hrefRE.ReplaceAllStringFunc(page, func(m string) string {
		sub := hrefRE.FindStringSubmatch(m)
		u := strings.TrimSpace(html.UnescapeString(sub[2]))
		if !trackable(u) {
			return m
		}
		i, ok := ls.index(u)
		if !ok {
			return m
		}
		return sub[1] + clickMark + "." + strconv.Itoa(i) + sub[3]
	})
}

// rewriteText rewrites the URLs of a text template source; a URL that runs
// into a template action ({{…}}) is personalized and stays.
func (ls *linkSet) rewriteText(src string) string {
	var b strings.Builder
	last := 0
	for _, loc := range textURLRE.FindAllStringIndex(src, -1) {
		start, end := loc[0], loc[1]
		if end < len(src) && src[end] == '{' {
			continue
		}
		// Sentence punctuation after a URL is not part of it.
		for end > start && strings.IndexByte(".,;:!?", src[end-1]) >= 0 {
			end--
		}
		u := src[start:end]
		if !trackable(u) {
			continue
		}
		i, ok := ls.index(u)
		if !ok {
			continue
		}
		b.WriteString(src[last:start])
		b.WriteString(clickMark + "." + strconv.Itoa(i))
		last = end
	}
	if last == 0 {
		return src
	}
	b.WriteString(src[last:])
	return b.String()
}

// withPixel puts the pixel placeholder at the end of the page's body.
func withPixel(page string) string {
	if i := strings.LastIndex(strings.ToLower(page), "</body>"); i >= 0 {
		return page[:i] + pixelMark + page[i:]
	}
	return page + pixelMark
}

// markWriter replaces clickMark and pixelMark in what passes through it. The
// bytes around a mark go on as sub-slices of the written slice (stable for the
// templates' constant text), the replacements from buffers of its own. A mark
// typed into a field (a subscriber's name) becomes that message's own link:
// nothing of anyone else's.
type markWriter struct {
	w            io.Writer
	click, pixel []byte // what the marks become; reused from message to message
}

func (m *markWriter) reset(w io.Writer, click, pixel string, html bool) {
	m.w = w
	m.click = m.click[:0]
	if html {
		m.click = appendAttr(m.click, click)
	} else {
		m.click = append(m.click, click...)
	}
	m.pixel = m.pixel[:0]
	if pixel != "" && html {
		m.pixel = append(m.pixel, `<img src="`...)
		m.pixel = appendAttr(m.pixel, pixel)
		m.pixel = append(m.pixel, `" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">`...)
	}
}

var markStart = []byte("ENVOI")

func (m *markWriter) Write(p []byte) (int, error) {
	n := len(p)
	for {
		i := bytes.Index(p, markStart)
		if i < 0 {
			break
		}
		rest := p[i:]
		var with []byte
		switch {
		case bytes.HasPrefix(rest, []byte(clickMark)):
			with = m.click
		case bytes.HasPrefix(rest, []byte(pixelMark)):
			with = m.pixel
		default:
			if _, err := m.w.Write(p[:i+len(markStart)]); err != nil {
				return 0, err
			}
			p = p[i+len(markStart):]
			continue
		}
		if i > 0 {
			if _, err := m.w.Write(p[:i]); err != nil {
				return 0, err
			}
		}
		if len(with) > 0 {
			if _, err := m.w.Write(with); err != nil {
				return 0, err
			}
		}
		p = p[i+len(clickMark):] // both marks have the same length
	}
	if len(p) > 0 {
		if _, err := m.w.Write(p); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// appendAttr appends s escaped for a double-quoted HTML attribute. Envoi's own
// URLs (ENVOI_BASE_URL and base64url tokens) need nothing, so this copies.
func appendAttr(b []byte, s string) []byte {
	if !strings.ContainsAny(s, `"&<>'`) {
		return append(b, s...)
	}
	return append(b, html.EscapeString(s)...)
}
