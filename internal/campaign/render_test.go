package campaign

import (
	"bytes"
	"flag"
	"io"
	"io/fs"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/templates"
)

func defaultLayout(t testing.TB) string {
	b, err := fs.ReadFile(templates.FS, "mail/campaign_default.html.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (go test -update rewrites it):\n%s", name, path, got)
	}
}

var layout = LayoutFields{Org: "Example News Ltd", PostalAddress: "1 Rue de la Paix, 75002 Paris"}

var reader = Fields{
	Subscriber:     SubscriberFields{Name: "Ann <Lee>", Email: "ann@example.com"},
	List:           ListFields{Name: "The Weekly Letter"},
	UnsubscribeURL: "https://news.example.com/unsubscribe/TOKEN",
	PreferencesURL: "https://news.example.com/preferences/TOKEN",
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name string
		c    model.Campaign
	}{
		{"markdown", model.Campaign{Name: "Nov", Subject: "News for {{.Subscriber.Name}}", From: "News <news@example.com>", Format: "markdown",
			Body: "# Hello {{.Subscriber.Name}}\n\nRead **this** [article](https://example.com/a?x=1&y=2).\n\n- one\n- two\n\n<script>alert(1)</script>\n\n[Leave]({{.UnsubscribeURL}})"}},
		{"html", model.Campaign{Name: "Nov", Subject: "Hi", From: "News <news@example.com>", Format: "html",
			Body: `<h1 style="color:#333">Hi {{.Subscriber.Name}}</h1><p onclick="x()">Text with <a href="javascript:alert(1)">bad</a> and <a href="https://example.com">good</a> links.</p><img src="https://example.com/i.png" alt="pic">`}},
		{"textbody", model.Campaign{Name: "Nov", Subject: "Hi", From: "News <news@example.com>", Format: "markdown",
			Body: "Hello", TextBody: "Plain hello {{.Subscriber.Name}} from {{.List.Name}}."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, err := Compile(tt.c, defaultLayout(t), layout)
			if err != nil {
				t.Fatal(err)
			}
			subject, html, text, err := cc.Render(reader, layout)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, "Subject: "+subject+"\n\n--- HTML\n"+html+"\n--- TEXT\n"+text)
			if strings.Contains(html, "<script") || strings.Contains(html, "javascript:") || strings.Contains(html, "onclick") {
				t.Error("unsafe HTML survived sanitizing")
			}
			if !strings.Contains(html, reader.UnsubscribeURL) || !strings.Contains(text, reader.UnsubscribeURL) {
				t.Error("unsubscribe link missing from a part")
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	base := model.Campaign{Name: "n", Subject: "s", From: "News <news@example.com>", Format: "markdown", Body: "b"}
	tests := []struct {
		name  string
		edit  func(*model.Campaign)
		field string
	}{
		{"ErrUnknownField", func(c *model.Campaign) { c.Body = "{{.Subscriber.Phone}}" }, "body"},
		{"ErrSyntax", func(c *model.Campaign) { c.Body = "{{if}}" }, "body"},
		{"ErrSubject", func(c *model.Campaign) { c.Subject = "{{.Nope}}" }, "subject"},
		{"ErrTextBody", func(c *model.Campaign) { c.TextBody = "{{.Nope}}" }, "text_body"},
		{"ErrFrom", func(c *model.Campaign) { c.From = "nobody" }, "from"},
		{"ErrLayoutWithoutContent", func(c *model.Campaign) { c.Template = "custom" }, "html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.edit(&c)
			src := defaultLayout(t)
			if c.Template != "" {
				src = "no content here"
			}
			_, err := Compile(c, src, layout)
			e, ok := apperr.As(err)
			if !ok || e.Code != apperr.Invalid || e.Field != tt.field {
				t.Fatalf("err = %v, want invalid on %s", err, tt.field)
			}
		})
	}
}

// TestRenderEncoded: the parts encoded while rendering (constant text from the
// per-campaign cache) decode to exactly what render writes, for the first
// recipient and for later ones whose values differ in length.
func TestRenderEncoded(t *testing.T) {
	long := strings.Repeat("A paragraph with “quotes”, = signs and enough words to pass the cache threshold. ", 3)
	for _, c := range []model.Campaign{
		{Name: "Nov", Subject: "News for {{.Subscriber.Name}}", From: "News <news@example.com>", Format: "markdown",
			Body: "# Hello {{.Subscriber.Name}}\r\n\r\n" + long + "\n\n[Leave]({{.UnsubscribeURL}}) " + long},
		{Name: "Nov", Subject: "Hi", From: "News <news@example.com>", Format: "html",
			Body: "<p>" + long + "{{.Subscriber.Name}}" + long + "</p><p>{{.List.Name}}</p>"},
		{Name: "Nov", Subject: "Hi", From: "News <news@example.com>", Format: "markdown",
			Body: long, TextBody: long + "{{.Subscriber.Name}}\n" + long},
	} {
		cc, err := Compile(c, defaultLayout(t), layout)
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range []string{"Ann <Lee>", "Zoé Ünïcödé-Longname", "", "Bob\r"} {
			f := reader
			f.Subscriber.Name = name
			var plain, enc Scratch
			if _, err := cc.render(&plain, f, layout, SendDeadline); err != nil {
				t.Fatal(err)
			}
			if _, err := cc.renderEncoded(&enc, f, layout, SendDeadline); err != nil {
				t.Fatal(err)
			}
			for part, pair := range map[string][2]*bytes.Buffer{"html": {&plain.html, &enc.html}, "text": {&plain.text, &enc.text}} {
				got, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(pair[1].Bytes())))
				if err != nil {
					t.Fatal(err)
				}
				want := strings.ReplaceAll(pair[0].String(), "\n", "\r\n")
				if string(got) != want {
					t.Errorf("recipient %d, %s part decodes to\n%q\nwant\n%q", i, part, got, want)
				}
				if strings.Contains(pair[0].String(), "\r") {
					t.Errorf("recipient %d, %s part holds a CR", i, part)
				}
			}
		}
	}
}
