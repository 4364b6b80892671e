package campaign

import (
	"bytes"
	"errors"
	htmltemplate "html/template"
	"io"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"

	"github.com/inbucket/html2text"
	"github.com/microcosm-cc/bluemonday"
	"github.com/vanng822/go-premailer/premailer"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	goldmarkhtml "github.com/yuin/goldmark/renderer/html"

	"github.com/envoi/envoi/internal/apperr"
	envoimail "github.com/envoi/envoi/internal/mail"
	"github.com/envoi/envoi/internal/model"
)

// Fields are what a campaign's subject and body may use, documented in the README.
type Fields struct {
	Subscriber     SubscriberFields
	List           ListFields
	Campaign       CampaignFields
	UnsubscribeURL string
	PreferencesURL string
	// Click is the message's /r/{token} prefix of its rewritten links (click
	// tracking); OpenPixel the URL of its open pixel, "" for none.
	Click     string
	OpenPixel string
}

// SubscriberFields: {{.Subscriber.Name}}, {{.Subscriber.Email}}.
type SubscriberFields struct{ Name, Email string }

// ListFields: {{.List.Name}}.
type ListFields struct{ Name string }

// CampaignFields: {{.Campaign.Name}}, {{.Campaign.Subject}}.
type CampaignFields struct{ Name, Subject string }

var sample = Fields{
	Subscriber:     SubscriberFields{"Ann Example", "ann@example.com"},
	List:           ListFields{"Newsletter"},
	Campaign:       CampaignFields{"Sample", "Sample"},
	UnsubscribeURL: "https://example.com/unsubscribe/x",
	PreferencesURL: "https://example.com/preferences/x",
	Click:          "https://example.com/r/x",
}

// Compiled is a campaign ready to render per recipient. Safe for concurrent use.
type Compiled struct {
	Campaign model.Campaign
	From     *mail.Address
	subject  *texttemplate.Template
	body     *htmltemplate.Template
	text     *texttemplate.Template // the marketer's own text part, or nil
	layout   *htmltemplate.Template
	// page is the layout and the body as one template, made once, so that a
	// recipient's HTML is one template execution.
	page *htmltemplate.Template
	// derivedText is the text part made from the HTML once, when text is nil.
	derivedText *texttemplate.Template
	// qpHTML and qpText keep the encodings of the templates' constant text.
	qpHTML, qpText envoimail.QPCache
	// sender is what the layout prints about the sender (Compile's LayoutFields).
	sender LayoutFields
	// links are the campaign's rewritten link targets by index (click tracking).
	links []string
	// marked: the parts hold clickMark or pixelMark (CompileForSending), which
	// markWriter replaces as they are written.
	marked bool
}

// Links returns the targets of the campaign's rewritten links, by index: what
// /r/{token} may redirect to. Empty without click tracking.
func (cc *Compiled) Links() []string { return cc.links }

// pageFields are what the page template reads: the campaign's fields and the
// recipient's rendered subject (layouts may show {{.Subject}}).
// Flat, not embedding Fields: text/template finds promoted fields slowly.
type pageFields struct {
	Subscriber     SubscriberFields
	List           ListFields
	Campaign       CampaignFields
	UnsubscribeURL string
	PreferencesURL string
	Subject        string
}

var actionRE = regexp.MustCompile(`\{\{.*?\}\}`)

// safeCSS are the CSS properties a campaign's or a marketer's layout's style
// attributes may set (issue 9: no position, no url(), nothing that hides or
// overlays): what mail layouts use for colour, type, spacing and boxes.
var safeCSS = []string{
	"color", "background-color", "font-family", "font-size", "font-weight", "font-style", "line-height",
	"letter-spacing", "text-align", "text-decoration", "text-transform", "vertical-align", "white-space", "word-break",
	"margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
	"padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
	"border", "border-top", "border-right", "border-bottom", "border-left", "border-color", "border-style", "border-width",
	"border-radius", "border-collapse", "width", "max-width", "min-width", "height", "max-height", "display",
}

