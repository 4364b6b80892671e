package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/envoi/envoi/internal/address"
	"github.com/envoi/envoi/internal/lists"
	"github.com/envoi/envoi/internal/mailcatcher"
	"github.com/envoi/envoi/internal/testenv"
	"github.com/envoi/envoi/internal/token"
	"github.com/redis/go-redis/v9"
)

// TestStrangersCannotWriteMail (issue 9, section 2): a name typed with an
// anonymous signup never reaches mail sent to someone else, and never changes
// a subscriber; it is applied only when the address's owner POSTs the signed
// confirmation link.
func TestStrangersCannotWriteMail(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	const lure = "Your account is locked. Reset it at https://evil.example/reset"
	signup := func(email, name string) {
		t.Helper()
		if res := ta.postForm("/subscribe/newsletter", url.Values{"email": {email}, "name": {name}, "consent": {"yes"}}); res.Status != 200 {
			t.Fatalf("signup %s: %d %s", email, res.Status, res.Body)
		}
	}
	name := func(email string) string {
		t.Helper()
		var n string
		if err := ta.Store.DB.Get(&n, `SELECT name FROM subscribers WHERE email = $1`, email); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("ConfirmationCarriesNoTypedText", func(t *testing.T) {
		signup("victim@example.com", lure)
		m := ta.waitMail("victim@example.com", 1)[0]
		for _, where := range []string{m.Header("To"), m.Subject(), m.Part("text/plain"), m.Part("text/html"), string(m.Raw)} {
			if strings.Contains(where, "evil.example") || strings.Contains(where, "locked") {
				t.Fatalf("the typed name reached the confirmation mail:\n%s", where)
			}
		}
		if n := name("victim@example.com"); n != "" {
			t.Fatalf("an unconfirmed signup wrote the name %q", n)
		}
	})
	t.Run("ConfirmedSubscriberUnchanged", func(t *testing.T) {
		ta.seed("newsletter", "known", 1, "confirmed")
		if _, err := ta.Store.DB.Exec(`UPDATE subscribers SET name = '' WHERE email = 'known-1@example.com'`); err != nil {
			t.Fatal(err)
		}
		signup("known-1@example.com", lure)
		ta.waitMessagesDone(10 * time.Second)
		if n := name("known-1@example.com"); n != "" {
			t.Fatalf("an anonymous signup filled in a confirmed subscriber's name: %q", n)
		}
		if n := len(ta.SMTP.To("known-1@example.com")); n != 0 {
			t.Fatalf("%d mails to a confirmed subscriber", n)
		}
	})
	t.Run("NameAppliedByTheConfirmation", func(t *testing.T) {
		signup("owner@example.com", "Olive Owner")
		m := ta.waitMail("owner@example.com", 1)[0]
		if strings.Contains(m.Part("text/plain"), "Olive") || strings.Contains(m.Header("To"), "Olive") {
			t.Fatal("the name is in the confirmation mail")
		}
		if n := name("owner@example.com"); n != "" {
			t.Fatalf("name before the confirmation: %q", n)
		}
		if res := ta.do("POST", link(t, m, "confirm"), "", ""); res.Status != 200 {
			t.Fatalf("confirm: %d", res.Status)
		}
		if n := name("owner@example.com"); n != "Olive Owner" {
			t.Fatalf("name after the confirmation: %q", n)
		}
		// The welcome, sent after the confirmation, may greet by name.
		if w := ta.waitMail("owner@example.com", 2)[1]; !strings.Contains(w.Part("text/plain"), "Olive Owner") {
			t.Fatalf("welcome: %s", w.Part("text/plain"))
		}
	})
}

// TestSignupFlood (issue 9, section 1): one client posting signups as fast as
// it can for 10 s gets 429s with Retry-After once over its limit, and nothing
// of a refused request is written or mailed; meanwhile a second client behind
// the same trusted proxy signs up normally, the consent log records each
// client's own IP (not the proxy's), and the server stays healthy.
func TestSignupFlood(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{env: map[string]string{"ENVOI_SIGNUP_LIMIT_PER_IP": "30",
		"ENVOI_SIGNUP_LIMIT_PER_DOMAIN": "600", "ENVOI_TRUSTED_PROXIES": "127.0.0.1"}})
	const flooder, other = "203.0.113.9", "198.51.100.7"
	post := func(ip, email string) response {
		return ta.do("POST", "/subscribe/newsletter", "application/x-www-form-urlencoded",
			url.Values{"email": {email}, "consent": {"yes"}}.Encode(), "X-Forwarded-For", ip)
	}
	accepted, refused, others := 0, 0, 0
	end := time.Now().Add(10 * time.Second)
	for i := 0; time.Now().Before(end); i++ {
		res := post(flooder, fmt.Sprintf("flood-%d@example.com", i))
		switch res.Status {
		case 200:
			accepted++
		case 429:
			refused++
			if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
				t.Fatalf("429 with Retry-After %q", res.Header.Get("Retry-After"))
			}
			if !strings.Contains(res.Body, "Too many requests") {
				t.Fatalf("429 page: %s", res.Body)
			}
		default:
			t.Fatalf("flood request %d: %d %s", i, res.Status, res.Body)
		}
		if i%200 == 0 && others < 5 {
			others++
			if res := post(other, fmt.Sprintf("other-%d@example.com", others)); res.Status != 200 {
				t.Fatalf("the other client's signup during the flood: %d %s", res.Status, res.Body)
			}
		}
	}
	t.Logf("flood: %d accepted, %d refused; other client: %d accepted", accepted, refused, others)
	// GCRA at 30 a minute: a burst of 30, then one every 2 s.
	if accepted < 30 || accepted > 36 || refused == 0 || others != 5 {
		t.Fatalf("flood: %d accepted, %d refused, other client %d", accepted, refused, others)
	}
	if res := ta.get("/healthz"); res.Status != 200 {
		t.Fatalf("healthz after the flood: %d", res.Status)
	}
	// JSON answers the same way over the limit. (A token comes back every 2 s, so
	// the first request after the flood may still pass: post until refused.)
	for i := 0; ; i++ {
		res := ta.do("POST", "/subscribe/newsletter", "application/json", fmt.Sprintf(`{"email":"flood-json-%d@example.com","consent":true}`, i), "X-Forwarded-For", flooder)
		if res.Status == 202 && i < 5 {
			accepted++
			continue
		}
		if res.Status != 429 || !strings.Contains(res.Body, `"error"`) || res.Header.Get("Retry-After") == "" {
			t.Fatalf("JSON over the limit: %d %s", res.Status, res.Body)
		}
		break
	}
	// Nothing of a refused request was written; every accepted one was, with its client's IP.
	ta.waitMessagesDone(30 * time.Second)
	for _, c := range []struct {
		ip, prefix string
		want       int
	}{{flooder, "flood-", accepted}, {other, "other-", others}} {
		if n := ta.count(`SELECT count(*) FROM subscribers WHERE email LIKE $1`, c.prefix+"%"); n != c.want {
			t.Errorf("%s: %d subscribers stored, want %d", c.prefix, n, c.want)
		}
		if n := ta.count(`SELECT count(*) FROM consent_log WHERE host(ip) = $1`, c.ip); n != c.want {
			t.Errorf("consent log: %d events from %s, want %d", n, c.ip, c.want)
		}
		mails := 0
		for _, m := range ta.SMTP.Messages() {
			for _, to := range m.To {
				if strings.HasPrefix(to, c.prefix) {
					mails++
				}
			}
		}
		if mails != c.want {
			t.Errorf("%s: %d confirmation mails, want %d", c.prefix, mails, c.want)
		}
	}
	if n := ta.count(`SELECT count(*) FROM consent_log WHERE host(ip) = '127.0.0.1'`); n != 0 {
		t.Errorf("%d consent events record the proxy's IP", n)
	}
}

