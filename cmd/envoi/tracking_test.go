package main

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/lists"
	"github.com/envoi/envoi/internal/mailcatcher"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/token"
)

var (
	clickRE = regexp.MustCompile(`https?://[^\s"<>()]+/r/([A-Za-z0-9_-]+\.[0-9]+)`)
	pixelRE = regexp.MustCompile(`<img src="https?://[^"]+/o/([A-Za-z0-9_-]+)"`)
)

// trackedBody has two links to count, a mailto and the unsubscribe link (never rewritten).
const trackedBody = `<p>Read <a href=\"https://example.org/article?a=1&amp;b=2\">the article</a> and <a href=\"https://example.org/shop\">the shop</a>.</p><p><a href=\"mailto:editor@example.org\">Write to us</a> or <a href=\"{{.UnsubscribeURL}}\">leave</a>.</p>`

func (ta *testApp) subscriberID(email string) int64 {
	ta.t.Helper()
	return int64(ta.count(`SELECT id FROM subscribers WHERE email = $1`, email))
}

func (ta *testApp) lastActivity(email string) time.Time {
	ta.t.Helper()
	var at time.Time
	if err := ta.Store.DB.Get(&at, `SELECT last_activity_at FROM subscribers WHERE email = $1`, email); err != nil {
		ta.t.Fatal(err)
	}
	return at
}

// trackedCampaign sends a campaign with trackedBody to the lists and waits until it is sent.
func (ta *testApp) trackedCampaign(key, lists, extra string) int64 {
	ta.t.Helper()
	id := ta.createCampaign(key, `{"name":"tracked","subject":"s","lists":[`+lists+`],"format":"html","body":"`+trackedBody+`"`+extra+`}`)
	if st, m := ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), key, ""); st != 202 {
		ta.t.Fatalf("send: %d %v", st, m)
	}
	ta.waitCampaign(id, "sent", 30*time.Second)
	return id
}

// pixelOf returns the subscriber a message's open pixel names (0: aggregate), or -1 without one.
func (ta *testApp) pixelOf(m mailcatcher.Message, campaignID int64) int64 {
	ta.t.Helper()
	p := pixelRE.FindStringSubmatch(m.Part("text/html"))
	if p == nil {
		return -1
	}
	cid, sid, err := ta.Tokens.VerifyCampaign(token.Open, p[1])
	if err != nil || cid != campaignID {
		ta.t.Fatalf("pixel token %q: campaign %d, %v", p[1], cid, err)
	}
	return sid
}

