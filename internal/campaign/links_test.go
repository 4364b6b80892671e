package campaign

import (
	"strings"
	"testing"

	"github.com/envoi/envoi/internal/model"
)

func TestCompileForSendingLinks(t *testing.T) {
	body := `<p>Read <a href="https://example.com/a?x=1&amp;y=2">this</a>, <a href="https://example.com/b">that</a>,
<a href="https://example.com/a?x=1&amp;y=2">this again</a>, <a href="mailto:ann@example.com">mail</a>,
<a href="https://example.com/p?e={{.Subscriber.Email}}">yours</a> and <a href="{{.UnsubscribeURL}}">leave</a>.</p>`
	c := model.Campaign{Name: "n", Subject: "s", From: "News <news@example.com>", Format: "html", Body: body}
	f := Fields{Subscriber: SubscriberFields{Name: "Ann", Email: "ann@example.com"}, List: ListFields{Name: "L"},
		UnsubscribeURL: "https://news.example.com/unsubscribe/U", PreferencesURL: "https://news.example.com/unsubscribe/U",
		Click: "https://news.example.com/r/TOK", OpenPixel: "https://news.example.com/o/PIX"}
	tests := []struct {
		name      string
		tracking  bool
		textBody  string
		wantLinks []string
		inHTML    []string
		notInHTML []string
		inText    []string
	}{
		{"Rewritten", true, "", []string{"https://example.com/a?x=1&y=2", "https://example.com/b"},
			[]string{`href="https://news.example.com/r/TOK.0"`, `href="https://news.example.com/r/TOK.1"`, `href="mailto:ann@example.com"`,
				`href="https://example.com/p?e=ann%40example.com"`, `href="https://news.example.com/unsubscribe/U"`, `<img src="https://news.example.com/o/PIX"`},
			[]string{`href="https://example.com/b"`}, []string{"https://news.example.com/r/TOK.1", "https://news.example.com/unsubscribe/U"}},
		{"OwnTextPart", true, "See https://example.com/b. And https://example.com/c?u={{.Subscriber.Email}} or https://example.com/d!",
			// The text part is compiled first: its links come first; the page reuses their indexes.
			[]string{"https://example.com/b", "https://example.com/d", "https://example.com/a?x=1&y=2"},
			[]string{`href="https://news.example.com/r/TOK.2"`, `href="https://news.example.com/r/TOK.0"`}, nil,
			[]string{"See https://news.example.com/r/TOK.0. And https://example.com/c?u=ann@example.com or https://news.example.com/r/TOK.1!"}},
		{"Off", false, "", nil, []string{`href="https://example.com/b"`, `<img src="https://news.example.com/o/PIX"`}, []string{"/r/TOK"}, []string{"https://example.com/b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c
			c.TextBody = tt.textBody
			cc, err := CompileForSending(c, defaultLayout(t), layout, tt.tracking)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(cc.Links(), " ") != strings.Join(tt.wantLinks, " ") {
				t.Fatalf("links %q, want %q", cc.Links(), tt.wantLinks)
			}
			_, html, text, err := cc.Render(f, layout)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.inHTML {
				if !strings.Contains(html, s) {
					t.Errorf("HTML lacks %s:\n%s", s, html)
				}
			}
			for _, s := range tt.notInHTML {
				if strings.Contains(html, s) {
					t.Errorf("HTML has %s", s)
				}
			}
			for _, s := range tt.inText {
				if !strings.Contains(text, s) {
					t.Errorf("text lacks %s:\n%s", s, text)
				}
			}
			// Without a pixel URL, no pixel.
			f2 := f
			f2.OpenPixel = ""
			if _, html, _, _ := cc.Render(f2, layout); strings.Contains(html, "<img") {
				t.Errorf("a pixel without OpenPixel")
			}
		})
	}
	// Compile (previews, tests, saving) leaves links and pixel out.
	cc, err := Compile(c, defaultLayout(t), layout)
	if err != nil {
		t.Fatal(err)
	}
	if _, html, _, _ := cc.Render(f, layout); len(cc.Links()) != 0 || strings.Contains(html, "/r/TOK") || strings.Contains(html, "<img") {
		t.Fatalf("Compile rewrote links or added a pixel:\n%s", html)
	}
}