// TestSignupHoneypot: a form whose hidden field is filled in gets the usual
// answer, and nothing is stored or sent.
func TestSignupHoneypot(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	res := ta.postForm("/subscribe/newsletter", url.Values{"email": {"bot@example.com"}, "consent": {"yes"}, "website": {"http://spam.example"}})
	if res.Status != 200 || !strings.Contains(res.Body, "inbox") {
		t.Fatalf("honeypot signup: %d %s", res.Status, res.Body)
	}
	ta.signup("human@example.com") // a real signup after it: its mail is the signal that the queue ran
	ta.waitMail("human@example.com", 1)
	ta.waitMessagesDone(10 * time.Second)
	if n := ta.count(`SELECT count(*) FROM subscribers WHERE email = 'bot@example.com'`); n != 0 {
		t.Fatalf("the bot's address was stored")
	}
	if n := len(ta.SMTP.To("bot@example.com")); n != 0 {
		t.Fatalf("%d mails to the bot's address", n)
	}
	if res := ta.get("/subscribe/newsletter"); !strings.Contains(res.Body, `name="website"`) || !strings.Contains(res.Body, `tabindex="-1"`) {
		t.Fatal("the form has no honeypot field")
	}
}

// TestSignupLimits: each limit refuses on its own (per recipient domain, in
// all, the API signup and the resend of a confirmation link too), and 0
// turns a limit off.
func TestSignupLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		try  func(ta *testApp, i int) response
		ok   int // accepted of 8 tries
	}{
		{"PerDomain", map[string]string{"ENVOI_SIGNUP_LIMIT_PER_DOMAIN": "5", "ENVOI_TRUSTED_PROXIES": "127.0.0.1"}, func(ta *testApp, i int) response {
			return ta.do("POST", "/subscribe/newsletter", "application/x-www-form-urlencoded", url.Values{"email": {fmt.Sprintf("d%d@victim.example", i)}, "consent": {"yes"}}.Encode(),
				"X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i+1))
		}, 5},
		{"Global", map[string]string{"ENVOI_SIGNUP_LIMIT_GLOBAL": "3", "ENVOI_TRUSTED_PROXIES": "127.0.0.1"}, func(ta *testApp, i int) response {
			return ta.do("POST", "/subscribe/newsletter", "application/x-www-form-urlencoded", url.Values{"email": {fmt.Sprintf("g%d@d%d.example", i, i)}, "consent": {"yes"}}.Encode(),
				"X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i+1))
		}, 3},
		{"APIPerIP", map[string]string{"ENVOI_SIGNUP_LIMIT_PER_IP": "4"}, func(ta *testApp, i int) response {
			st, m := ta.api("POST", "/api/v1/subscribers", ta.apiKey(), fmt.Sprintf(`{"email":"a%d@example.com","lists":["newsletter"]}`, i))
			return response{Status: st, Body: fmt.Sprint(m)}
		}, 4},
		{"ResendPerIP", map[string]string{"ENVOI_SIGNUP_LIMIT_PER_IP": "2"}, func(ta *testApp, i int) response {
			return ta.do("POST", "/confirm/"+ta.Tokens.Sign(token.Confirm, 1, time.Hour)+"/resend", "", "")
		}, 2},
		{"Off", map[string]string{"ENVOI_SIGNUP_LIMIT_PER_IP": "0", "ENVOI_SIGNUP_LIMIT_PER_DOMAIN": "0"}, func(ta *testApp, i int) response {
			return ta.postForm("/subscribe/newsletter", url.Values{"email": {fmt.Sprintf("o%d@example.com", i)}, "consent": {"yes"}})
		}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ta := startApp(t, appOpts{env: tt.env})
			ok := 0
			for i := 0; i < 8; i++ {
				switch res := tt.try(ta, i); res.Status {
				case 200, 202:
					ok++
				case 429:
				default:
					t.Fatalf("try %d: %d %s", i, res.Status, res.Body)
				}
			}
			if ok != tt.ok {
				t.Fatalf("%d of 8 accepted, want %d", ok, tt.ok)
			}
		})
	}
}

