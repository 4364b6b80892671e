package main

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/envoi/envoi/internal/pow"
)

// challenge fetches and solves a list's proof-of-work challenge as a browser would.
func (ta *testApp) solvedChallenge(slug string) string {
	ta.t.Helper()
	res := ta.do("GET", "/subscribe/"+slug+"/challenge", "", "", "Accept", "application/json")
	if res.Status != 200 {
		ta.t.Fatalf("challenge: %d %s", res.Status, res.Body)
	}
	var c pow.Challenge
	if err := json.Unmarshal([]byte(res.Body), &c); err != nil {
		ta.t.Fatal(err)
	}
	n, ok := pow.Solve(c)
	if !ok {
		ta.t.Fatal("unsolvable challenge")
	}
	return pow.Encode(c, n)
}

// TestSignupProofOfWork (issue 9, section 1): a list may ask its form for a
// proof-of-work answer, checked server side: without one, with a wrong,
// replayed or expired one the signup is refused with a clear 422 and nothing
// is written; with a fresh one it goes through. Lists without it need no
// JavaScript. The API (with its key) is not asked.
func TestSignupProofOfWork(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	st, m := ta.api("POST", "/api/v1/lists", key, `{"slug":"guarded","name":"Guarded","proof_of_work":true}`)
	if st != 201 || m["proof_of_work"] != true {
		t.Fatalf("create: %d %v", st, m)
	}
	form := func(email, altcha string) url.Values {
		v := url.Values{"email": {email}, "consent": {"yes"}}
		if altcha != "" {
			v.Set("altcha", altcha)
		}
		return v
	}
	subscribers := func(email string) int { return ta.count(`SELECT count(*) FROM subscribers WHERE email = $1`, email) }

	page := ta.get("/subscribe/guarded")
	if !strings.Contains(page.Body, `data-pow="/subscribe/guarded/challenge"`) || !strings.Contains(page.Body, `<script src="/static/pow.js"`) ||
		!strings.Contains(page.Body, "<noscript>") {
		t.Fatalf("the guarded form lacks its challenge:\n%s", page.Body)
	}
	if plain := ta.get("/subscribe/newsletter"); strings.Contains(plain.Body, "<script") || strings.Contains(plain.Body, "data-pow") {
		t.Fatal("a list without proof of work serves script")
	}
	if res := ta.do("GET", "/subscribe/newsletter/challenge", "", "", "Accept", "application/json"); res.Status != 404 {
		t.Fatalf("challenge of a list without it: %d", res.Status)
	}
	ch := ta.do("GET", "/subscribe/guarded/challenge", "", "")
	if ch.Header.Get("Access-Control-Allow-Origin") != "*" || ch.Header.Get("Cache-Control") != "no-store" || ch.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("challenge headers: %v", ch.Header)
	}
	if js := ta.get("/static/pow.js"); js.Status != 200 || !strings.Contains(js.Body, "crypto.subtle.digest") {
		t.Fatalf("pow.js: %d", js.Status)
	}

	good := ta.solvedChallenge("guarded")
	var c pow.Challenge
	json.Unmarshal([]byte(ch.Body), &c)
	n, _ := pow.Solve(c)
	for _, tt := range []struct {
		name, email, altcha, want string
	}{
		{"Missing", "pow-missing@example.com", "", "needs JavaScript"},
		{"Garbage", "pow-garbage@example.com", "bm90IGpzb24=", "did not pass"},
		{"WrongNumber", "pow-wrong@example.com", pow.Encode(c, n+1), "did not pass"},
		{"ForgedSignature", "pow-forged@example.com", pow.Encode(pow.Challenge{Algorithm: c.Algorithm, Challenge: c.Challenge, Salt: c.Salt,
			Signature: strings.Repeat("0", 64)}, n), "did not pass"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := ta.postForm("/subscribe/guarded", form(tt.email, tt.altcha))
			if res.Status != 422 || !strings.Contains(res.Body, tt.want) || !strings.Contains(res.Body, `id="altcha-error"`) {
				t.Fatalf("%d, want 422 naming %q:\n%s", res.Status, tt.want, res.Body)
			}
			if subscribers(tt.email) != 0 {
				t.Fatal("a refused signup was written")
			}
		})
	}
	js := ta.do("POST", "/subscribe/guarded", "application/json", `{"email":"pow-json@example.com","consent":true}`)
	if js.Status != 422 || !strings.Contains(js.Body, `"field":"altcha"`) {
		t.Fatalf("JSON without answer: %d %s", js.Status, js.Body)
	}

	if res := ta.postForm("/subscribe/guarded", form("pow-good@example.com", good)); res.Status != 200 || !strings.Contains(res.Body, "Check your inbox") {
		t.Fatalf("solved: %d %s", res.Status, res.Body)
	}
	ta.waitMail("pow-good@example.com", 1)
	if res := ta.postForm("/subscribe/guarded", form("pow-replay@example.com", good)); res.Status != 422 || subscribers("pow-replay@example.com") != 0 {
		t.Fatalf("replayed answer: %d", res.Status)
	}
	late := ta.solvedChallenge("guarded")
	ta.Clock.Advance(11 * time.Minute)
	if res := ta.postForm("/subscribe/guarded", form("pow-late@example.com", late)); res.Status != 422 || !strings.Contains(res.Body, "expired") {
		t.Fatalf("expired answer: %d %s", res.Status, res.Body)
	}
	// The API signup, with its key, is not asked.
	if st, _ := ta.api("POST", "/api/v1/subscribers", key, `{"email":"pow-api@example.com","lists":["guarded"]}`); st != 202 {
		t.Fatalf("API signup: %d", st)
	}
	// Turned off, the form needs no answer (and no JavaScript) again.
	if st, m := ta.api("PATCH", "/api/v1/lists/guarded", key, `{"proof_of_work":false}`); st != 200 || m["proof_of_work"] != false {
		t.Fatalf("patch: %d %v", st, m)
	}
	if res := ta.postForm("/subscribe/guarded", form("pow-off@example.com", "")); res.Status != 200 {
		t.Fatalf("after turning it off: %d %s", res.Status, res.Body)
	}
}

// TestBrowserProofOfWork: in chromium, the guarded form's script solves the
// challenge, enables the button, and the signup goes through.
func TestBrowserProofOfWork(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	if st, _ := ta.api("POST", "/api/v1/lists", ta.apiKey(), `{"slug":"guarded","name":"Guarded","proof_of_work":true}`); st != 201 {
		t.Fatal(st)
	}
	ctx := browser(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate(ta.URL()+"/subscribe/guarded"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), "pow-browser@example.com"),
		chromedp.Click(chromedp.CSS(`#consent`)),
		chromedp.WaitEnabled(chromedp.CSS(`button[type=submit]`)),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Check your inbox")]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	ta.waitMail("pow-browser@example.com", 1)
}