func policy() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowStyles(safeCSS...).Globally()
	// The background shorthand, for colours: never an image (url(), image-set()…).
	p.AllowStyles("background").MatchingHandler(func(v string) bool {
		v = strings.ToLower(v)
		return !strings.Contains(v, "url(") && !strings.Contains(v, "image") && !strings.Contains(v, "expression")
	}).Globally()
	p.AllowAttrs("align", "valign", "width", "height", "bgcolor", "border", "cellpadding", "cellspacing", "role").Globally()
	p.AllowElements("center", "font", "span", "div", "table", "thead", "tbody", "tr", "td", "th")
	return p
}

var sanitizer = policy()

// layoutSanitizer is the body's policy plus the document elements a layout
// has; it applies to marketers' layouts (the default one ships in the binary).
var layoutSanitizer = func() *bluemonday.Policy {
	p := policy()
	p.AllowElements("html", "head", "body", "title")
	p.AllowAttrs("lang").OnElements("html")
	// <meta charset> and <meta name content> (viewport…); never http-equiv.
	p.AllowAttrs("charset", "name", "content").OnElements("meta")
	return p
}()

var md = goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(goldmarkhtml.WithUnsafe()))

// toHTML converts the body to sanitized HTML, keeping template actions intact:
// each {{…}} is swapped for a placeholder that Markdown and the sanitizer leave
// alone, then put back.
func toHTML(format, body string) (string, error) {
	h, actions, err := toPlaceholderHTML(format, body)
	if err != nil {
		return "", err
	}
	return restoreActions(h, actions), nil
}

// toPlaceholderHTML converts and sanitizes the body with every template action
// swapped for a placeholder; restoreActions puts them back.
func toPlaceholderHTML(format, body string) (string, []string, error) {
	var actions []string
	src := actionRE.ReplaceAllStringFunc(body, func(a string) string {
		actions = append(actions, a)
		return "ENVOIACTION" + strconv.Itoa(len(actions)-1) + "X"
	})
	if format == "markdown" {
		var b bytes.Buffer
		if err := md.Convert([]byte(src), &b); err != nil {
			return "", nil, err
		}
		src = b.String()
	}
	return sanitizer.Sanitize(src), actions, nil
}

// restoreActions puts the actions back in one pass (one ReplaceAll per action
// took minutes for a 1 MB body of fields: quadratic).
func restoreActions(s string, actions []string) string {
	if len(actions) == 0 {
		return s
	}
	const mark = "ENVOIACTION"
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.Index(s, mark)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		rest := s[i+len(mark):]
		j := 0
		for j < len(rest) && j < 9 && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if n, err := strconv.Atoi(rest[:j]); err == nil && j < len(rest) && rest[j] == 'X' && n < len(actions) {
			b.WriteString(actions[n])
			s = rest[j+1:]
			continue
		}
		b.WriteString(mark)
		s = rest
	}
}

// textTemplate derives the plain-text part once per campaign: the layout is
// rendered around the placeholder HTML, turned into text (html2text is slow,
// so never per recipient), and the placeholders become template actions again.
func textTemplate(layout *htmltemplate.Template, placeholderHTML string, actions []string, l LayoutFields, links *linkSet) (*texttemplate.Template, error) {
	var page bytes.Buffer
	err := layout.Execute(&page, map[string]any{
		"Content": htmltemplate.HTML(placeholderHTML), "Subject": "", "UnsubscribeURL": "ENVOIUNSUBSCRIBEX", "PreferencesURL": "ENVOIPREFERENCESX",
		"ListName": "ENVOILISTNAMEX", "Org": l.Org, "PostalAddress": l.PostalAddress,
	})
	if err != nil {
		return nil, err
	}
	src := page.String()
	if links != nil {
		src = links.rewriteHrefs(src)
	}
	text, err := html2text.FromString(plainInline(src), html2text.Options{PrettyTables: false})
	if err != nil {
		return nil, err
	}
	text = tidyText(text)
	// Literal braces in the text must not become actions.
	text = strings.ReplaceAll(text, "{{", `{{"{{"}}`)
	text = restoreActions(text, actions)
	text = strings.ReplaceAll(text, "ENVOIUNSUBSCRIBEX", "{{.UnsubscribeURL}}")
	text = strings.ReplaceAll(text, "ENVOIPREFERENCESX", "{{.PreferencesURL}}")
	text = strings.ReplaceAll(text, "ENVOILISTNAMEX", "{{.List.Name}}")
	return texttemplate.New("text").Option("missingkey=error").Parse(text)
}

