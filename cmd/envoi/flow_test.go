package main

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestDoubleOptInFlow walks the whole path: signup, confirmation mail, a GET that
// changes nothing, the POST that confirms, the welcome mail with both list
// headers, and the RFC 8058 one-click unsubscribe.
func TestDoubleOptInFlow(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	const addr = "ann@example.com"

	res := ta.signup("  Ann@Example.COM ")
	if res.Status != 200 || !strings.Contains(res.Body, "Check your inbox") {
		t.Fatalf("signup: %d %s", res.Status, res.Body)
	}
	if got := ta.status("Ann@example.com"); got != "unconfirmed" {
		t.Fatalf("after signup status = %s (address must be stored normalized)", got)
	}
	confirmMail := ta.waitMail("Ann@example.com", 1)[0]
	if got := confirmMail.Header("Auto-Submitted"); got != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", got)
	}
	if !strings.Contains(confirmMail.Subject(), "The Weekly Letter") {
		t.Errorf("subject = %q", confirmMail.Subject())
	}
	if confirmMail.Part("text/html") == "" || confirmMail.Part("text/plain") == "" {
		t.Error("confirmation mail is not multipart text + HTML")
	}
	confirmURL := link(t, confirmMail, "confirm")
	if !strings.HasPrefix(confirmURL, ta.Config.BaseURL+"/confirm/") {
		t.Fatalf("confirm link %q does not start with ENVOI_BASE_URL", confirmURL)
	}

	// A GET (a mail scanner) changes nothing.
	for i := 0; i < 3; i++ {
		res = ta.get(confirmURL)
		if res.Status != 200 || !strings.Contains(res.Body, `id="confirm"`) {
			t.Fatalf("GET confirm: %d %s", res.Status, res.Body)
		}
	}
	if got := ta.status("Ann@example.com"); got != "unconfirmed" {
		t.Fatalf("GET confirm changed status to %s", got)
	}

	res = ta.do("POST", confirmURL, "", "")
	if res.Status != 200 || !strings.Contains(res.Body, "you are subscribed") {
		t.Fatalf("POST confirm: %d %s", res.Status, res.Body)
	}
	if got := ta.status("Ann@example.com"); got != "confirmed" {
		t.Fatalf("after POST confirm status = %s", got)
	}
	// Repeating is harmless: same page, one confirm in the log, one welcome mail.
	if res = ta.do("POST", confirmURL, "", ""); res.Status != 200 {
		t.Fatalf("second POST confirm: %d", res.Status)
	}

	msgs := ta.waitMail("Ann@example.com", 2)
	welcome := msgs[1]
	unsubURL := link(t, welcome, "unsubscribe")
	if got := welcome.Header("List-Unsubscribe"); got != "<"+unsubURL+">" {
		t.Errorf("List-Unsubscribe = %q, want <%s>", got, unsubURL)
	}
	if got := welcome.Header("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post = %q", got)
	}
	if !strings.Contains(welcome.Header("List-Id"), "newsletter.127.0.0.1") {
		t.Errorf("List-Id = %q", welcome.Header("List-Id"))
	}
	if !strings.Contains(welcome.Part("text/html"), unsubURL) {
		t.Error("welcome HTML part lacks the unsubscribe link")
	}
	if !strings.Contains(welcome.Part("text/plain"), "1 Rue de la Paix") {
		t.Error("welcome mail lacks the postal address")
	}

	// GET unsubscribe changes nothing.
	if res = ta.get(unsubURL); res.Status != 200 || ta.status(addr[:0]+"Ann@example.com") != "confirmed" {
		t.Fatalf("GET unsubscribe: %d, status %s", res.Status, ta.status("Ann@example.com"))
	}
	// RFC 8058 one-click, as a mail provider sends it.
	res = ta.do("POST", unsubURL, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click")
	if res.Status != 200 {
		t.Fatalf("one-click: %d %s", res.Status, res.Body)
	}
	if res.Header.Get("Location") != "" || res.Header.Get("Set-Cookie") != "" {
		t.Errorf("one-click answered with a redirect or cookie: %v", res.Header)
	}
	if got := ta.status("Ann@example.com"); got != "unsubscribed" {
		t.Fatalf("after one-click status = %s", got)
	}
	if res = ta.do("POST", unsubURL, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click"); res.Status != 200 {
		t.Fatalf("repeated one-click: %d", res.Status)
	}
	// The old confirmation link does not resubscribe them.
	if res = ta.do("POST", confirmURL, "", ""); res.Status != 410 || ta.status("Ann@example.com") != "unsubscribed" {
		t.Fatalf("stale confirm after unsubscribe: %d, status %s", res.Status, ta.status("Ann@example.com"))
	}
	if got, want := ta.consentActions("Ann@example.com"), "signup/form,confirm/link,unsubscribe/one_click"; got != want {
		t.Errorf("consent log = %s, want %s", got, want)
	}
	var version, ua string
	if err := ta.Store.DB.QueryRow(`SELECT consent_text_version, user_agent FROM consent_log WHERE action = 'signup'`).Scan(&version, &ua); err != nil {
		t.Fatal(err)
	}
	if n := ta.count(`SELECT count(*) FROM consent_texts WHERE version = $1 AND body LIKE '%The Weekly Letter%'`, version); n != 1 {
		t.Errorf("consent text version %q not stored with its text", version)
	}
	ta.waitMessagesDone(15 * time.Second)
	if n := len(ta.SMTP.To("Ann@example.com")); n != 2 {
		t.Errorf("got %d messages, want exactly 2 (confirmation + welcome)", n)
	}
}

