package main

import (
	"context"
	"net/url"
	"regexp"
	"strconv"
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

// metricValue reads one sample of a Prometheus text page ("" labels: none).
func metricValue(page, name, labels string) float64 {
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	for _, l := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(l, want+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// TestMetrics (issue 13): /metrics counts messages by kind and outcome,
// signups by result, confirmations, unsubscriptions by source and requests by
// route pattern; scraped during a campaign the counters never pass the
// ledger, and once the ledger says it is done they match it. No label holds
// an address or a token.
func TestMetrics(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{env: map[string]string{"ENVOI_SIGNUP_LIMIT_PER_IP": "3"}})
	key := ta.apiKey()
	for _, e := range []string{"m1@example.com", "m2@example.com", "m3@example.com", "m4@example.com"} {
		ta.signup(e)
	}
	ta.postForm("/subscribe/newsletter", url.Values{"email": {"broken"}})
	confirmURL := link(t, ta.waitMail("m1@example.com", 1)[0], "confirm")
	ta.do("POST", confirmURL, "", "")
	ta.seed("newsletter", "met", 40, "confirmed")
	var subID int64
	ta.Store.DB.Get(&subID, `SELECT sn.id FROM subscriptions sn JOIN subscribers s ON s.id = sn.subscriber_id WHERE s.email = 'met-1@example.com'`)
	ta.do("POST", ta.Subscribe.UnsubscribeURL(subID), "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click")

	scrape := func() string {
		r := ta.get("/metrics")
		if r.Status != 200 {
			t.Fatalf("/metrics: %d", r.Status)
		}
		return r.Body
	}
	id := ta.sendCampaign(key)
	ledgerSent := func() float64 {
		return float64(ta.count(`SELECT count(*) FROM deliveries WHERE status = 'sent'`))
	}
	during := scrape()
	if got := metricValue(during, "envoi_messages_total", `kind="campaign",outcome="sent"`); got > ledgerSent() {
		t.Fatalf("during the campaign %v sent counted, the ledger has %v", got, ledgerSent())
	}
	ta.waitCampaign(id, "sent", 30*time.Second)
	ta.waitMessagesDone(15 * time.Second)
	page := scrape()
	for _, c := range []struct {
		name, labels string
		want         float64
	}{
		{"envoi_messages_total", `kind="campaign",outcome="sent"`, ledgerSent()},
		{"envoi_messages_total", `kind="transactional",outcome="sent"`, float64(ta.count(`SELECT count(*) FROM transactional_messages WHERE status = 'sent'`))},
		{"envoi_signups_total", `result="accepted"`, 3},
		{"envoi_signups_total", `result="rate_limited"`, 1},
		{"envoi_signups_total", `result="invalid"`, 1},
		{"envoi_confirmations_total", "", 1},
		{"envoi_unsubscribes_total", `source="one_click"`, 1},
		{"envoi_http_requests_total", `method="POST",route="/subscribe/:slug",status="200"`, 3},
		{"envoi_http_requests_total", `method="POST",route="/subscribe/:slug",status="429"`, 1},
		{"envoi_http_requests_total", `method="POST",route="/subscribe/:slug",status="422"`, 1},
	} {
		if got := metricValue(page, c.name, c.labels); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if ledgerSent() != 40 {
		t.Fatalf("ledger: %v sent, want 40 (40 seeded, one unsubscribed, one signup confirmed)", ledgerSent())
	}
	for _, want := range []string{"envoi_smtp_transaction_seconds_count", "envoi_claim_seconds_count", `envoi_queue_tasks{queue="`, "envoi_http_request_seconds_bucket", "go_goroutines"} {
		if !strings.Contains(page, want) {
			t.Errorf("no %s", want)
		}
	}
	tokens := []string{confirmURL[strings.LastIndex(confirmURL, "/")+1:]}
	u := ta.Subscribe.UnsubscribeURL(subID)
	tokens = append(tokens, u[strings.LastIndex(u, "/")+1:])
	for _, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		if strings.Contains(l, "@") {
			t.Fatalf("a metric line holds an address: %s", l)
		}
		for _, tok := range tokens {
			if strings.Contains(l, tok) {
				t.Fatalf("a metric line holds a token: %s", l)
			}
		}
	}
}

// TestMetricsAddr (issue 13): with ENVOI_METRICS_ADDR the metrics leave the
// public listener for their own.
func TestMetricsAddr(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{env: map[string]string{"ENVOI_METRICS_ADDR": "127.0.0.1:0"}})
	if err := ta.StartMetrics(); err != nil {
		t.Fatal(err)
	}
	if r := ta.get("/metrics"); r.Status != 404 {
		t.Fatalf("/metrics on the web listener: %d", r.Status)
	}
	r := ta.get("http://" + ta.MetricsAddr + "/metrics")
	if r.Status != 200 || !strings.Contains(r.Body, "envoi_messages_total") && !strings.Contains(r.Body, "go_goroutines") {
		t.Fatalf("metrics listener: %d %s", r.Status, r.Body)
	}
}