// pageTemplate renders the layout once around the placeholder HTML, with
// placeholders for what varies per recipient, and parses the result as one
// html/template: the layout's constant parts are escaped once, here, and the
// actions are escaped in their context at each execution, as before.
func pageTemplate(layout *htmltemplate.Template, placeholderHTML string, actions []string, l LayoutFields, o compileOptions) (*htmltemplate.Template, error) {
	var page bytes.Buffer
	err := layout.Execute(&page, map[string]any{
		"Content": htmltemplate.HTML(placeholderHTML), "Subject": "ENVOISUBJECTX", "UnsubscribeURL": "ENVOIUNSUBSCRIBEX", "PreferencesURL": "ENVOIPREFERENCESX",
		"ListName": "ENVOILISTNAMEX", "Org": l.Org, "PostalAddress": l.PostalAddress,
	})
	if err != nil {
		return nil, err
	}
	src := page.String()
	if o.links != nil {
		src = o.links.rewriteHrefs(src)
	}
	if o.pixel {
		src = withPixel(src)
	}
	src = strings.ReplaceAll(src, "{{", `{{"{{"}}`)
	src = restoreActions(src, actions)
	src = strings.NewReplacer("ENVOIUNSUBSCRIBEX", "{{.UnsubscribeURL}}", "ENVOIPREFERENCESX", "{{.PreferencesURL}}", "ENVOILISTNAMEX", "{{.List.Name}}",
		"ENVOISUBJECTX", "{{.Subject}}").Replace(src)
	return htmltemplate.New("page").Option("missingkey=error").Parse(src)
}

// Compile checks a campaign's subject and body and prepares them. Template
// errors come back as invalid with Field subject, body or text_body, so a
// mistake is reported when the campaign is saved, not in the middle of a send.
func Compile(c model.Campaign, layoutSrc string, l LayoutFields) (*Compiled, error) {
	return compile(c, layoutSrc, l, compileOptions{})
}

// CompileForSending is Compile for the messages of a send: with a place for
// the open pixel (Fields.OpenPixel) and, when clickTracking, the links
// rewritten to {{.Click}}.N (Links).
func CompileForSending(c model.Campaign, layoutSrc string, l LayoutFields, clickTracking bool) (*Compiled, error) {
	o := compileOptions{pixel: true}
	if clickTracking {
		o.links = &linkSet{}
	}
	return compile(c, layoutSrc, l, o)
}

// compileOptions: what a send's compilation adds.
type compileOptions struct {
	links *linkSet // nil: links untouched
	pixel bool
}