// TestSignupRevealsNothing: new, pending, confirmed and unsubscribed addresses get
// byte-identical answers, on the form and in JSON.
func TestSignupRevealsNothing(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	ta.signup("pending@example.com")
	ta.signup("confirmed@example.com")
	ta.signup("gone@example.com")
	ta.do("POST", link(t, ta.waitMail("confirmed@example.com", 1)[0], "confirm"), "", "")
	ta.do("POST", link(t, ta.waitMail("gone@example.com", 1)[0], "confirm"), "", "")
	ta.do("POST", link(t, ta.waitMail("gone@example.com", 2)[1], "unsubscribe"), "", "")
	ta.waitMail("confirmed@example.com", 2)
	ta.Clock.Advance(16 * time.Minute) // past the confirmation rate limit
	before := len(ta.SMTP.To("confirmed@example.com"))

	var html, js []response
	for _, a := range []string{"new@example.com", "pending@example.com", "confirmed@example.com", "gone@example.com"} {
		html = append(html, ta.signup(a))
		js = append(js, ta.do("POST", "/subscribe/newsletter", "application/json", `{"email":"`+a+`","consent":true}`))
	}
	for i := range html {
		if html[i].Status != html[0].Status || html[i].Body != html[0].Body {
			t.Errorf("form answer %d differs: %d vs %d", i, html[i].Status, html[0].Status)
		}
		if js[i].Status != 202 || js[i].Body != js[0].Body {
			t.Errorf("JSON answer %d differs: %d %s", i, js[i].Status, js[i].Body)
		}
	}
	// New, pending and unsubscribed get a confirmation; confirmed gets nothing.
	ta.waitMail("new@example.com", 1)
	ta.waitMail("pending@example.com", 2)
	ta.waitMail("gone@example.com", 3)
	ta.waitMessagesDone(15 * time.Second)
	if n := len(ta.SMTP.To("confirmed@example.com")); n != before {
		t.Errorf("confirmed address got %d new message(s)", n-before)
	}
	if got := ta.status("gone@example.com"); got != "unsubscribed" {
		t.Errorf("re-signup changed an unsubscribed status to %s before confirmation", got)
	}
}

