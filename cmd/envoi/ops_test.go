package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRequestLog (issue 13): one log line per request with method, route
// pattern, status, duration and request id, without the query string, the
// path's values or an address; the id is the client's X-Request-ID when it is
// a plain token (else a new one), comes back in the response, and is carried
// into the job the request enqueued (its payload in Redis and its log lines).
func TestRequestLog(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	ta := startApp(t, appOpts{logTo: logs})
	res := ta.do("POST", "/subscribe/newsletter?utm_source=secret-campaign", "application/x-www-form-urlencoded",
		"email=logged%40example.com&consent=yes", "X-Request-ID", "req-abc.123")
	if res.Status != 200 || res.Header.Get("X-Request-ID") != "req-abc.123" {
		t.Fatalf("%d, X-Request-ID %q", res.Status, res.Header.Get("X-Request-ID"))
	}
	ta.waitMail("logged@example.com", 1)
	ta.waitFor(10*time.Second, func() error {
		if !strings.Contains(logs.String(), `msg="task done" type=mail:transactional`) {
			return context.DeadlineExceeded
		}
		return nil
	})
	out := logs.String()
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "msg=request") && strings.Contains(l, "request_id=req-abc.123") {
			line = l
		}
	}
	for _, want := range []string{"method=POST", "route=/subscribe/:slug", "status=200", "duration="} {
		if !strings.Contains(line, want) {
			t.Fatalf("request line %q lacks %s", line, want)
		}
	}
	if !strings.Contains(out, "type=mail:transactional") || !regexpMatch(out, `msg="task done" type=mail:transactional message_id=\d+ request_id=req-abc.123`) {
		t.Fatalf("the job's log line does not carry the request id:\n%s", out)
	}
	for _, leak := range []string{"logged@example.com", "logged%40example.com", "utm_source", "secret-campaign"} {
		if strings.Contains(out, leak) {
			t.Fatalf("the log holds %q", leak)
		}
	}
	bad := ta.do("GET", "/healthz", "", "", "X-Request-ID", "has spaces and <html>")
	if id := bad.Header.Get("X-Request-ID"); id == "" || strings.Contains(id, " ") || len(id) != 16 {
		t.Fatalf("a bad X-Request-ID was kept: %q", id)
	}
	if id := ta.get("/healthz").Header.Get("X-Request-ID"); len(id) != 16 {
		t.Fatalf("no id made: %q", id)
	}
}

func regexpMatch(s, expr string) bool { return regexp.MustCompile(expr).MatchString(s) }