func compile(c model.Campaign, layoutSrc string, l LayoutFields, o compileOptions) (*Compiled, error) {
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return nil, apperr.FieldError("from", "from must be an address like \"News <news@example.com>\".")
	}
	c.Body, c.TextBody, c.Name, layoutSrc = lf(c.Body), lf(c.TextBody), noCR(c.Name), lf(layoutSrc)
	for _, src := range []struct{ field, src string }{{"subject", c.Subject}, {"body", c.Body}, {"text_body", c.TextBody}, {"html", layoutSrc}} {
		if err := checkTemplate(src.field, src.src); err != nil {
			return nil, err
		}
	}
	cc := &Compiled{Campaign: c, From: from, sender: l}
	if cc.subject, err = texttemplate.New("subject").Option("missingkey=error").Parse(c.Subject); err != nil {
		return nil, apperr.FieldError("subject", "The subject has a template error: "+err.Error())
	}
	placeholderHTML, actions, err := toPlaceholderHTML(c.Format, c.Body)
	if err != nil {
		return nil, apperr.FieldError("body", "The body could not be converted: "+err.Error())
	}
	if cc.body, err = htmltemplate.New("body").Option("missingkey=error").Parse(restoreActions(placeholderHTML, actions)); err != nil {
		return nil, apperr.FieldError("body", "The body has a template error: "+err.Error())
	}
	if strings.TrimSpace(c.TextBody) != "" {
		textSrc := c.TextBody
		if o.links != nil {
			textSrc = o.links.rewriteText(textSrc)
		}
		if cc.text, err = texttemplate.New("text").Option("missingkey=error").Parse(textSrc); err != nil {
			return nil, apperr.FieldError("text_body", "The text body has a template error: "+err.Error())
		}
	}
	if cc.layout, err = parseLayout(layoutSrc, c.Template != "" && c.Template != "default"); err != nil {
		return nil, err
	}
	if cc.text == nil {
		if cc.derivedText, err = textTemplate(cc.layout, placeholderHTML, actions, l, o.links); err != nil {
			return nil, apperr.FieldError("body", "The plain-text part could not be made: "+err.Error())
		}
	}
	if cc.page, err = pageTemplate(cc.layout, placeholderHTML, actions, l, o); err != nil {
		return nil, apperr.FieldError("template", "The layout and the body could not be joined: "+err.Error())
	}
	if o.links != nil {
		cc.links = o.links.urls
	}
	cc.marked = o.pixel || o.links != nil
	// The body alone first, so that its mistakes are reported on the body.
	if err := cc.body.Execute(io.Discard, sample); err != nil {
		return nil, apperr.FieldError("body", "The body has a template error: "+err.Error())
	}
	// What is sent is checked by the HTML policy too (checkRendered).
	_, html, _, err := cc.Render(sample, l)
	if err != nil {
		return nil, err
	}
	if err := checkRendered("body", html); err != nil {
		return nil, err
	}
	return cc, nil
}

// footer is what Envoi adds to a layout that has no unsubscribe link of its own.
const footer = `<p style="font-size:12px;color:#52606d;margin:16px 0 0">You receive this because you subscribed to “{{.ListName}}” from {{.Org}}.
<a href="{{.UnsubscribeURL}}" style="color:#52606d">Unsubscribe</a> with one click.` + prefsFooter + `{{with .PostalAddress}}<br>{{.}}{{end}}</p>`

// prefsFooter is the preferences link (lists, data, erasure) every message carries.
const prefsFooter = `<br><a href="{{.PreferencesURL}}" style="color:#52606d">Your subscriptions and your data</a>`

// parseLayout checks a layout's source: it must show {{.Content}}; a missing
// unsubscribe link is added as a footer; CSS from <style> blocks is inlined
// (mail clients drop <style>), once, here. Codes: invalid (Field html).
func parseLayout(src string, sanitize bool) (*htmltemplate.Template, error) {
	if !strings.Contains(src, "{{.Content}}") {
		return nil, apperr.FieldError("html", "A layout must show the campaign body with {{.Content}}.")
	}
	add := ""
	switch {
	case !strings.Contains(src, "{{.UnsubscribeURL}}"):
		add = footer
	case !strings.Contains(src, "{{.PreferencesURL}}"):
		add = `<p style="font-size:12px;color:#52606d;margin:8px 0 0">` + strings.TrimPrefix(prefsFooter, "<br>") + `</p>`
	}
	if add != "" {
		if i := strings.LastIndex(strings.ToLower(src), "</body>"); i >= 0 {
			src = src[:i] + add + src[i:]
		} else {
			src += add
		}
	}
	if strings.Contains(strings.ToLower(src), "<style") {
		var actions []string
		ph := actionRE.ReplaceAllStringFunc(src, func(a string) string {
			actions = append(actions, a)
			return "ENVOIACTION" + strconv.Itoa(len(actions)-1) + "X"
		})
		pm, err := premailer.NewPremailerFromString(ph, premailer.NewOptions())
		if err != nil {
			return nil, apperr.FieldError("html", "The layout is not valid HTML: "+err.Error())
		}
		out, err := pm.Transform()
		if err != nil {
			return nil, apperr.FieldError("html", "The layout's CSS could not be inlined: "+err.Error())
		}
		src = restoreActions(out, actions)
	}
	if sanitize {
		// After inlining (which needs the <style> blocks): script, forms,
		// frames, javascript: links and unsafe CSS go, as in bodies.
		var actions []string
		ph := actionRE.ReplaceAllStringFunc(src, func(a string) string {
			actions = append(actions, a)
			return "ENVOIACTION" + strconv.Itoa(len(actions)-1) + "X"
		})
		src = restoreActions(layoutSanitizer.Sanitize(ph), actions)
	}
	t, err := htmltemplate.New("layout").Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, apperr.FieldError("html", "The layout has a template error: "+err.Error())
	}
	return t, nil
}

