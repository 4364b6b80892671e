package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/envoi/envoi/internal/model"
)

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// axeScript is set by the one test that checks accessibility.
var axeScript string

// browserLogin signs in through the login form.
func browserLogin(t *testing.T, ctx context.Context, base, email string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/"),
		chromedp.WaitVisible(css(`#password`)),
		chromedp.SendKeys(css(`#email`), email),
		chromedp.SendKeys(css(`#password`), testPassword),
		chromedp.Click(css(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Dashboard")]`)),
	)
	if err != nil {
		t.Fatalf("sign in as %s: %v", email, err)
	}
}

// axeSource is axe-core's script (ENVOI_TEST_AXE; make test fetches it).
func axeSource(t *testing.T) string {
	t.Helper()
	p := os.Getenv("ENVOI_TEST_AXE")
	if p == "" {
		if m, _ := filepath.Glob("../../.data/axe-core-*/axe.min.js"); len(m) > 0 {
			p = m[0]
		}
	}
	b, err := os.ReadFile(p)
	if err != nil || p == "" {
		if testing.Short() {
			t.Skip("axe-core not found (-short)")
		}
		t.Fatal("axe-core not found: run `make test` (it fetches axe-core from the npm registry) or set ENVOI_TEST_AXE")
	}
	return string(b)
}

// accessible runs axe-core on the page and fails on a serious or critical
// violation (WCAG 2 A and AA rules).
func accessible(t *testing.T, ctx context.Context, name, axe string) {
	t.Helper()
	if axe == "" {
		return
	}
	// Runtime.evaluate is not subject to the page's CSP: the test injects axe.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](axe)); err != nil {
		t.Fatalf("%s: inject axe: %v", name, err)
	}
	found, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}, resultTypes: ["violations"]})
		.then(r => JSON.stringify(r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
		.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}))))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: axe: %v", name, err)
	}
	if found != "[]" {
		t.Errorf("%s: accessibility violations: %s", name, found)
	}
}