func TestTracking(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	ctx := context.Background()
	if st, m := ta.api("PATCH", "/api/v1/lists/newsletter", key, `{"open_tracking":true}`); st != 200 || m["open_tracking"] != true {
		t.Fatalf("turn open tracking on: %d %v", st, m)
	}
	if _, err := ta.Lists.Create(ctx, lists.New{Slug: "plain", Name: "Plain"}); err != nil {
		t.Fatal(err)
	}

	t.Run("FormAsksSeparately", func(t *testing.T) {
		if body := ta.get("/subscribe/newsletter").Body; !strings.Contains(body, `name="tracking_consent"`) ||
			regexp.MustCompile(`name="tracking_consent"[^>]*checked`).MatchString(body) {
			t.Errorf("the open-tracking list's form lacks an unchecked tracking box:\n%s", body)
		}
		if body := ta.get("/subscribe/plain").Body; strings.Contains(body, "tracking_consent") {
			t.Error("a list without open tracking asks for tracking consent")
		}
	})
	t.Run("APISignupLogsItsOwnPurpose", func(t *testing.T) {
		if st, m := ta.api("POST", "/api/v1/subscribers", key, `{"email":"eve@example.com","lists":["newsletter","plain"],"tracking_consent":true}`); st != 202 {
			t.Fatalf("signup: %d %v", st, m)
		}
		// Only the list with open tracking takes it.
		if n := ta.count(`SELECT count(*) FROM consent_log cl JOIN lists l ON l.id = cl.list_id WHERE cl.action = 'tracking_consent' AND cl.source = 'api' AND l.slug = 'newsletter'`); n != 1 ||
			ta.count(`SELECT count(*) FROM consent_log WHERE action = 'tracking_consent'`) != 1 {
			t.Errorf("tracking consent events: %s", ta.consentActions("eve@example.com"))
		}
	})
	// ann consents to tracking on the form; bob does not; cat is on a list without open tracking.
	if res := ta.postForm("/subscribe/newsletter", url.Values{"email": {"ann@example.com"}, "consent": {"yes"}, "tracking_consent": {"yes"}}); res.Status != 200 {
		t.Fatalf("signup: %d", res.Status)
	}
	if n := ta.count(`SELECT count(*) FROM subscriptions WHERE tracking_consent_at IS NOT NULL`); n != 0 {
		t.Fatal("tracking consent effective before confirmation")
	}
	if res := ta.do("POST", link(t, ta.waitMail("ann@example.com", 1)[0], "confirm"), "", ""); res.Status != 200 {
		t.Fatalf("confirm: %d", res.Status)
	}
	if got := ta.consentActions("ann@example.com"); got != "signup/form,tracking_consent/form,confirm/link" {
		t.Errorf("consent log = %s", got)
	}
	ta.waitMessagesDone(15 * time.Second)
	ta.seed("newsletter", "bob", 1, "confirmed")
	ta.seed("plain", "cat", 1, "confirmed")
	ann, bob := ta.subscriberID("ann@example.com"), ta.subscriberID("bob-1@example.com")

	id := ta.trackedCampaign(key, `"newsletter","plain"`, "")
	mail := func(rcpt string) mailcatcher.Message {
		for _, m := range ta.SMTP.To(rcpt) {
			if m.Subject() == "s" {
				return m
			}
		}
		t.Fatalf("no campaign mail to %s", rcpt)
		return mailcatcher.Message{}
	}
	wantPixel := map[string]int64{"ann@example.com": ann, "bob-1@example.com": 0, "cat-1@example.com": -1}
	clicks := map[string][]string{}
	t.Run("MailsRewrittenWithTheRightPixel", func(t *testing.T) {
		for rcpt, want := range wantPixel {
			m := mail(rcpt)
			html, text := m.Part("text/html"), m.Part("text/plain")
			if got := ta.pixelOf(m, id); got != want {
				t.Errorf("%s: pixel names %d, want %d (0 aggregate, -1 none)", rcpt, got, want)
			}
			if strings.Contains(html, `href="https://example.org/`) {
				t.Errorf("%s: a link was not rewritten:\n%s", rcpt, html)
			}
			if !strings.Contains(html, `href="mailto:editor@example.org"`) || !strings.Contains(html, link(t, m, "unsubscribe")) {
				t.Errorf("%s: mailto or unsubscribe link rewritten:\n%s", rcpt, html)
			}
			for _, c := range clickRE.FindAllStringSubmatch(html, -1) {
				clicks[rcpt] = append(clicks[rcpt], c[1])
			}
			if len(clicks[rcpt]) != 2 || !clickRE.MatchString(text) {
				t.Errorf("%s: %d rewritten links in the HTML, text part %q", rcpt, len(clicks[rcpt]), text)
			}
		}
	})
	if len(clicks["bob-1@example.com"]) != 2 || len(clicks["ann@example.com"]) != 2 {
		t.FailNow()
	}

	t.Run("ClickRedirectsCountsAndMovesActivity", func(t *testing.T) {
		before := ta.lastActivity("bob-1@example.com")
		ta.Clock.Advance(time.Hour)
		res := ta.get("/r/" + clicks["bob-1@example.com"][0])
		if res.Status != 302 || res.Header.Get("Location") != "https://example.org/article?a=1&b=2" {
			t.Fatalf("click: %d to %q", res.Status, res.Header.Get("Location"))
		}
		if after := ta.lastActivity("bob-1@example.com"); !after.After(before.Add(59 * time.Minute)) {
			t.Errorf("last activity %v, was %v: not moved by the click", after, before)
		}
		if n := ta.count(`SELECT clicks FROM campaign_links WHERE campaign_id = $1 AND idx = 0`, id); n != 1 {
			t.Errorf("link 0 has %d clicks, want 1", n)
		}
		if n := ta.count(`SELECT count(*) FROM tracking_events WHERE subscriber_id = $1`, bob); n != 0 {
			t.Errorf("%d per-person events for a subscriber without tracking consent", n)
		}
		// ann consented: her click is kept per person too.
		if res := ta.get("/r/" + clicks["ann@example.com"][1]); res.Status != 302 || res.Header.Get("Location") != "https://example.org/shop" {
			t.Fatalf("ann's click: %d to %q", res.Status, res.Header.Get("Location"))
		}
		if n := ta.count(`SELECT count(*) FROM tracking_events WHERE subscriber_id = $1 AND kind = 'click' AND link_idx = 1`, ann); n != 1 {
			t.Errorf("ann's click kept %d times, want 1", n)
		}
	})

	t.Run("BadTokensGet404AndNoRedirect", func(t *testing.T) {
		good := clicks["bob-1@example.com"][0]
		msgTok := good[:strings.LastIndexByte(good, '.')]
		flipped := []byte(msgTok)
		flipped[5] ^= 1
		if flipped[5] == '.' || !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", rune(flipped[5])) {
			flipped[5] = 'A' + (flipped[5] % 26)
		}
		for name, tok := range map[string]string{
			"Altered":      string(flipped) + ".0",
			"IndexNotInIt": msgTok + ".2",
			"HugeIndex":    msgTok + ".999999",
			"NoIndex":      msgTok,
			"OpenToken":    ta.Tokens.SignCampaign(token.Open, id, bob) + ".0",
			"OtherPurpose": ta.Tokens.Sign(token.Unsubscribe, 1, 0) + ".0",
			"Garbage":      "nope",
		} {
			res := ta.get("/r/" + tok)
			if res.Status != 404 || res.Header.Get("Location") != "" {
				t.Errorf("%s: %d, Location %q; want 404 and no redirect", name, res.Status, res.Header.Get("Location"))
			}
		}
		if n := ta.count(`SELECT sum(clicks) FROM campaign_links WHERE campaign_id = $1`, id); n != 2 {
			t.Errorf("%d clicks counted, want the 2 good ones", n)
		}
	})

	t.Run("OpensCountButAreNoActivity", func(t *testing.T) {
		before := ta.lastActivity("ann@example.com")
		ta.Clock.Advance(time.Hour)
		for _, rcpt := range []string{"ann@example.com", "bob-1@example.com"} {
			p := pixelRE.FindStringSubmatch(mail(rcpt).Part("text/html"))
			res := ta.get("/o/" + p[1])
			if res.Status != 200 || res.Header.Get("Content-Type") != "image/gif" || !strings.Contains(res.Header.Get("Cache-Control"), "no-store") {
				t.Errorf("%s: pixel %d %q %q", rcpt, res.Status, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
			}
		}
		if after := ta.lastActivity("ann@example.com"); !after.Equal(before) {
			t.Errorf("an open moved last activity from %v to %v", before, after)
		}
		if n := ta.count(`SELECT opens FROM campaign_stats WHERE campaign_id = $1`, id); n != 2 {
			t.Errorf("%d opens counted, want 2", n)
		}
		if n := ta.count(`SELECT count(*) FROM tracking_events WHERE kind = 'open'`); n != 1 ||
			ta.count(`SELECT count(*) FROM tracking_events WHERE kind = 'open' AND subscriber_id = $1`, ann) != 1 {
			t.Errorf("per-person opens: %d, want ann's one only", n)
		}
		if res := ta.get("/o/" + ta.Tokens.SignCampaign(token.Click, id, ann)); res.Status != 404 {
			t.Errorf("a click token as a pixel: %d", res.Status)
		}
	})

	t.Run("CountsInTheAPI", func(t *testing.T) {
		st, m := ta.api("GET", fmt.Sprintf("/api/v1/campaigns/%d", id), key, "")
		counts, _ := m["counts"].(map[string]any)
		if st != 200 || counts["opens"] != 2.0 || counts["clicks"] != 2.0 || m["click_tracking"] != true {
			t.Errorf("GET campaign: %d %v", st, m)
		}
		st, m = ta.api("GET", fmt.Sprintf("/api/v1/campaigns/%d/links", id), key, "")
		items, _ := m["items"].([]any)
		if st != 200 || len(items) != 2 || items[0].(map[string]any)["url"] != "https://example.org/article?a=1&b=2" || items[1].(map[string]any)["clicks"] != 1.0 {
			t.Errorf("GET links: %d %v", st, m)
		}
	})

	t.Run("WithdrawalStopsPersonBoundPixels", func(t *testing.T) {
		listID := int64(ta.count(`SELECT id FROM lists WHERE slug = 'newsletter'`))
		if on, err := ta.Subscribe.Tracking(ctx, ann, listID); err != nil || !on {
			t.Fatalf("tracking consent before the withdrawal: %v %v", on, err)
		}
		if err := ta.Subscribe.SetTracking(ctx, ann, listID, false, model.Consent{Source: "preferences", IP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
		if on, err := ta.Subscribe.Tracking(ctx, ann, listID); err != nil || on {
			t.Fatalf("tracking consent after the withdrawal: %v %v", on, err)
		}
		if err := ta.Subscribe.SetTracking(ctx, ann, listID, false, model.Consent{Source: "preferences"}); err != nil {
			t.Fatal(err) // repeating is harmless
		}
		if got := ta.consentActions("ann@example.com"); !strings.HasSuffix(got, ",tracking_withdraw/preferences") || strings.Count(got, "tracking_withdraw") != 1 {
			t.Errorf("consent log = %s", got)
		}
		// The old mail's person-bound pixel no longer records her.
		ta.get("/o/" + pixelRE.FindStringSubmatch(mail("ann@example.com").Part("text/html"))[1])
		if n := ta.count(`SELECT count(*) FROM tracking_events WHERE kind = 'open' AND subscriber_id = $1`, ann); n != 1 {
			t.Errorf("%d per-person opens after the withdrawal, want the 1 before", n)
		}
		next := ta.trackedCampaign(key, `"newsletter"`, "")
		ms := ta.SMTP.To("ann@example.com") // the next campaign's mail is the last
		if got := ta.pixelOf(ms[len(ms)-1], next); got != 0 {
			t.Errorf("after the withdrawal the pixel names %d, want the aggregate one", got)
		}
		// Given again from the preferences: logged; an unconfirmed subscription cannot take it.
		if err := ta.Subscribe.SetTracking(ctx, ann, listID, true, model.Consent{Source: "preferences"}); err != nil {
			t.Fatal(err)
		}
		if got := ta.consentActions("ann@example.com"); !strings.HasSuffix(got, ",tracking_withdraw/preferences,tracking_consent/preferences") {
			t.Errorf("consent log = %s", got)
		}
		if err := ta.Subscribe.SetTracking(ctx, ta.subscriberID("eve@example.com"), listID, true, model.Consent{Source: "preferences"}); apperr.ErrorCode(err) != apperr.Conflict {
			t.Errorf("tracking consent on an unconfirmed subscription: %v", err)
		}
	})

	t.Run("OffPerCampaignLeavesLinks", func(t *testing.T) {
		off := ta.trackedCampaign(key, `"plain"`, `,"click_tracking":false`)
		var m mailcatcher.Message
		for _, mm := range ta.SMTP.To("cat-1@example.com") {
			m = mm
		}
		if html := m.Part("text/html"); !strings.Contains(html, `href="https://example.org/article?a=1&amp;b=2"`) || clickRE.MatchString(html) {
			t.Errorf("links changed with click_tracking off:\n%s", html)
		}
		if n := ta.count(`SELECT count(*) FROM campaign_links WHERE campaign_id = $1`, off); n != 0 {
			t.Errorf("%d links saved with click tracking off", n)
		}
	})
}

// TestTrackingGlobalSwitch: ENVOI_CLICK_TRACKING=false leaves every link untouched.
func TestTrackingGlobalSwitch(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{env: map[string]string{"ENVOI_CLICK_TRACKING": "false"}})
	key := ta.apiKey()
	ta.seed("newsletter", "dan", 1, "confirmed")
	id := ta.trackedCampaign(key, `"newsletter"`, "")
	html := ta.waitMail("dan-1@example.com", 1)[0].Part("text/html")
	if !strings.Contains(html, `href="https://example.org/shop"`) || clickRE.MatchString(html) || strings.Contains(html, "<img") {
		t.Errorf("links rewritten or a pixel with the global switch off and open tracking off:\n%s", html)
	}
	if n := ta.count(`SELECT count(*) FROM campaign_links WHERE campaign_id = $1`, id); n != 0 {
		t.Errorf("%d links saved", n)
	}
}