// CheckLayout validates a layout as it will be used.
func CheckLayout(src string) error {
	if err := checkTemplate("html", lf(src)); err != nil {
		return err
	}
	t, err := parseLayout(src, true)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, map[string]any{"Content": htmltemplate.HTML("<p>x</p>"), "Subject": "s",
		"UnsubscribeURL": sample.UnsubscribeURL, "PreferencesURL": sample.PreferencesURL, "ListName": "l", "Org": "o", "PostalAddress": "p"}); err != nil {
		return apperr.FieldError("html", "The layout fails on sample data: "+err.Error())
	}
	return checkRendered("html", b.String())
}

// LayoutFields are the sender's details the layout prints.
type LayoutFields struct {
	Org           string
	PostalAddress string
}

// Render returns subject, HTML and text for one recipient.
func (cc *Compiled) Render(f Fields, l LayoutFields) (subject, html, text string, err error) {
	var sc Scratch
	if subject, err = cc.render(&sc, f, l, SaveDeadline); err != nil {
		return "", "", "", err
	}
	return subject, sc.html.String(), sc.text.String(), nil
}

// Scratch holds one message's buffers; senders reuse them (GetScratch, PutScratch).
type Scratch struct {
	subject, html, text, msg bytes.Buffer
	boundHTML, boundText     boundedWriter
	markHTML, markText       markWriter
}

// HTML is the HTML part the last render wrote.
func (sc *Scratch) HTML() []byte { return sc.html.Bytes() }

// Text is the plain-text part the last render wrote.
func (sc *Scratch) Text() []byte { return sc.text.Bytes() }

// Msg is a buffer for the whole message, reset by the caller.
func (sc *Scratch) Msg() *bytes.Buffer { return &sc.msg }

var scratchPool = sync.Pool{New: func() any { return new(Scratch) }}

// GetScratch takes buffers from the pool; PutScratch gives them back.
func GetScratch() *Scratch { return scratchPool.Get().(*Scratch) }

// PutScratch gives buffers back to the pool.
func PutScratch(sc *Scratch) { scratchPool.Put(sc) }

// RenderEncoded writes one recipient's parts quoted-printable encoded into sc
// (HTML, Text) with the sender's details given at Compile, and returns the subject.
func (cc *Compiled) RenderEncoded(sc *Scratch, f Fields) (subject string, err error) {
	return cc.renderEncoded(sc, f, cc.sender, SendDeadline)
}

// render writes the recipient's HTML and text parts into sc and returns the subject.
func (cc *Compiled) render(sc *Scratch, f Fields, l LayoutFields, within time.Duration) (subject string, err error) {
	sc.html.Reset()
	sc.text.Reset()
	return cc.renderTo(&sc.html, &sc.text, sc, f, l, within)
}

// renderEncoded is render with both parts quoted-printable encoded as they are
// written, the template's constant text encoded once per campaign (mail.QPWriter).
func (cc *Compiled) renderEncoded(sc *Scratch, f Fields, l LayoutFields, within time.Duration) (subject string, err error) {
	sc.html.Reset()
	sc.text.Reset()
	return cc.renderTo(&envoimail.QPWriter{Buf: &sc.html, Cache: &cc.qpHTML},
		&envoimail.QPWriter{Buf: &sc.text, Cache: &cc.qpText}, sc, f, l, within)
}

// Rendering limits. Templates cannot loop (checkTemplate), so a render takes
// time linear in the template's size; still, a 1 MB body made of
// {{.Subscriber.Name}} multiplies, so every render, at save and per recipient,
// stops at MaxRenderedBytes per part and at a deadline.
const MaxRenderedBytes = 4 << 20

var (
	// SaveDeadline bounds the sample renders made when a campaign is saved.
	SaveDeadline = 2 * time.Second
	// SendDeadline bounds one recipient's render.
	SendDeadline = time.Second
)

