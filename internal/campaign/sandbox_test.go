package campaign

import (
	"strings"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
)

// TestSandbox (issue 9, section 3): what a template may hold. The attacks seen
// (a loop of huge printf output, a loop that never ends, a javascript: URL
// built from a literal) are refused at save, fast, naming line and column.
func TestSandbox(t *testing.T) {
	layout := "<html><body>{{.Content}}<p>{{.Org}}</p><a href=\"{{.UnsubscribeURL}}\">x</a></body></html>"
	tests := []struct {
		name, field, body, want string // want: "" accepted, else part of the message
	}{
		{"FieldsIfElseWith", "body", "Hi {{with .Subscriber.Name}}{{.}}{{else}}there{{end}}{{if .List.Name}} of {{.List.Name}}{{end}}", ""},
		{"ErrRangePrintf", "body", `{{range 200}}{{printf "%1000000s" ""}}{{end}}`, "Line 1, column 8: {{range}}"},
		{"ErrEndlessRange", "body", "Hello\n{{range 1000000000000}}{{end}}", "Line 2, column 8: {{range}}"},
		{"ErrJavascriptFromLiteral", "body", `<a href="javascript{{":"}}alert(1)">x</a>`, "a literal"},
		{"ErrFunction", "body", `{{len .Subscriber.Name}}`, "function call"},
		{"ErrPipe", "body", `{{.Subscriber.Name | html}}`, "pipe"},
		{"ErrBareFunction", "subject", `{{now}}`, "subject:1: function \"now\" not defined"},
		{"ErrBuiltinFunction", "subject", `{{print .Subscriber.Name}}`, "function call"},
		{"ErrVariable", "body", `{{$x := .Subscriber.Name}}{{$x}}`, "variable"},
		{"ErrDefine", "body", `{{define "x"}}y{{end}}{{template "x"}}`, "define"},
		{"ErrTextBodyLoop", "text_body", "a\nb\n  {{range .Subscriber.Name}}x{{end}}", "Line 3, column 10: {{range}}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := model.Campaign{Name: "n", Subject: "s", From: "News <news@example.com>", Format: "html", Body: "b"}
			switch tt.field {
			case "body":
				c.Body = tt.body
			case "subject":
				c.Subject = tt.body
			case "text_body":
				c.TextBody = tt.body
			}
			start := time.Now()
			_, err := Compile(c, layout, LayoutFields{Org: "Org"})
			if d := time.Since(start); d > time.Second {
				t.Fatalf("took %v", d)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			e, ok := apperr.As(err)
			if !ok || e.Code != apperr.Invalid || e.Field != tt.field || !strings.Contains(e.Message, tt.want) {
				t.Fatalf("err = %v, want invalid on %s saying %q", err, tt.field, tt.want)
			}
		})
	}
	t.Run("ErrLayoutLoop", func(t *testing.T) {
		err := CheckLayout("<html><body>{{.Content}}{{range .Org}}x{{end}}</body></html>")
		if e, ok := apperr.As(err); !ok || e.Field != "html" || !strings.Contains(e.Message, "{{range}}") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestMarkdownTextPart (issue 9, section 7): the text part of a Markdown
// campaign reads as plain prose: no asterisks around bold words, no lines
// holding only a quote marker.
func TestMarkdownTextPart(t *testing.T) {
	c := model.Campaign{Name: "n", Subject: "s", From: "News <news@example.com>", Format: "markdown",
		Body: "**Newsletter**: the week in *short*.\n\n> A quote\n>\n> on two paragraphs.\n\nBye."}
	cc, err := Compile(c, "<html><body>{{.Content}}<a href=\"{{.UnsubscribeURL}}\">u</a></body></html>", LayoutFields{Org: "Org"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, text, err := cc.Render(sample, LayoutFields{Org: "Org"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "Newsletter: the week in short.") || strings.Contains(text, "*") {
		t.Errorf("emphasis in the text part:\n%s", text)
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.Trim(line, "> \t") == "" && strings.Contains(line, ">") {
			t.Errorf("a line with only a quote marker: %q in\n%s", line, text)
		}
	}
	if !strings.Contains(text, "A quote") || !strings.Contains(text, "on two paragraphs.") {
		t.Errorf("the quote was lost:\n%s", text)
	}
}

// TestLayoutSanitized (issue 9, section 3): a marketer's layout is sanitized
// like a body: no script, form, frame, javascript: link or unsafe CSS reaches
// the mail, and the layout's own fields and inlined CSS still work.
func TestLayoutSanitized(t *testing.T) {
	layout := `<html><head><style>p.brand { color: #c00; }</style></head><body>
<script>alert(1)</script><form action="https://evil.example/steal"><input name="password"></form>
<iframe src="https://evil.example"></iframe><a href="javascript:alert(1)">click</a>
<p class="brand" style="position:fixed;top:0;font-size:13px">Brand</p>{{.Content}}
<a href="{{.UnsubscribeURL}}">Unsubscribe</a></body></html>`
	if err := CheckLayout(layout); err != nil {
		t.Fatal(err)
	}
	c := model.Campaign{Name: "n", Subject: "s", From: "News <news@example.com>", Format: "html", Body: "<p>Body</p>", Template: "custom"}
	cc, err := Compile(c, layout, LayoutFields{Org: "Org"})
	if err != nil {
		t.Fatal(err)
	}
	_, html, _, err := cc.Render(sample, LayoutFields{Org: "Org"})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "alert(1)", "<form", "<input", "<iframe", "javascript:", "position"} {
		if strings.Contains(html, bad) {
			t.Errorf("%q reached the mail:\n%s", bad, html)
		}
	}
	for _, good := range []string{"Body", "font-size: 13px", "color: #c00", sample.UnsubscribeURL} {
		if !strings.Contains(html, good) {
			t.Errorf("%q lost:\n%s", good, html)
		}
	}
}

// TestRenderLimits (issue 9, section 3): every render has an output cap and a
// deadline. A body of 20,000 name fields is fine for "Ann Example" but would
// be ~31 MB for a recipient whose name escapes to 1,560 bytes: the render
// stops at the cap, for that recipient only, with an error naming the limit.
func TestRenderLimits(t *testing.T) {
	l := LayoutFields{Org: "Org"}
	body := strings.Repeat("{{.Subscriber.Name}} ", 20000)
	c := model.Campaign{Name: "n", Subject: "s", From: "News <news@example.com>", Format: "html", Body: body}
	cc, err := Compile(c, "<html><body>{{.Content}}<a href=\"{{.UnsubscribeURL}}\">u</a></body></html>", l)
	if err != nil {
		t.Fatal(err)
	}
	long := sample
	long.Subscriber.Name = strings.Repeat(`"<>`, 120)
	for _, tt := range []struct {
		name   string
		f      Fields
		within time.Duration
		want   error
	}{
		// The cap cases get a deadline they cannot reach (the race detector
		// makes 4 MB of rendering slow): they are about the cap.
		{"SampleFits", sample, time.Minute, nil},
		{"OverCap", long, time.Minute, ErrRenderTooLarge},
		{"OverDeadline", sample, time.Nanosecond, ErrRenderTooSlow},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var sc Scratch
			start := time.Now()
			_, err := cc.render(&sc, tt.f, l, tt.within)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), map[error]string{ErrRenderTooLarge: "larger than 4 MB", ErrRenderTooSlow: "too long"}[tt.want]) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if sc.html.Len() > MaxRenderedBytes {
				t.Fatalf("%d bytes written past the cap", sc.html.Len())
			}
			t.Logf("%v after %v, %d bytes", err, time.Since(start), sc.html.Len())
		})
	}
	// The encoded path (the one sends use) stops at the cap too.
	var sc Scratch
	if _, err := cc.renderEncoded(&sc, long, l, time.Minute); err == nil || !strings.Contains(err.Error(), "larger than 4 MB") {
		t.Fatalf("encoded render: %v", err)
	}
}

// TestRenderedPolicy (issue 9, section 3): the HTML policy applies to what is
// sent. checkRendered refuses what the policy would remove from a render; a
// hostile subscriber name is escaped by the template and passes.
func TestRenderedPolicy(t *testing.T) {
	for _, tt := range []struct{ name, html, want string }{
		{"Plain", `<html><head><meta charset="utf-8"></head><body><p style="color:#111;background:#fff">Hi <a href="https://example.com/x">x</a> <a href="mailto:a@example.com">m</a> <a href="/rel">r</a></p></body></html>`, ""},
		{"ErrScript", `<p>x</p><script>alert(1)</script>`, "<script>"},
		{"ErrJavascriptURL", `<a href="javascript:alert(1)">x</a>`, `scheme "javascript"`},
		{"ErrJavascriptURLSpaced", `<a href=" java	script:alert(1)">x</a>`, `scheme "javascript"`},
		{"ErrDataImage", `<img src="data:image/svg+xml;base64,PHN2Zz4=">`, `scheme "data"`},
		{"ErrEventHandler", `<p onclick="x()">x</p>`, "onclick"},
		{"ErrPosition", `<div style="position:fixed;top:0">x</div>`, `"position"`},
		{"ErrBackgroundImage", `<div style="background:url(https://t.example/p.gif)">x</div>`, `"background"`},
		{"ErrForm", `<form action="https://evil.example/"><input name="p"></form>`, "<form>"},
		{"ErrIframe", `<iframe src="https://evil.example/"></iframe>`, "<iframe>"},
		{"ErrMetaRefresh", `<meta http-equiv="refresh" content="0;url=https://evil.example/">`, "http-equiv"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkRendered("body", tt.html)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want it to name %s", err, tt.want)
			}
		})
	}
	// Fields in every context a body may put them: the hostile sample is escaped.
	c := model.Campaign{Name: "n", Subject: "s", From: "News <news@example.com>", Format: "html",
		Body: `<p>{{.Subscriber.Name}}</p><a href="{{.Subscriber.Email}}">e</a><a href="https://x.example/?n={{.Subscriber.Name}}">q</a><span style="color:{{.List.Name}}">c</span>`}
	cc, err := Compile(c, "<html><body>{{.Content}}<a href=\"{{.UnsubscribeURL}}\">u</a></body></html>", LayoutFields{Org: "Org"})
	if err != nil {
		t.Fatal(err)
	}
	_, html, _, err := cc.Render(hostileSample, LayoutFields{Org: "Org"})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkRendered("body", html); err != nil ||
		strings.Contains(html, "<script") || strings.Contains(html, `href="javascript`) || strings.Contains(html, "position:fixed") {
		t.Fatalf("hostile fields got through: %v\n%s", err, html)
	}
}

// hostileSample are fields a stranger could have typed at signup.
var hostileSample = Fields{
	Subscriber:     SubscriberFields{`"><script>alert(1)</script><a href="javascript:alert(2)" onclick="x()">`, `javascript:alert(3)//@example.com`},
	List:           ListFields{`red;position:fixed;background:url(https://t.example/p.gif)`},
	Campaign:       CampaignFields{"Sample", "Sample"},
	UnsubscribeURL: "https://example.com/unsubscribe/x",
	PreferencesURL: "https://example.com/unsubscribe/x",
}