// TestHTTPHygiene (issue 9, section 5): every response carries nosniff and a
// CSP, JSON and static files too; /static/ lists nothing; HEAD is answered
// wherever GET is, without a body; JSON with data after the value is refused;
// HSTS is sent when the public URL is https.
func TestHTTPHygiene(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{env: map[string]string{"ENVOI_BASE_URL": "https://news.example.com"}})
	key := ta.apiKey()
	tests := []struct {
		name, method, path string
		header             []string
		status             int
		body               string // must contain ("" for an empty body)
	}{
		{"HealthJSON", "GET", "/healthz", nil, 200, `"ok"`},
		{"APIUnauthorized", "GET", "/api/v1/lists", nil, 401, `"error"`},
		{"APIJSON", "GET", "/api/v1/lists", []string{"Authorization", "Bearer " + key}, 200, `"items"`},
		{"StaticFile", "GET", "/static/app.css", nil, 200, "Pico"},
		{"Page", "GET", "/subscribe/newsletter", nil, 200, "Subscribe"},
		{"NotFoundPage", "GET", "/nowhere", nil, 404, "Page not found"},
		{"ErrStaticNoListing", "GET", "/static/", nil, 404, "Page not found"},
		{"ErrStaticNoSubdirListing", "GET", "/static/vendor/", nil, 404, "Page not found"},
		{"HeadPage", "HEAD", "/subscribe/newsletter", nil, 200, ""},
		{"HeadHealth", "HEAD", "/healthz", nil, 200, ""},
		{"HeadBadToken", "HEAD", "/confirm/garbage", nil, 400, ""},
		{"HeadAPIStillNeedsKey", "HEAD", "/api/v1/lists", nil, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ta.do(tt.method, tt.path, "", "", tt.header...)
			if res.Status != tt.status {
				t.Fatalf("%s %s: %d, want %d", tt.method, tt.path, res.Status, tt.status)
			}
			if tt.body == "" && res.Body != "" || !strings.Contains(res.Body, tt.body) {
				t.Fatalf("body %q, want it to contain %q", res.Body, tt.body)
			}
			if strings.Contains(res.Body, `<a href="app.css">`) || strings.Contains(res.Body, `<a href="vendor/">`) {
				t.Fatal("directory listing")
			}
			for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Strict-Transport-Security": "max-age="} {
				if !strings.Contains(res.Header.Get(h), want) {
					t.Errorf("%s: %q", h, res.Header.Get(h))
				}
			}
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy: %q", csp)
			}
		})
	}
	t.Run("ErrJSONTrailingData", func(t *testing.T) {
		st, m := ta.api("POST", "/api/v1/lists", key, `{"slug":"extra","name":"Extra"} {"slug":"more"}`)
		if st != 400 || !strings.Contains(fmt.Sprint(m["error"]), "after the JSON value") {
			t.Fatalf("trailing data: %d %v", st, m)
		}
		if n := ta.count(`SELECT count(*) FROM lists WHERE slug = 'extra'`); n != 0 {
			t.Fatal("a list was created from a body with trailing data")
		}
	})
}

// syncBuffer is a bytes.Buffer safe for the log handler and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoAddressInLogsOrQueue (issue 9, section 4): a relay that echoes the
// recipient's address in every refusal (as real relays do) puts it nowhere:
// not in the log, not in the ledgers' error columns, not in the queue's tasks
// in Redis (checked while a message is still being retried), and after the
// subscribers are erased no table holds it.
func TestNoAddressInLogsOrQueue(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	ta := startApp(t, appOpts{logTo: &logs})
	key := ta.apiKey()
	var mu sync.Mutex
	tries := map[string]int{}
	echo := func(code int, to string) error {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 1, 1}, Message: "<" + to + "> refused; " + strings.ToUpper(to) + " is not taking mail"}
	}
	ta.SMTP.SetFault(mailcatcher.Fault{Rcpt: func(to string) error {
		mu.Lock()
		tries[to]++
		n := tries[to]
		mu.Unlock()
		switch {
		case strings.HasPrefix(to, "echo-perm"):
			return echo(550, to)
		case strings.HasPrefix(to, "echo-stuck"):
			return echo(451, to)
		case strings.HasPrefix(to, "echo-temp") && n == 1:
			return echo(451, to)
		}
		return nil
	}})
	for _, e := range []string{"echo-perm@example.com", "echo-temp@example.com", "echo-stuck@example.com"} {
		ta.signup(e)
	}
	ta.seed("newsletter", "echo-perm-c", 2, "confirmed")
	ta.seed("newsletter", "echo-temp-c", 2, "confirmed")
	id := ta.createCampaign(key, `{"name":"n","subject":"s","lists":["newsletter"],"body":"b"}`)
	if st, m := ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), key, ""); st != 202 {
		t.Fatalf("send: %d %v", st, m)
	}
	ta.waitCampaign(id, "sent", 60*time.Second)
	ta.waitFor(30*time.Second, func() error {
		if n := ta.count(`SELECT count(*) FROM transactional_messages WHERE status IN ('sent', 'failed')`); n != 2 {
			return fmt.Errorf("%d confirmations done, want 2", n)
		}
		if n := ta.count(`SELECT attempts FROM transactional_messages tm JOIN subscriptions sn ON sn.id = tm.subscription_id
JOIN subscribers sr ON sr.id = sn.subscriber_id WHERE sr.email = 'echo-stuck@example.com'`); n < 2 {
			return fmt.Errorf("the stuck message was tried %d times", n)
		}
		return nil
	})
	addr := regexp.MustCompile(`(?i)echo-[a-z-]*[0-9]*@example\.com`)
	// The ledgers say why, with the subscriber instead of the address.
	var reasons []string
	if err := ta.Store.DB.Select(&reasons, `SELECT last_error FROM transactional_messages WHERE last_error <> '' UNION ALL SELECT error FROM deliveries WHERE error <> ''`); err != nil {
		t.Fatal(err)
	}
	if len(reasons) < 3 || !strings.Contains(strings.Join(reasons, "\n"), "<subscriber ") {
		t.Fatalf("reasons recorded: %q", reasons)
	}
	// Redis, while the stuck message's task holds its last error.
	rdb := redis.NewClient(mustRedisOpt(t))
	defer rdb.Close()
	ctx := context.Background()
	var scanned int
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		scanned++
		var vals []string
		switch rdb.Type(ctx, k).Val() {
		case "string":
			vals = []string{rdb.Get(ctx, k).Val()}
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				vals = append(vals, f, v)
			}
		case "list":
			vals = rdb.LRange(ctx, k, 0, -1).Val()
		case "set":
			vals = rdb.SMembers(ctx, k).Val()
		case "zset":
			vals = rdb.ZRange(ctx, k, 0, -1).Val()
		}
		for _, v := range append(vals, k) {
			if addr.MatchString(v) {
				t.Errorf("Redis key %s holds an address: %.200q", k, v)
			}
		}
	}
	if err := iter.Err(); err != nil || scanned == 0 {
		t.Fatalf("scan: %v, %d keys", err, scanned)
	}
	if l := logs.String(); addr.MatchString(l) || !strings.Contains(l, "task failed") {
		t.Errorf("log (%d bytes; an address in it, or no failure logged at all):\n%s", len(l), addr.FindString(l))
	}
	// Erase them: no table holds the address any more.
	if _, err := ta.Store.DB.Exec(`DELETE FROM subscribers WHERE email LIKE 'echo-%'`); err != nil {
		t.Fatal(err)
	}
	var tables []string
	if err := ta.Store.DB.Select(&tables, `SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'`); err != nil || len(tables) < 5 {
		t.Fatalf("tables %v, %v", tables, err)
	}
	for _, tb := range tables {
		var dump string
		if err := ta.Store.DB.Get(&dump, `SELECT COALESCE(string_agg(t::text, E'\n'), '') FROM `+tb+` t`); err != nil {
			t.Fatal(err)
		}
		if addr.MatchString(dump) {
			t.Errorf("table %s holds an address after the erasure: %s", tb, addr.FindString(dump))
		}
	}
}