// TestSignupBadInput: each bad input gets a clear message next to the field, the
// typed values back, and nothing is stored or sent.
func TestSignupBadInput(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	long := strings.Repeat("x", 201)
	tests := []struct {
		name, contentType, body string
		status                  int
		field, message, kept    string
	}{
		{"ErrEmailInvalid", "application/x-www-form-urlencoded", "email=ann%40example&name=Ann+Lee&consent=yes", 422, "email", "not a valid domain", `value="Ann Lee"`},
		{"ErrEmailMissing", "application/x-www-form-urlencoded", "name=Ann&consent=yes", 422, "email", "Enter an email address", `value="Ann"`},
		{"ErrConsentMissing", "application/x-www-form-urlencoded", "email=ann%40example.com&name=Ann", 422, "consent", "Tick the box", `value="ann@example.com"`},
		{"ErrNameTooLong", "application/x-www-form-urlencoded", "email=ann%40example.com&consent=yes&name=" + long, 422, "name", "under 200 characters", `value="ann@example.com"`},
		{"ErrEmailTooLong", "application/x-www-form-urlencoded", "consent=yes&email=" + strings.Repeat("a", 300) + "%40example.com", 422, "email", "too long", `checked`},
		{"ErrBodyTooLarge", "application/x-www-form-urlencoded", "consent=yes&email=a%40example.com&name=" + strings.Repeat("x", 70000), 413, "", "too large", ""},
		{"ErrJSONEmail", "application/json", `{"email":"nope","consent":true}`, 422, "email", "@", ""},
		{"ErrJSONConsent", "application/json", `{"email":"ann@example.com"}`, 422, "consent", "Tick the box", ""},
		{"ErrJSONMalformed", "application/json", `{"email":`, 400, "", "not valid JSON", ""},
		{"ErrContentType", "text/plain", `email=ann@example.com`, 415, "", "urlencoded", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ta.do("POST", "/subscribe/newsletter", tt.contentType, tt.body)
			if res.Status != tt.status {
				t.Fatalf("status = %d, want %d: %s", res.Status, tt.status, res.Body)
			}
			if !strings.Contains(res.Body, tt.message) {
				t.Errorf("body lacks %q:\n%s", tt.message, res.Body)
			}
			if tt.contentType == "application/json" && tt.field != "" {
				var e struct{ Error, Field string }
				if err := json.Unmarshal([]byte(res.Body), &e); err != nil || e.Field != tt.field || e.Error == "" {
					t.Errorf("JSON error = %s, want field %q", res.Body, tt.field)
				}
			}
			if strings.HasPrefix(tt.contentType, "application/x-www") && tt.field != "" {
				if !strings.Contains(res.Body, `id="`+tt.field+`-error"`) {
					t.Errorf("no message next to field %s", tt.field)
				}
				if !strings.Contains(res.Body, tt.kept) {
					t.Errorf("typed value %q not kept", tt.kept)
				}
			}
		})
	}
	if n := ta.count(`SELECT count(*) FROM subscribers`); n != 0 {
		t.Errorf("bad input stored %d subscriber(s)", n)
	}
	if n := ta.count(`SELECT count(*) FROM consent_log`); n != 0 {
		t.Errorf("bad input logged %d consent event(s)", n)
	}
	if res := ta.get("/subscribe/no-such-list"); res.Status != 404 || !strings.Contains(res.Body, "no newsletter at this address") {
		t.Errorf("unknown slug: %d %s", res.Status, res.Body)
	}
	if res := ta.postForm("/subscribe/no-such-list", url.Values{"email": {"a@example.com"}, "consent": {"yes"}}); res.Status != 404 {
		t.Errorf("POST unknown slug: %d", res.Status)
	}
}

// TestSignupMultipart accepts multipart/form-data like a browser file form sends it.
func TestSignupMultipart(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("email", "multi@example.com")
	w.WriteField("consent", "on")
	w.Close()
	res := ta.do("POST", "/subscribe/newsletter", w.FormDataContentType(), b.String())
	if res.Status != 200 {
		t.Fatalf("multipart signup: %d %s", res.Status, res.Body)
	}
	ta.waitMail("multi@example.com", 1)
}