// ErrRenderTooLarge and ErrRenderTooSlow end a render over the limits.
var (
	ErrRenderTooLarge = errors.New("the rendered message is larger than 4 MB")
	ErrRenderTooSlow  = errors.New("rendering took too long")
)

// boundedWriter passes writes on (the same slices: mail.QPWriter's cache
// knows the template's constant text by them) until the cap or the deadline.
type boundedWriter struct {
	w        io.Writer
	left     int
	deadline time.Time
	writes   int
}

func (b *boundedWriter) reset(w io.Writer, deadline time.Time) {
	b.w, b.left, b.deadline, b.writes = w, MaxRenderedBytes, deadline, 0
}

func (b *boundedWriter) Write(p []byte) (int, error) {
	if len(p) > b.left {
		return 0, ErrRenderTooLarge
	}
	b.left -= len(p)
	// Reading the clock costs more than a write: every 64 writes is enough.
	if b.writes++; b.writes&63 == 0 && time.Now().After(b.deadline) {
		return 0, ErrRenderTooSlow
	}
	return b.w.Write(p)
}

// renderError says which part failed and why, naming the limit when one ended it.
func renderError(field, what string, err error) error {
	switch {
	case errors.Is(err, ErrRenderTooLarge):
		return apperr.FieldError(field, "The "+what+" renders larger than 4 MB; make it shorter.")
	case errors.Is(err, ErrRenderTooSlow):
		return apperr.FieldError(field, "The "+what+" takes too long to render; make it simpler.")
	}
	return apperr.FieldError(field, "The "+what+" has a template error: "+err.Error())
}

func (cc *Compiled) renderTo(html, text io.Writer, sc *Scratch, f Fields, l LayoutFields, within time.Duration) (subject string, err error) {
	deadline := time.Now().Add(within)
	sc.boundHTML.reset(html, deadline)
	sc.boundText.reset(text, deadline)
	html, text = &sc.boundHTML, &sc.boundText
	if cc.marked {
		sc.markHTML.reset(html, f.Click, f.OpenPixel, true)
		sc.markText.reset(text, f.Click, "", false)
		html, text = &sc.markHTML, &sc.markText
	}
	f.Campaign = CampaignFields{Name: cc.Campaign.Name, Subject: cc.Campaign.Subject}
	// No CR reaches the parts but as a line end (see mail.QPWriter).
	f.Subscriber.Name, f.List.Name, f.UnsubscribeURL, f.PreferencesURL = noCR(f.Subscriber.Name), noCR(f.List.Name), noCR(f.UnsubscribeURL), noCR(f.PreferencesURL)
	sc.subject.Reset()
	if err := cc.subject.Execute(&sc.subject, f); err != nil {
		return "", apperr.FieldError("subject", "The subject has a template error: "+err.Error())
	}
	subject = strings.Join(strings.Fields(sc.subject.String()), " ")
	if err := cc.page.Execute(html, pageFields{Subscriber: f.Subscriber, List: f.List, Campaign: f.Campaign,
		UnsubscribeURL: f.UnsubscribeURL, PreferencesURL: f.PreferencesURL, Subject: subject}); err != nil {
		return "", renderError("body", "body", err)
	}
	if cc.text != nil {
		if err := cc.text.Execute(text, f); err != nil {
			return "", renderError("text_body", "text body", err)
		}
		if _, err := io.WriteString(text, "\n\n--\nYou receive this because you subscribed to “"+f.List.Name+"” from "+l.Org+
			".\nUnsubscribe with one click: "+f.UnsubscribeURL+"\nYour subscriptions and your data: "+f.PreferencesURL+"\n"+l.PostalAddress+"\n"); err != nil {
			return "", renderError("text_body", "text body", err)
		}
	} else if err := cc.derivedText.Execute(text, f); err != nil {
		return "", renderError("body", "body", err)
	}
	return subject, nil
}

// noCR drops carriage returns (line ends in sources are made LF at Compile).
func noCR(s string) string {
	if strings.IndexByte(s, '\r') < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\r", "")
}

// lf makes every line end in a template source a LF.
func lf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}