func mustRedisOpt(t *testing.T) *redis.Options {
	o, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestFormOrigins: with ENVOI_FORM_ORIGINS set, a browser posting the signup
// form from another site gets 403 and nothing is stored; the listed site,
// Envoi's own pages and clients that send no Origin are served. The one-click
// unsubscribe stays open to every origin (mail providers post it).
func TestFormOrigins(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{env: map[string]string{"ENVOI_FORM_ORIGINS": "https://www.example.org"}})
	tests := []struct {
		name, origin string
		status       int
	}{
		{"ListedSite", "https://www.example.org", 200},
		{"NoOrigin", "", 200},
		{"OwnPages", strings.TrimSuffix(ta.URL(), "/"), 200},
		{"ErrOtherSite", "https://evil.example", 403},
		{"ErrListedHostOtherScheme", "http://www.example.org", 403},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			email := fmt.Sprintf("origin-%d@example.com", i)
			var h []string
			if tt.origin != "" {
				h = []string{"Origin", tt.origin}
			}
			res := ta.do("POST", "/subscribe/newsletter", "application/x-www-form-urlencoded", url.Values{"email": {email}, "consent": {"yes"}}.Encode(), h...)
			if res.Status != tt.status {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			stored := ta.count(`SELECT count(*) FROM subscribers WHERE email = $1`, email)
			if (tt.status == 200) != (stored == 1) {
				t.Fatalf("status %d, %d subscriber(s) stored", res.Status, stored)
			}
		})
	}
	t.Run("OneClickFromAnywhere", func(t *testing.T) {
		tok := ta.Tokens.Sign(token.Unsubscribe, 1, 0)
		if res := ta.do("POST", "/unsubscribe/"+tok, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click", "Origin", "https://mail.provider.example"); res.Status == 403 {
			t.Fatalf("one-click refused for its origin: %d", res.Status)
		}
	})
}

// TestNewcomerPath (issue 9, section 7, part): a campaign sent without
// ENVOI_POSTAL_ADDRESS says so in the send response; the unsubscribed page
// links back to the signup form.
func TestNewcomerPath(t *testing.T) {
	t.Parallel()
	t.Run("PostalAddressWarning", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			postal string
			warned bool
		}{{"", true}, {"1 Rue X, Paris", false}} {
			ta := startApp(t, appOpts{env: map[string]string{"ENVOI_POSTAL_ADDRESS": tt.postal}})
			key := ta.apiKey()
			id := ta.createCampaign(key, `{"name":"n","subject":"s","lists":["newsletter"],"body":"b"}`)
			st, m := ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), key, "")
			if st != 202 || strings.Contains(fmt.Sprint(m["warnings"]), "ENVOI_POSTAL_ADDRESS") != tt.warned {
				t.Fatalf("postal address %q: %d, warnings %v", tt.postal, st, m["warnings"])
			}
		}
	})
	t.Run("UnsubscribedPageLinksToSignup", func(t *testing.T) {
		t.Parallel()
		ta := startApp(t, appOpts{})
		ta.seed("newsletter", "leaver", 1, "confirmed")
		var sid int64
		if err := ta.Store.DB.Get(&sid, `SELECT sn.id FROM subscriptions sn JOIN subscribers sr ON sr.id = sn.subscriber_id WHERE sr.email = 'leaver-1@example.com'`); err != nil {
			t.Fatal(err)
		}
		res := ta.do("POST", "/unsubscribe/"+ta.Tokens.Sign(token.Unsubscribe, sid, 0), "", "")
		if res.Status != 200 || !strings.Contains(res.Body, `<a href="/subscribe/newsletter">sign up again</a>`) {
			t.Fatalf("unsubscribed page: %d %s", res.Status, res.Body)
		}
	})
}

// TestSignupEveryFieldError: a form with three mistakes shows all three at once,
// next to their fields, and stores nothing; JSON names the first.
func TestSignupEveryFieldError(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	res := ta.postForm("/subscribe/newsletter", url.Values{"email": {"nope"}, "name": {strings.Repeat("n", 201)}})
	if res.Status != 422 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	for _, f := range []string{"email", "name", "consent"} {
		if !strings.Contains(res.Body, `id="`+f+`-error"`) {
			t.Errorf("no message next to %s", f)
		}
	}
	if !strings.Contains(res.Body, "correct the fields") {
		t.Error("the summary does not say several fields")
	}
	st, m := ta.api("POST", "/subscribe/newsletter", "", `{"email":"nope","consent":false}`)
	if st != 422 || m["field"] != "email" {
		t.Fatalf("JSON: %d %v", st, m)
	}
	if n := ta.count(`SELECT count(*) FROM subscribers`); n != 0 {
		t.Fatalf("%d subscribers stored", n)
	}
}

// TestAPIDetails (issue 9, section 6, part): default is among the layouts; a
// send time in the past is refused naming at, a bad one says the form
// expected; a 415 names what the endpoint takes and what it got; `envoi
// campaign watch` shows a campaign and changes nothing.
func TestAPIDetails(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	st, m := ta.api("GET", "/api/v1/layouts", key, "")
	if items, _ := m["items"].([]any); st != 200 || len(items) == 0 || items[0].(map[string]any)["name"] != "default" {
		t.Fatalf("layouts: %d %v", st, m)
	}
	id := ta.createCampaign(key, `{"name":"n","subject":"s","lists":["newsletter"],"body":"b"}`)
	send := fmt.Sprintf("/api/v1/campaigns/%d/send", id)
	if st, m := ta.api("POST", send, key, `{"at":"2020-01-01T09:00:00Z"}`); st != 422 || m["field"] != "at" || !strings.Contains(fmt.Sprint(m["error"]), "past") {
		t.Fatalf("past time: %d %v", st, m)
	}
	if st, m := ta.api("POST", send, key, `{"at":"tomorrow at nine"}`); st != 422 || m["field"] != "at" || !strings.Contains(fmt.Sprint(m["error"]), "2026-12-01T09:00:00Z") {
		t.Fatalf("bad time: %d %v", st, m)
	}
	res := ta.do("POST", "/api/v1/lists", "text/plain", `{"slug":"x","name":"x"}`, "Authorization", "Bearer "+key)
	if res.Status != 415 || !strings.Contains(res.Body, "application/json") || !strings.Contains(res.Body, "text/plain") {
		t.Fatalf("415: %d %s", res.Status, res.Body)
	}
	if c := ta.campaign(id); c.Status != "draft" {
		t.Fatalf("the refused sends changed the campaign: %s", c.Status)
	}
	getenv := func(k string) string { return ta.Env[k] }
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"campaign", "watch", strconv.FormatInt(id, 10)}, &out, &errb, getenv); code != 0 || !strings.Contains(out.String(), "draft") {
		t.Fatalf("watch: %d %s %s", code, out.String(), errb.String())
	}
	if c := ta.campaign(id); c.Status != "draft" {
		t.Fatalf("watch changed the campaign: %s", c.Status)
	}
}