// TestBadTokens: garbage, tampered and swapped tokens get a 400 page and change
// nothing; an expired confirm link gets a 410 page that offers a new one.
func TestBadTokens(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	ta.signup("tok@example.com")
	confirmURL := link(t, ta.waitMail("tok@example.com", 1)[0], "confirm")
	tok := confirmURL[strings.LastIndex(confirmURL, "/")+1:]
	tampered := []byte(tok)
	tampered[len(tampered)-3] ^= 1
	if tampered[len(tampered)-3] == '-' || tampered[len(tampered)-3] == '_' {
		tampered[len(tampered)-3] = 'A'
	}
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"ErrGarbageConfirm", "POST", "/confirm/garbage", 400},
		{"ErrGarbageConfirmGET", "GET", "/confirm/garbage", 400},
		{"ErrTamperedConfirm", "POST", "/confirm/" + string(tampered), 400},
		{"ErrConfirmTokenUnsubscribes", "POST", "/unsubscribe/" + tok, 400},
		{"ErrConfirmTokenUnsubscribeGET", "GET", "/unsubscribe/" + tok, 400},
		{"ErrGarbageUnsubscribe", "POST", "/unsubscribe/" + strings.Repeat("A", 200), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ta.do(tt.method, tt.path, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click")
			if res.Status != tt.status || !strings.Contains(res.Body, "This link is not valid") {
				t.Fatalf("%s %s: %d %s", tt.method, tt.path, res.Status, res.Body)
			}
		})
	}
	if got := ta.status("tok@example.com"); got != "unconfirmed" {
		t.Fatalf("a bad token changed status to %s", got)
	}

	t.Run("ErrExpired", func(t *testing.T) {
		ta.Clock.Advance(8 * 24 * time.Hour)
		for _, method := range []string{"GET", "POST"} {
			res := ta.do(method, confirmURL, "", "")
			if res.Status != 410 || !strings.Contains(res.Body, "has expired") || !strings.Contains(res.Body, `id="resend"`) {
				t.Fatalf("%s expired: %d %s", method, res.Status, res.Body)
			}
		}
		if got := ta.status("tok@example.com"); got != "unconfirmed" {
			t.Fatalf("expired token changed status to %s", got)
		}
		res := ta.do("POST", confirmURL+"/resend", "", "")
		if res.Status != 200 {
			t.Fatalf("resend: %d %s", res.Status, res.Body)
		}
		fresh := link(t, ta.waitMail("tok@example.com", 2)[1], "confirm")
		if res = ta.do("POST", fresh, "", ""); res.Status != 200 || ta.status("tok@example.com") != "confirmed" {
			t.Fatalf("fresh link: %d, status %s", res.Status, ta.status("tok@example.com"))
		}
	})
}

// TestConfirmationRateLimit: at most one confirmation per address and list per 15 minutes.
func TestConfirmationRateLimit(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	for i := 0; i < 5; i++ {
		if res := ta.signup("bomb@example.com"); res.Status != 200 {
			t.Fatalf("signup %d: %d", i, res.Status)
		}
	}
	ta.waitMail("bomb@example.com", 1)
	ta.waitMessagesDone(15 * time.Second)
	if n := len(ta.SMTP.To("bomb@example.com")); n != 1 {
		t.Fatalf("5 signups sent %d confirmations, want 1", n)
	}
	ta.Clock.Advance(14 * time.Minute)
	ta.signup("bomb@example.com")
	ta.waitMessagesDone(15 * time.Second)
	if n := len(ta.SMTP.To("bomb@example.com")); n != 1 {
		t.Fatalf("a signup 14 minutes later sent a confirmation (%d)", n)
	}
	ta.Clock.Advance(2 * time.Minute)
	ta.signup("bomb@example.com")
	ta.waitMail("bomb@example.com", 2)
	if n := ta.count(`SELECT count(*) FROM consent_log WHERE action = 'signup'`); n != 7 {
		t.Errorf("consent log has %d signups, want every attempt (7)", n)
	}
}

// TestUnsubscribeBodies: one-click works with the RFC 8058 body urlencoded or
// multipart, and with an empty body (our own button).
func TestUnsubscribeBodies(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	multi := func() (string, string) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		w.WriteField("List-Unsubscribe", "One-Click")
		w.Close()
		return w.FormDataContentType(), b.String()
	}
	mct, mbody := multi()
	tests := []struct {
		name, contentType, body, source string
	}{
		{"Urlencoded", "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click", "one_click"},
		{"Multipart", mct, mbody, "one_click"},
		{"Empty", "", "", "link"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := strings.ToLower(tt.name) + "@example.com"
			ta.signup(addr)
			ta.do("POST", link(t, ta.waitMail(addr, 1)[0], "confirm"), "", "")
			unsub := link(t, ta.waitMail(addr, 2)[1], "unsubscribe")
			res := ta.do("POST", unsub, tt.contentType, tt.body)
			if res.Status != 200 {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			if got := ta.status(addr); got != "unsubscribed" {
				t.Fatalf("status = %s", got)
			}
			if got := ta.consentActions(addr); !strings.HasSuffix(got, "unsubscribe/"+tt.source) {
				t.Errorf("consent log = %s", got)
			}
			_ = i
		})
	}
}