// screenshots checks the page with axe-core and writes it at 1280 and 390 px
// wide into ENVOI_TEST_SCREENSHOTS (make test sets .data/screenshots).
func screenshots(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	accessible(t, ctx, name, axeScript)
	dir := os.Getenv("ENVOI_TEST_SCREENSHOTS")
	if dir == "" {
		return
	}
	os.MkdirAll(dir, 0o755)
	for _, w := range []int64{1280, 390} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, 900)); err != nil {
			t.Fatal(err)
		}
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, w)), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Back to the default width, and let the page lay out again before the
	// test clicks anything (a click aimed before the reflow can miss).
	chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900),
		chromedp.Evaluate[chromedp.Void](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r())))`, chromedp.EvalAwaitPromise))
}

// TestBrowserAdminCampaign (issue 10): in chromium, an owner signs in, creates
// a list and copies its form onto "their site"; a visitor signs up through
// it and confirms through the mail; the owner sees the subscriber confirmed
// with the consent record, writes a campaign with a live preview, sends it
// after confirming the number of recipients and watches the progress reach
// 100%; the mail arrives. A viewer sees no send button and gets 403 posting
// anyway; script in a body or layout never runs; signing out ends the session.
func TestBrowserAdminCampaign(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	ta.user("owner@team.example", model.RoleOwner)
	ta.user("viewer@team.example", model.RoleViewer)
	axeScript = axeSource(t)
	base := ta.URL()
	ctx := browser(t)
	browserLogin(t, ctx, base, "owner@team.example")
	screenshots(t, ctx, "dashboard")

	// A list, and its form snippet.
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/lists"),
		chromedp.WaitVisible(css(`#slug`)),
		chromedp.SendKeys(css(`#name`), "Weekly Digest"),
		chromedp.SendKeys(css(`#slug`), "weekly"),
		chromedp.Click(css(`form[action="/admin/lists"] button[type=submit]`)),
		chromedp.WaitVisible(css(`#snippet`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshots(t, ctx, "list")
	snippet, err := chromedp.Run(ctx, chromedp.Value(css(`#snippet`)))
	if err != nil || !strings.Contains(snippet, `action="`+base+`/subscribe/weekly"`) {
		t.Fatalf("snippet %q: %v", snippet, err)
	}

	// The marketer's own site, with the snippet pasted in.
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>Our site</title><h1>Join us</h1>%s", snippet)
	}))
	defer site.Close()
	err = chromedp.Do(ctx,
		chromedp.Navigate(site.URL),
		chromedp.WaitVisible(css(`input[name=email]`)),
		chromedp.SendKeys(css(`input[name=email]`), "reader@example.com"),
		chromedp.SendKeys(css(`input[name=name]`), "Rita"),
		chromedp.Click(css(`input[name=consent]`)),
		chromedp.Click(css(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Check your inbox")]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	confirmURL := link(t, ta.waitMail("reader@example.com", 1)[0], "confirm")
	err = chromedp.Do(ctx,
		chromedp.Navigate(confirmURL),
		chromedp.WaitVisible(css(`#confirm`)),
		chromedp.Click(css(`#confirm`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "you are subscribed")]`)),
	)
	if err != nil {
		t.Fatal(err)
	}

	// The subscriber, confirmed, with the consent record.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/subscribers?q=READER"),
		chromedp.WaitVisible(chromedp.Search(`//a[contains(., "reader@example.com")]`)),
		chromedp.Click(chromedp.Search(`//a[contains(., "reader@example.com")]`)),
		chromedp.WaitVisible(css(`#status-weekly`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshots(t, ctx, "subscriber")
	status, _ := chromedp.Run(ctx, chromedp.Text(css(`#status-weekly`)))
	timeline, _ := chromedp.Run(ctx, chromedp.Text(css(`.timeline`)))
	if status != "confirmed" || !strings.Contains(timeline, "signup") || !strings.Contains(timeline, "confirm") || !strings.Contains(timeline, "I agree to receive") {
		t.Fatalf("subscriber page: status %q, timeline %q", status, timeline)
	}

	// A campaign: the editor's live preview, then save, confirm and send.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/campaigns/new"),
		chromedp.WaitVisible(css(`#body`)),
		chromedp.SendKeys(css(`#name`), "December news"),
		chromedp.SendKeys(css(`#subject`), "News for {{.Subscriber.Name}}"),
		chromedp.Click(css(`input[name=lists][value=weekly]`)),
		chromedp.SendKeys(css(`#body`), "# Hello\n\nThe **December** letter."),
		chromedp.WaitVisible(css(`#preview-subject`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := chromedp.Run(ctx, chromedp.Text(css(`#preview-subject`)))
	if subject != "News for Ann Example" {
		t.Fatalf("live preview subject %q", subject)
	}
	screenshots(t, ctx, "campaign-editor")
	err = chromedp.Do(ctx,
		chromedp.Click(css(`#save`)),
		chromedp.WaitVisible(css(`#audience`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	audience, _ := chromedp.Run(ctx, chromedp.Text(css(`#audience`)))
	if audience != "1" {
		t.Fatalf("audience %q, want 1", audience)
	}
	campaignURL, _ := chromedp.Run(ctx, chromedp.Location())
	screenshots(t, ctx, "campaign")
	err = chromedp.Do(ctx,
		// Typing the number and pressing Enter sends (the form's button is #send).
		chromedp.SendKeys(css(`#confirm`), "1\r"),
	)
	if err == nil {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err = chromedp.Do(wctx, chromedp.WaitVisible(chromedp.Search(`//span[@id="progress-percent" and contains(., "100%")]`)))
		cancel()
	}
	if err != nil {
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(css(`main`)))
		t.Fatalf("progress: %v (campaign statuses: %v)\n%s", err, ta.campaignStatuses(), html)
	}
	screenshots(t, ctx, "campaign-sent")
	ta.waitFor(15*time.Second, func() error {
		for _, m := range ta.SMTP.To("reader@example.com") {
			if m.Subject() == "News for Rita" {
				return nil
			}
		}
		return fmt.Errorf("no campaign mail for reader@example.com yet")
	})

	for _, p := range []string{"/admin/campaigns", "/admin/layouts", "/admin/users", "/admin/apikeys", "/admin/audit", "/admin/settings", "/admin/account"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+p), chromedp.WaitVisible(css(`h1`))); err != nil {
			t.Fatal(p, err)
		}
		screenshots(t, ctx, strings.TrimPrefix(p, "/admin/"))
	}

	// The queue monitor's page runs (its inline scripts allowed by hash).
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/admin/queues/")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('#root') !== null && document.querySelector('#root').children.length > 0`)); err != nil {
		t.Fatalf("the queue monitor did not render: %v", err)
	}

	// Script in a body and a layout never runs: the preview is sanitized,
	// served with a sandbox CSP into a sandboxed iframe. Chromium's console
	// and dialogs are watched; a console line from the admin page itself is
	// the positive control that the watch works.
	key := ta.apiKey()
	if st, m := ta.api("POST", "/api/v1/layouts", key, `{"name":"hostile","html":"<html><body><script>console.log('PWNED layout');alert(1)</script><div onmouseover=\"console.log('PWNED hover')\">{{.Content}}</div><a href=\"{{.UnsubscribeURL}}\">u</a></body></html>"}`); st != 200 && st != 201 {
		t.Fatalf("layout: %d %v", st, m)
	}
	hostile := ta.createCampaign(key, `{"name":"Hostile","subject":"S","lists":["weekly"],"format":"html","template":"hostile",
		"body":"<p id=\"x\">Body</p><script>console.log('PWNED body')</script><img src=\"x\" onerror=\"console.log('PWNED img')\"><a href=\"javascript:console.log('PWNED link')\">j</a><svg onload=\"console.log('PWNED svg')\"></svg>"}`)
	var mu sync.Mutex
	var seen []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *cdpruntime.EventConsoleAPICalled:
			for _, a := range e.Args {
				seen = append(seen, string(a.Value))
			}
		case *cdppage.EventJavascriptDialogOpening:
			seen = append(seen, "PWNED dialog "+e.Message)
		}
	}); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/admin/campaigns/%d", base, hostile)),
		chromedp.WaitVisible(css(`iframe.preview`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`performance.getEntriesByType('resource').some(e => e.initiatorType === 'iframe' && e.name.includes('/preview')) && document.readyState === 'complete'`)); err != nil {
		t.Fatalf("the preview never loaded: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`console.log('CONTROL')`), chromedp.Click(css(`iframe.preview`))); err != nil {
		t.Fatal(err)
	}
	waitSeen := func(want string) bool {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			all := strings.Join(seen, "\n")
			mu.Unlock()
			if strings.Contains(all, want) {
				return true
			}
			time.Sleep(20 * time.Millisecond)
		}
		return false
	}
	if !waitSeen("CONTROL") {
		t.Fatal("the console watch saw nothing, not even the control line")
	}
	mu.Lock()
	if all := strings.Join(seen, "\n"); strings.Contains(all, "PWNED") {
		t.Fatalf("script from a campaign ran: %s", all)
	}
	mu.Unlock()
	pv := ta.client()
	pv.login("owner@team.example", testPassword)
	body := pv.get(fmt.Sprintf("/admin/campaigns/%d/preview", hostile))
	if lower := strings.ToLower(body.Body); strings.Contains(lower, "<script") || strings.Contains(lower, "onerror") || strings.Contains(lower, "onload") ||
		strings.Contains(lower, "onmouseover") || strings.Contains(lower, "javascript:") || !strings.Contains(body.Body, "Body") {
		t.Fatalf("the preview still holds script:\n%s", body.Body)
	}

	// A viewer: no send button, and 403 when posting anyway.
	ctxV := browser(t)
	browserLogin(t, ctxV, base, "viewer@team.example")
	if err := chromedp.Do(ctxV, chromedp.Navigate(campaignURL), chromedp.WaitVisible(css(`#campaign-status`))); err != nil {
		t.Fatal(err)
	}
	hasSend, _ := chromedp.Run(ctxV, chromedp.Evaluate[bool](`document.querySelector('#send') !== null || document.querySelector('#send-test') !== null`))
	if hasSend {
		t.Fatal("a viewer sees a send button")
	}
	id := regexp.MustCompile(`\d+$`).FindString(campaignURL)
	status403, err := chromedp.Run(ctxV, chromedp.Evaluate[int](fmt.Sprintf(`fetch('/admin/campaigns/%s/send', {method: 'POST', body: new URLSearchParams({confirm: '1'})}).then(r => r.status)`, id), chromedp.EvalAwaitPromise))
	if err != nil || status403 != 403 {
		t.Fatalf("viewer posting a send: %d %v", status403, err)
	}

	// Signing out ends the session.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/"),
		chromedp.WaitVisible(css(`#logout`)),
		chromedp.Click(css(`#logout`)),
		chromedp.WaitVisible(css(`#password`)),
		chromedp.Navigate(base+"/admin/lists"),
		chromedp.WaitVisible(css(`#password`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshots(t, ctx, "login")
}

func (ta *testApp) campaignStatuses() []string {
	var ss []string
	ta.Store.DB.Select(&ss, `SELECT id || ':' || status FROM campaigns ORDER BY id`)
	return ss
}

// TestBrowserAdminKeyboard (issue 10): a user with TOTP signs in with the
// keyboard only (typing, Tab, Enter), then the code, and reaches the
// dashboard; the skip link is the first thing Tab reaches.
func TestBrowserAdminKeyboard(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	u := ta.user("keys@team.example", model.RoleEditor)
	secret, _, _ := ta.Users.NewTOTP(u)
	code, _ := totp.GenerateCode(secret, time.Now())
	if _, err := ta.Users.EnableTOTP(context.Background(), u.ID, secret, code); err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate(ta.URL()+"/admin/login"),
		chromedp.WaitVisible(css(`#email`)),
		// The address field has the focus: type, Tab to the password, Enter.
		chromedp.KeyEvent("keys@team.example\t"+testPassword+"\r"),
		chromedp.WaitVisible(css(`#code`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	ta.Clock.Advance(30 * time.Second) // the code that turned TOTP on is used
	code, _ = totp.GenerateCode(secret, ta.Clock.Now())
	err = chromedp.Do(ctx,
		chromedp.KeyEvent(code+"\r"),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Dashboard")]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	// A fresh page: the first Tab goes to the skip link.
	if err := chromedp.Do(ctx, chromedp.Navigate(ta.URL()+"/admin/lists"), chromedp.WaitVisible(css(`h1`)), chromedp.KeyEvent("\t")); err != nil {
		t.Fatal(err)
	}
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.textContent`))
	if err != nil || focused != "Skip to content" {
		t.Fatalf("first Tab stop %q, want the skip link (%v)", focused, err)
	}
}