// TestOneMailPerInbox (issue 9, section 1): 24 spellings of one inbox in a
// second (case, +tags, Gmail's dots and googlemail.com) give one confirmation
// mail, as the 15-minute rule says per inbox; another inbox is not held back.
func TestOneMailPerInbox(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	var spellings []string
	for _, local := range []string{"victim", "Victim", "VICTIM", "vic.tim", "v.i.c.t.i.m", "ViC.TiM"} {
		for _, suffix := range []string{"", "+1", "+news"} {
			spellings = append(spellings, local+suffix+"@gmail.com")
		}
	}
	spellings = append(spellings, "victim@googlemail.com", "Vic.Tim@GoogleMail.com", "victim+x@googlemail.com",
		"VICTIM+y@gmail.com", "v.ictim+z@gmail.com", "victi.m@gmail.com")
	if len(spellings) != 24 {
		t.Fatalf("%d spellings", len(spellings))
	}
	start := time.Now()
	for _, e := range spellings {
		if res := ta.signup(e); res.Status != 200 {
			t.Fatalf("signup %s: %d", e, res.Status)
		}
	}
	if res := ta.signup("someone.else@gmail.com"); res.Status != 200 {
		t.Fatal(res.Status)
	}
	t.Logf("25 signups in %v", time.Since(start))
	ta.waitMail("someone.else@gmail.com", 1)
	ta.waitMessagesDone(15 * time.Second)
	mails := 0
	for _, m := range ta.SMTP.Messages() {
		for _, to := range m.To {
			if address.InboxKey(strings.ToLower(to)) == "victim@gmail.com" {
				mails++
			}
		}
	}
	if mails != 1 {
		t.Fatalf("%d confirmation mails to one inbox, want 1", mails)
	}
	if n := ta.count(`SELECT count(*) FROM consent_log WHERE action = 'signup'`); n != 25 {
		t.Fatalf("%d signups logged, want 25 (each request is still recorded)", n)
	}

	// Resending a confirmation claims the inbox too: 16 minutes on, a new
	// spelling gets its mail; a minute later a resend for the first spelling's
	// subscription (its own interval is over) sends nothing, and after the
	// interval it does.
	inboxMails := func() int {
		n := 0
		for _, m := range ta.SMTP.Messages() {
			for _, to := range m.To {
				if address.InboxKey(strings.ToLower(to)) == "victim@gmail.com" {
					n++
				}
			}
		}
		return n
	}
	var first int64
	if err := ta.Store.DB.Get(&first, `SELECT sn.id FROM subscriptions sn JOIN subscribers sr ON sr.id = sn.subscriber_id
		WHERE sn.confirm_requested_at IS NOT NULL AND lower(sr.email) LIKE '%victim%'`); err != nil {
		t.Fatal(err)
	}
	ta.Clock.Advance(16 * time.Minute)
	if res := ta.signup("v.i.c.t.i.m+later@gmail.com"); res.Status != 200 {
		t.Fatal(res.Status)
	}
	ta.waitFor(15*time.Second, func() error {
		if n := inboxMails(); n != 2 {
			return fmt.Errorf("%d mails", n)
		}
		return nil
	})
	ta.Clock.Advance(time.Minute)
	resend := "/confirm/" + ta.Tokens.Sign(token.Confirm, first, time.Hour) + "/resend"
	if res := ta.do("POST", resend, "", ""); res.Status != 200 {
		t.Fatalf("resend: %d %s", res.Status, res.Body)
	}
	ta.waitMessagesDone(15 * time.Second)
	if n := ta.count(`SELECT count(*) FROM transactional_messages WHERE kind = 'confirm' AND subscription_id = $1`, first); n != 1 {
		t.Fatalf("a resend within the inbox's interval queued a mail (%d for the subscription)", n)
	}
	if n := inboxMails(); n != 2 {
		t.Fatalf("%d mails to the inbox after the early resend, want 2", n)
	}
	ta.Clock.Advance(15 * time.Minute)
	if res := ta.do("POST", resend, "", ""); res.Status != 200 {
		t.Fatalf("resend: %d %s", res.Status, res.Body)
	}
	ta.waitFor(15*time.Second, func() error {
		if n := inboxMails(); n != 3 {
			return fmt.Errorf("%d mails, want 3 (the resend after the interval)", n)
		}
		return nil
	})
}

// TestAPISubscriberByID (issue 9, section 6, part): GET /api/v1/subscribers/{id};
// POST …/unsubscribe ends the named lists (all when none), logged with source api.
func TestAPISubscriberByID(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	if _, err := ta.Lists.Create(context.Background(), lists.New{Slug: "offers", Name: "Offers", Description: ""}); err != nil {
		t.Fatal(err)
	}
	ta.seed("newsletter", "byid", 1, "confirmed")
	ta.seed("offers", "byid", 1, "confirmed")
	var id int64
	if err := ta.Store.DB.Get(&id, `SELECT id FROM subscribers WHERE email = 'byid-1@example.com'`); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v1/subscribers/%d", id)
	st, m := ta.api("GET", path, key, "")
	if st != 200 || m["email"] != "byid-1@example.com" || len(m["lists"].([]any)) != 2 {
		t.Fatalf("get: %d %v", st, m)
	}
	for _, bad := range []string{"/api/v1/subscribers/999999", "/api/v1/subscribers/x"} {
		if st, _ := ta.api("GET", bad, key, ""); st != 404 {
			t.Fatalf("%s: %d", bad, st)
		}
	}
	statuses := func(m map[string]any) string {
		var out []string
		for _, l := range m["lists"].([]any) {
			out = append(out, fmt.Sprint(l.(map[string]any)["slug"], "=", l.(map[string]any)["status"]))
		}
		return strings.Join(out, ",")
	}
	st, m = ta.api("POST", path+"/unsubscribe", key, `{"lists":["offers"]}`)
	if st != 200 || statuses(m) != "newsletter=confirmed,offers=unsubscribed" {
		t.Fatalf("unsubscribe from offers: %d %v", st, m)
	}
	if st, m = ta.api("POST", path+"/unsubscribe", key, `{"lists":["nope"]}`); st != 422 || m["field"] != "lists" {
		t.Fatalf("unknown list: %d %v", st, m)
	}
	st, m = ta.api("POST", path+"/unsubscribe", key, "")
	if st != 200 || statuses(m) != "newsletter=unsubscribed,offers=unsubscribed" {
		t.Fatalf("unsubscribe from all: %d %v", st, m)
	}
	if n := ta.count(`SELECT count(*) FROM consent_log WHERE subscriber_id = $1 AND action = 'unsubscribe' AND source = 'api'`, id); n != 2 {
		t.Fatalf("%d unsubscriptions logged, want 2 (the repeat changes nothing)", n)
	}
}

