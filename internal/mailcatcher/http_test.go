package mailcatcher

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"strconv"
	"strings"
	"testing"
)

// TestWebView: a message's page links back to the list and to its raw .eml,
// both of which work, and its HTML preview opens links in a new tab.
func TestWebView(t *testing.T) {
	c := New(0)
	if err := c.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go c.Serve()
	t.Cleanup(func() { c.Close() })
	msg := "From: a@example.com\r\nTo: b@example.com\r\nSubject: Hello\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=B\r\n\r\n" +
		"--B\r\nContent-Type: text/plain\r\n\r\nHi\r\n--B\r\nContent-Type: text/html\r\n\r\n<a href=\"http://x.example/confirm\">Confirm</a>\r\n--B--\r\n"
	if err := smtp.SendMail(c.Addr, nil, "a@example.com", []string{"b@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	msgs := c.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages caught", len(msgs))
	}
	id := strconv.Itoa(msgs[0].ID)
	st, page := get("/messages/" + id)
	if st != 200 || !strings.Contains(page, `href="/"`) || !strings.Contains(page, `href="/messages/`+id+`.eml"`) {
		t.Fatalf("message page: %d\n%s", st, page)
	}
	if !strings.Contains(page, `allow-popups`) || !strings.Contains(page, `&lt;base target=&#34;_blank&#34;&gt;`) {
		t.Fatalf("preview links do not open a new tab:\n%s", page)
	}
	if st, raw := get("/messages/" + id + ".eml"); st != 200 || !strings.Contains(raw, "Subject: Hello") {
		t.Fatalf("raw: %d %s", st, raw)
	}
	if st, list := get("/"); st != 200 || !strings.Contains(list, `href="/messages/`+id+`"`) {
		t.Fatalf("list: %d %s", st, list)
	}
}