// TestAPIKeys (issue 9, section 6): keys listed (never the key itself),
// created through the API with a scope, a read key refused (403) on every
// write and served on reads, a revoked key refused at once; the CLI lists and
// revokes too.
func TestAPIKeys(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	full := ta.apiKey()
	st, m := ta.api("POST", "/api/v1/apikeys", full, `{"name":"dashboard","scope":"read"}`)
	read, _ := m["key"].(string)
	if st != 201 || m["scope"] != "read" || !strings.HasPrefix(read, "envoi_") {
		t.Fatalf("create read key: %d %v", st, m)
	}
	readID := int64(m["id"].(float64))
	if st, m := ta.api("POST", "/api/v1/apikeys", full, `{"name":"x","scope":"admin"}`); st != 422 || m["field"] != "scope" {
		t.Fatalf("bad scope: %d %v", st, m)
	}
	for _, tt := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/api/v1/lists", "", 200},
		{"GET", "/api/v1/layouts", "", 200},
		{"POST", "/api/v1/lists", `{"slug":"r","name":"R"}`, 403},
		{"POST", "/api/v1/subscribers", `{"email":"r@example.com","lists":["newsletter"]}`, 403},
		{"POST", "/api/v1/apikeys", `{"name":"escalate"}`, 403},
		{"DELETE", fmt.Sprintf("/api/v1/apikeys/%d", readID), "", 403},
	} {
		if st, m := ta.api(tt.method, tt.path, read, tt.body); st != tt.want {
			t.Errorf("read key %s %s: %d %v, want %d", tt.method, tt.path, st, m, tt.want)
		}
	}
	if n := ta.count(`SELECT count(*) FROM lists WHERE slug = 'r'`) + ta.count(`SELECT count(*) FROM subscribers WHERE email = 'r@example.com'`); n != 0 {
		t.Fatal("a read key wrote")
	}
	st, m = ta.api("GET", "/api/v1/apikeys", read, "")
	if items, _ := m["items"].([]any); st != 200 || len(items) != 2 || strings.Contains(fmt.Sprint(m), read) {
		t.Fatalf("list: %d %v", st, m)
	}
	if st, m := ta.api("DELETE", fmt.Sprintf("/api/v1/apikeys/%d", readID), full, ""); st != 200 || m["revoked_at"] == nil {
		t.Fatalf("revoke: %d %v", st, m)
	}
	if st, _ := ta.api("GET", "/api/v1/lists", read, ""); st != 401 {
		t.Fatalf("a revoked key: %d", st)
	}
	if st, _ := ta.api("DELETE", "/api/v1/apikeys/999999", full, ""); st != 404 {
		t.Fatalf("revoke an unknown key: %d", st)
	}
	// The CLI: list shows both, revoked marked; revoke by id.
	getenv := func(k string) string { return ta.Env[k] }
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"apikey", "list"}, &out, &errb, getenv); code != 0 || !strings.Contains(out.String(), "revoked") ||
		!strings.Contains(out.String(), `"dashboard"`) || strings.Contains(out.String(), read) {
		t.Fatalf("apikey list: %d %s %s", code, out.String(), errb.String())
	}
	out.Reset()
	var fullID int64
	if err := ta.Store.DB.Get(&fullID, `SELECT id FROM api_keys WHERE name = 'tests' ORDER BY id LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	if code := run(context.Background(), []string{"apikey", "revoke", strconv.FormatInt(fullID, 10)}, &out, &errb, getenv); code != 0 || !strings.Contains(out.String(), "revoked") {
		t.Fatalf("apikey revoke: %d %s %s", code, out.String(), errb.String())
	}
	if st, _ := ta.api("GET", "/api/v1/lists", full, ""); st != 401 {
		t.Fatalf("the key revoked by the CLI: %d", st)
	}
}

// TestAPICampaigns (issue 9, section 6): list (paged, by status), PATCH of a
// draft or scheduled campaign only (409 otherwise), DELETE of drafts only,
// preview with sample data or a subscriber's, which sends nothing and writes no ledger row.
func TestAPICampaigns(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	ta.seed("newsletter", "prev", 1, "confirmed")
	a := ta.createCampaign(key, `{"name":"a","subject":"Hi {{.Subscriber.Name}}","lists":["newsletter"],"body":"Hello {{.Subscriber.Name}}"}`)
	b := ta.createCampaign(key, `{"name":"b","subject":"s","lists":["newsletter"],"body":"b"}`)
	c := ta.createCampaign(key, `{"name":"c","subject":"s","lists":["newsletter"],"body":"c"}`)
	st, m := ta.api("GET", "/api/v1/campaigns?per_page=2", key, "")
	if items, _ := m["items"].([]any); st != 200 || len(items) != 2 || int64(items[0].(map[string]any)["id"].(float64)) != c || m["next"] == nil {
		t.Fatalf("first page: %d %v", st, m)
	}
	st, m = ta.api("GET", fmt.Sprintf("/api/v1/campaigns?per_page=2&before=%v", m["next"]), key, "")
	if items, _ := m["items"].([]any); st != 200 || len(items) != 1 || int64(items[0].(map[string]any)["id"].(float64)) != a || m["next"] != nil {
		t.Fatalf("second page: %d %v", st, m)
	}
	if st, m := ta.api("GET", "/api/v1/campaigns?status=nope", key, ""); st != 422 || m["field"] != "status" {
		t.Fatalf("bad status: %d %v", st, m)
	}
	// PATCH a draft; a template error is refused at once and changes nothing.
	if st, m := ta.api("PATCH", fmt.Sprintf("/api/v1/campaigns/%d", b), key, `{"subject":"New subject"}`); st != 200 || m["subject"] != "New subject" || m["body"] != "b" {
		t.Fatalf("patch: %d %v", st, m)
	}
	if st, m := ta.api("PATCH", fmt.Sprintf("/api/v1/campaigns/%d", b), key, `{"body":"{{.Nope}}"}`); st != 422 || m["field"] != "body" {
		t.Fatalf("patch with a template error: %d %v", st, m)
	}
	if got := ta.campaign(b); got.Body != "b" {
		t.Fatalf("a refused patch changed the body to %q", got.Body)
	}
	// Preview: sample data, or a subscriber's; nothing sent, no ledger row.
	st, m = ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/preview", a), key, "")
	if st != 200 || m["subject"] != "Hi Ann Example" || !strings.Contains(fmt.Sprint(m["html"]), "Hello Ann Example") || m["text"] == "" {
		t.Fatalf("preview: %d %v", st, m)
	}
	var sid int64
	if err := ta.Store.DB.Get(&sid, `SELECT id FROM subscribers WHERE email = 'prev-1@example.com'`); err != nil {
		t.Fatal(err)
	}
	st, m = ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/preview", a), key, fmt.Sprintf(`{"subscriber_id":%d}`, sid))
	if st != 200 || m["subject"] != "Hi Reader 1" || !strings.Contains(fmt.Sprint(m["html"]), "/unsubscribe/") {
		t.Fatalf("preview for a subscriber: %d %v", st, m)
	}
	if st, m := ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/preview", a), key, `{"subscriber_id":999999}`); st != 422 || m["field"] != "subscriber_id" {
		t.Fatalf("preview for a stranger: %d %v", st, m)
	}
	if n := ta.count(`SELECT count(*) FROM deliveries`); n != 0 || len(ta.SMTP.Messages()) != 0 {
		t.Fatalf("a preview wrote %d ledger rows or sent %d mails", n, len(ta.SMTP.Messages()))
	}
	// Once sent: no PATCH, no DELETE; a draft can be deleted.
	if st, m := ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", a), key, ""); st != 202 {
		t.Fatalf("send: %d %v", st, m)
	}
	ta.waitCampaign(a, "sent", 20*time.Second)
	if st, _ := ta.api("PATCH", fmt.Sprintf("/api/v1/campaigns/%d", a), key, `{"subject":"x"}`); st != 409 {
		t.Fatalf("patch a sent campaign: %d", st)
	}
	if st, _ := ta.api("DELETE", fmt.Sprintf("/api/v1/campaigns/%d", a), key, ""); st != 409 {
		t.Fatalf("delete a sent campaign: %d", st)
	}
	if res := ta.do("DELETE", fmt.Sprintf("/api/v1/campaigns/%d", c), "", "", "Authorization", "Bearer "+key); res.Status != 204 || res.Body != "" {
		t.Fatalf("delete a draft: %d %q", res.Status, res.Body)
	}
	if st, _ := ta.api("GET", fmt.Sprintf("/api/v1/campaigns/%d", c), key, ""); st != 404 {
		t.Fatalf("deleted draft still there: %d", st)
	}
}

// TestAPIListsEdit (issue 9, section 6): PATCH changes a list's name and
// description (checked as at creation); DELETE refuses a list with a campaign
// in progress and deletes one without.
func TestAPIListsEdit(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	if st, m := ta.api("PATCH", "/api/v1/lists/newsletter", key, `{"name":"The Friday Letter"}`); st != 200 || m["name"] != "The Friday Letter" || m["description"] != "News every Friday." {
		t.Fatalf("patch: %d %v", st, m)
	}
	if res := ta.get("/subscribe/newsletter"); !strings.Contains(res.Body, "The Friday Letter") {
		t.Fatal("the form does not show the new name at once")
	}
	if st, m := ta.api("PATCH", "/api/v1/lists/newsletter", key, `{"name":""}`); st != 422 || m["field"] != "name" {
		t.Fatalf("empty name: %d %v", st, m)
	}
	if st, _ := ta.api("PATCH", "/api/v1/lists/nope", key, `{"name":"x"}`); st != 404 {
		t.Fatalf("unknown list: %d", st)
	}
	ta.seed("newsletter", "del", 3, "confirmed")
	id := ta.createCampaign(key, `{"name":"n","subject":"s","lists":["newsletter"],"body":"b"}`)
	at := ta.Clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if st, m := ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), key, `{"at":"`+at+`"}`); st != 202 {
		t.Fatalf("schedule: %d %v", st, m)
	}
	del := func() response {
		return ta.do("DELETE", "/api/v1/lists/newsletter", "", "", "Authorization", "Bearer "+key)
	}
	if res := del(); res.Status != 409 || !strings.Contains(res.Body, "campaign") {
		t.Fatalf("delete with a scheduled campaign: %d %s", res.Status, res.Body)
	}
	if st, _ := ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/cancel", id), key, ""); st != 200 {
		t.Fatal("cancel")
	}
	if res := del(); res.Status != 204 {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	if n := ta.count(`SELECT count(*) FROM subscriptions`); n != 0 {
		t.Fatalf("%d subscriptions left", n)
	}
	if res := ta.get("/subscribe/newsletter"); res.Status != 404 {
		t.Fatalf("the form of a deleted list: %d", res.Status)
	}
}

// TestCLISendScheduled: `envoi campaign send ID` on a scheduled campaign says
// when it starts and does not start it early; --now starts it.
func TestCLISendScheduled(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{noWorker: true})
	key := ta.apiKey()
	id := ta.createCampaign(key, `{"name":"n","subject":"s","lists":["newsletter"],"body":"b"}`)
	at := ta.Clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if st, _ := ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), key, `{"at":"`+at+`"}`); st != 202 {
		t.Fatal("schedule")
	}
	getenv := func(k string) string { return ta.Env[k] }
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"campaign", "send", strconv.FormatInt(id, 10), "--no-wait"}, &out, &errb, getenv); code != 0 ||
		!strings.Contains(out.String(), "scheduled for "+at) || !strings.Contains(out.String(), "--now") {
		t.Fatalf("send on a scheduled campaign: %d %s %s", code, out.String(), errb.String())
	}
	if c := ta.campaign(id); c.Status != "scheduled" {
		t.Fatalf("started early: %s", c.Status)
	}
	out.Reset()
	if code := run(context.Background(), []string{"campaign", "send", strconv.FormatInt(id, 10), "--now", "--no-wait"}, &out, &errb, getenv); code != 0 {
		t.Fatalf("--now: %d %s", code, errb.String())
	}
	if c := ta.campaign(id); c.Status != "sending" && c.Status != "sent" {
		t.Fatalf("--now did not start it: %s", c.Status)
	}
}

// TestTemplateSandboxAPI (issue 9, section 3): the bodies that took seconds
// and gigabytes, or never returned, are refused at save in milliseconds with a
// 422 naming the field, line and column; nothing is stored.
func TestTemplateSandboxAPI(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	for _, tt := range []struct{ path, body, field string }{
		{"/api/v1/campaigns", `{"name":"n","subject":"s","lists":["newsletter"],"format":"html","body":"{{range 200}}{{printf \"%1000000s\" \"\"}}{{end}}"}`, "body"},
		{"/api/v1/campaigns", `{"name":"n","subject":"s","lists":["newsletter"],"body":"{{range 1000000000000}}{{end}}"}`, "body"},
		{"/api/v1/campaigns", `{"name":"n","subject":"{{printf \"%s\" .Subscriber.Name}}","lists":["newsletter"],"body":"b"}`, "subject"},
		{"/api/v1/layouts", `{"name":"loop","html":"<html><body>{{.Content}}{{range 1000000000}}x{{end}}</body></html>"}`, "html"},
	} {
		start := time.Now()
		st, m := ta.api("POST", tt.path, key, tt.body)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s took %v", tt.body, d)
		}
		if st != 422 || m["field"] != tt.field || !strings.Contains(fmt.Sprint(m["error"]), "Line 1, column") {
			t.Errorf("%s: %d %v", tt.body, st, m)
		}
	}
	if n := ta.count(`SELECT count(*) FROM campaigns`) + ta.count(`SELECT count(*) FROM layouts`); n != 0 {
		t.Fatalf("%d rows stored", n)
	}
}

// TestAPIConsentProof (issue 11, part): GET /api/v1/subscribers/{id}/consent
// is the proof of consent: the signup from the form with its IP, user agent
// and the exact text shown, the confirmation, a later unsubscription.
func TestAPIConsentProof(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	if r := ta.do("POST", "/subscribe/newsletter", "application/x-www-form-urlencoded", "email=proof%40example.com&consent=yes", "User-Agent", "ProofBrowser/1.0"); r.Status != 200 {
		t.Fatal(r.Status)
	}
	m := ta.waitMail("proof@example.com", 1)[0]
	ta.do("POST", link(t, m, "confirm"), "", "")
	var id int64
	ta.Store.DB.Get(&id, `SELECT id FROM subscribers WHERE email = 'proof@example.com'`)
	ta.api("POST", fmt.Sprintf("/api/v1/subscribers/%d/unsubscribe", id), key, "")
	st, proof := ta.api("GET", fmt.Sprintf("/api/v1/subscribers/%d/consent", id), key, "")
	if st != 200 {
		t.Fatalf("%d %v", st, proof)
	}
	events := proof["events"].([]any)
	if len(events) != 3 {
		t.Fatalf("%d events: %v", len(events), events)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.(map[string]any)["action"].(string)+"/"+e.(map[string]any)["source"].(string))
	}
	if strings.Join(actions, " ") != "signup/form confirm/link unsubscribe/api" {
		t.Fatalf("events %v", actions)
	}
	first := events[0].(map[string]any)
	if first["ip"] != "127.0.0.1" || first["user_agent"] != "ProofBrowser/1.0" || !strings.HasPrefix(fmt.Sprint(first["text"]), "I agree to receive") {
		t.Fatalf("signup event %v", first)
	}
	if st, _ := ta.api("GET", "/api/v1/subscribers/999999/consent", key, ""); st != 404 {
		t.Fatalf("unknown subscriber: %d", st)
	}
}

// TestAPISuppress (issue 11, part): a complaint or an objection is honoured
// at once: every subscription ends (logged), the subscriber is suppressed and
// a campaign sent afterwards does not reach them while it reaches the others;
// a fresh confirmed opt-in lifts it.
func TestAPISuppress(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	if _, err := ta.Lists.Create(context.Background(), lists.New{Slug: "offers", Name: "Offers"}); err != nil {
		t.Fatal(err)
	}
	ta.seed("newsletter", "sup", 3, "confirmed")
	ta.seed("offers", "sup", 1, "confirmed")
	var id int64
	ta.Store.DB.Get(&id, `SELECT id FROM subscribers WHERE email = 'sup-1@example.com'`)
	path := fmt.Sprintf("/api/v1/subscribers/%d/suppress", id)
	if st, m := ta.api("POST", path, key, `{"reason":"whatever"}`); st != 422 || m["field"] != "reason" {
		t.Fatalf("bad reason: %d %v", st, m)
	}
	if st, _ := ta.api("POST", "/api/v1/subscribers/999999/suppress", key, `{"reason":"complaint"}`); st != 404 {
		t.Fatalf("unknown subscriber: %d", st)
	}
	st, m := ta.api("POST", path, key, `{"reason":"complaint"}`)
	if st != 200 || m["suppressed"] != true || m["suppressed_reason"] != "complaint" {
		t.Fatalf("suppress: %d %v", st, m)
	}
	for _, l := range m["lists"].([]any) {
		if l.(map[string]any)["status"] != "unsubscribed" {
			t.Fatalf("still subscribed: %v", m["lists"])
		}
	}
	if n := ta.count(`SELECT count(*) FROM consent_log WHERE subscriber_id = $1 AND action = 'unsubscribe' AND source = 'api'`, id); n != 2 {
		t.Fatalf("%d unsubscribe events, want 2", n)
	}
	camp := ta.sendCampaign(key)
	ta.waitCampaign(camp, "sent", 30*time.Second)
	if len(ta.SMTP.To("sup-2@example.com")) != 1 || len(ta.SMTP.To("sup-1@example.com")) != 0 {
		t.Fatalf("after the complaint: %d to the others, %d to the suppressed", len(ta.SMTP.To("sup-2@example.com")), len(ta.SMTP.To("sup-1@example.com")))
	}
	// A fresh double opt-in lifts it (a minute on: links are dated to the second,
	// and one dated before the unsubscription is refused as stale).
	ta.Clock.Advance(time.Minute)
	ta.signup("sup-1@example.com")
	ta.do("POST", link(t, ta.waitMail("sup-1@example.com", 1)[0], "confirm"), "", "")
	if _, m := ta.api("GET", fmt.Sprintf("/api/v1/subscribers/%d", id), key, ""); m["suppressed"] != false {
		t.Fatalf("after a fresh opt-in: %v", m)
	}
}
