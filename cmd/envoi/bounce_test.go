package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/envoi/envoi/internal/mailcatcher"
)

// inboundApp is an app with an inbound domain and its listener running.
func inboundApp(t *testing.T, env map[string]string) *testApp {
	t.Helper()
	e := map[string]string{"ENVOI_INBOUND_DOMAIN": "bounces.example.test"}
	for k, v := range env {
		e[k] = v
	}
	ta := startApp(t, appOpts{env: e})
	if err := ta.StartInbound("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return ta
}

// deliver sends raw to the inbound listener as a mail server would.
func (ta *testApp) deliverInbound(from string, to []string, raw string) error {
	c, err := smtp.Dial(ta.Inbound.Addr)
	if err != nil {
		return err
	}
	defer c.Close()
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	// Declaring the size (RFC 1870), as mail servers do, lets an oversized
	// message be refused before its data.
	if err := c.Mail(from, &smtp.MailOptions{Size: int64(len(raw))}); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(raw)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// postfixDSN is a bounce as Postfix writes it (RFC 3464), returning the
// original's headers.
func postfixDSN(rcpt, status, diag, original string) string {
	return `From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: ` + "bounces@bounces.example.test" + `
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain

This is the mail system at host mx.example.net.
I'm sorry to have to inform you that your message could not be delivered.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
Arrival-Date: Wed,  2 Dec 2026 10:00:00 +0000 (UTC)

Final-Recipient: rfc822; ` + rcpt + `
Original-Recipient: rfc822;` + rcpt + `
Action: failed
Status: ` + status + `
Remote-MTA: dns; mx.example.net
Diagnostic-Code: smtp; ` + diag + `

--B1
Content-Type: text/rfc822-headers

` + original + `
--B1--
`
}

func headersOf(m mailcatcher.Message) string {
	raw := strings.ReplaceAll(string(m.Raw), "\r\n", "\n")
	h, _, _ := strings.Cut(raw, "\n\n")
	return h + "\n"
}

func (ta *testApp) messageTo(email string) mailcatcher.Message {
	ta.t.Helper()
	for _, m := range ta.SMTP.Messages() {
		if len(m.To) == 1 && m.To[0] == email {
			return m
		}
	}
	ta.t.Fatalf("no message to %s", email)
	return mailcatcher.Message{}
}

func (ta *testApp) suppressedReason(email string) string {
	ta.t.Helper()
	var r string
	if err := ta.Store.DB.Get(&r, `SELECT suppressed_reason FROM subscribers WHERE email = $1`, email); err != nil {
		ta.t.Fatal(err)
	}
	return r
}

// TestBounceEndToEnd: a campaign to the sink; a bounce for one recipient fed
// back through the inbound listener suppresses that subscriber; the next
// campaign skips them. The return path is signed per recipient, and a forged
// or altered one is refused and changes nothing.
func TestBounceEndToEnd(t *testing.T) {
	t.Parallel()
	ta := inboundApp(t, nil)
	key := ta.apiKey()
	ta.seed("newsletter", "e2e", 5, "confirmed")
	first := ta.sendCampaign(key)
	ta.allOnce(first, 5, 60*time.Second)

	victim := "e2e-2@example.com"
	m := ta.messageTo(victim)
	if !strings.HasPrefix(m.From, "bounces+c") || !strings.HasSuffix(m.From, "@bounces.example.test") {
		t.Fatalf("envelope sender %q is no VERP address of the inbound domain", m.From)
	}
	if u := m.Header("List-Unsubscribe"); !strings.Contains(u, "<https://") && !strings.Contains(u, "<http://") || !strings.Contains(u, "mailto:unsubscribe+") {
		t.Errorf("List-Unsubscribe %q lacks the https or the mailto URI", u)
	}
	if c := m.Header("CFBL-Address"); c != "fbl@bounces.example.test; report=arf" {
		t.Errorf("CFBL-Address = %q", c)
	}
	other := ta.messageTo("e2e-3@example.com")
	if other.From == m.From {
		t.Fatal("two recipients share one return path")
	}

	// Forged and altered ids, other domains: refused at RCPT, nothing changes.
	dsn := postfixDSN(victim, "5.1.1", "550 5.1.1 <"+victim+">: Recipient address rejected: User unknown", headersOf(m))
	local := strings.TrimSuffix(m.From, "@bounces.example.test")
	altered := local[:len(local)-1] + map[bool]string{true: "b", false: "a"}[strings.HasSuffix(local, "a")]
	for _, rcpt := range []string{
		altered + "@bounces.example.test",
		"bounces+c1-1-aaaaaaaaaaaaaaaa@bounces.example.test",
		strings.Replace(m.From, "@bounces.example.test", "@elsewhere.example", 1),
		"someone@bounces.example.test",
	} {
		var se *smtp.SMTPError
		if err := ta.deliverInbound("", []string{rcpt}, dsn); !errors.As(err, &se) || se.Code != 550 {
			t.Errorf("RCPT %s: %v, want a 550", rcpt, err)
		}
	}
	if r := ta.suppressedReason(victim); r != "" {
		t.Fatalf("a refused bounce suppressed the victim (%q)", r)
	}

	// The genuine bounce, with the case of the return path changed on the way.
	if err := ta.deliverInbound("", []string{strings.ToUpper(m.From[:1]) + m.From[1:]}, dsn); err != nil {
		t.Fatal(err)
	}
	if r := ta.suppressedReason(victim); r != "hard_bounce" {
		t.Fatalf("after the bounce: suppressed_reason %q, want hard_bounce", r)
	}
	// The same report again (a relay retrying) counts once.
	if err := ta.deliverInbound("", []string{m.From}, dsn); err != nil {
		t.Fatal(err)
	}
	if n := ta.count(`SELECT count(*) FROM bounces`); n != 1 {
		t.Errorf("%d bounce rows after the same report twice, want 1", n)
	}
	if c := ta.campaign(first); c.Counts.Bounces != 1 {
		t.Errorf("campaign counts %+v, want 1 bounce", c.Counts)
	}
	var id int64
	if err := ta.Store.DB.Get(&id, `SELECT id FROM subscribers WHERE email = $1`, victim); err != nil {
		t.Fatal(err)
	}
	if st, sub := ta.api("GET", fmt.Sprintf("/api/v1/subscribers/%d", id), key, ""); st != 200 || sub["suppressed"] != true || sub["suppressed_reason"] != "hard_bounce" {
		t.Errorf("API subscriber: %d %v", st, sub)
	}
	if acts := ta.consentActions(victim); !strings.HasSuffix(acts, "suppress/bounce") {
		t.Errorf("consent log %q does not end with suppress/bounce", acts)
	}
	// No address in the stored diagnostic.
	var diag string
	if err := ta.Store.DB.Get(&diag, `SELECT diagnostic FROM bounces`); err != nil || strings.Contains(diag, "@") || !strings.Contains(diag, "5.1.1") {
		t.Errorf("diagnostic %q (%v)", diag, err)
	}

	// The subscriber's export shows the bounce (right of access).
	if st, x := ta.api("GET", fmt.Sprintf("/api/v1/subscribers/%d/export", id), key, ""); st != 200 || !strings.Contains(fmt.Sprint(x["bounces"]), "hard") {
		t.Errorf("export: %d %v", st, x["bounces"])
	}

	// The next campaign skips them: the ledger says it is done, then the sink
	// has no second message to the victim.
	second := ta.sendCampaign(key)
	c := ta.waitCampaign(second, "sent", 60*time.Second)
	if c.Counts.Sent != 4 {
		t.Errorf("second campaign counts %+v, want 4 sent", c.Counts)
	}
	if n := perRecipient(ta.SMTP.Messages())[victim]; n != 1 {
		t.Errorf("the bounced address got %d messages, want 1", n)
	}
}

// TestInboundUnsubscribeAndComplaint: mail to the mailto unsubscribe address
// unsubscribes from that list (consent log source mailto); an ARF complaint
// report whose original carries the signed return path unsubscribes from
// everything and suppresses; a report with no signed id changes nothing.
func TestInboundUnsubscribeAndComplaint(t *testing.T) {
	t.Parallel()
	ta := inboundApp(t, nil)
	key := ta.apiKey()
	ta.seed("newsletter", "uc", 3, "confirmed")
	id := ta.sendCampaign(key)
	ta.allOnce(id, 3, 60*time.Second)

	// mailto unsubscribe.
	m := ta.messageTo("uc-1@example.com")
	lu := m.Header("List-Unsubscribe")
	i := strings.Index(lu, "mailto:")
	if i < 0 {
		t.Fatalf("List-Unsubscribe %q has no mailto", lu)
	}
	addr := lu[i+len("mailto:"):]
	addr = addr[:strings.IndexAny(addr, "?>")]
	if err := ta.deliverInbound("uc-1@example.com", []string{addr}, "From: uc-1@example.com\nTo: "+addr+"\nSubject: unsubscribe\n\nunsubscribe\n"); err != nil {
		t.Fatal(err)
	}
	if s := ta.status("uc-1@example.com"); s != "unsubscribed" {
		t.Errorf("after the mailto unsubscribe: %s", s)
	}
	if acts := ta.consentActions("uc-1@example.com"); !strings.HasSuffix(acts, "unsubscribe/mailto") {
		t.Errorf("consent log %q", acts)
	}
	// A forged token is refused.
	var se *smtp.SMTPError
	if err := ta.deliverInbound("x@example.com", []string{"unsubscribe+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@bounces.example.test"}, "Subject: x\n\nx\n"); !errors.As(err, &se) || se.Code != 550 {
		t.Errorf("forged unsubscribe token: %v", err)
	}

	// ARF complaint (RFC 5965) to the CFBL address.
	victim := "uc-2@example.com"
	v := ta.messageTo(victim)
	arf := func(original string) string {
		return `From: feedback@fbl.example.net
To: fbl@bounces.example.test
Subject: FW: complaint
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="A1"

--A1
Content-Type: text/plain

This is an email abuse report.

--A1
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ExampleFBL/1.0
Version: 1
Original-Rcpt-To: ` + victim + `

--A1
Content-Type: text/rfc822-headers

Return-Path: <` + original + `>
` + headersOf(v) + `
--A1--
`
	}
	// No signed id (a stranger naming an address): nothing happens.
	if err := ta.deliverInbound("", []string{"fbl@bounces.example.test"}, strings.Replace(arf("x@example.com"), "List-Unsubscribe", "X-Removed", 1)); err != nil {
		t.Fatal(err)
	}
	if r := ta.suppressedReason(victim); r != "" {
		t.Fatalf("an unsigned complaint suppressed the subscriber (%q)", r)
	}
	if err := ta.deliverInbound("", []string{"fbl@bounces.example.test"}, arf(v.From)); err != nil {
		t.Fatal(err)
	}
	if r := ta.suppressedReason(victim); r != "complaint" {
		t.Fatalf("after the complaint: suppressed_reason %q", r)
	}
	if s := ta.status(victim); s != "unsubscribed" {
		t.Errorf("after the complaint: %s", s)
	}
	if c := ta.campaign(id); c.Counts.Complaints != 1 {
		t.Errorf("counts %+v, want 1 complaint", c.Counts)
	}
}

// TestInboundLimits: the listener refuses relaying, oversized messages and
// clients over the rate.
func TestInboundLimits(t *testing.T) {
	t.Parallel()
	ta := inboundApp(t, map[string]string{"ENVOI_INBOUND_MAX_SIZE": "65536", "ENVOI_INBOUND_RATE": "2"}) // the oversized one is refused at MAIL before it counts
	tests := []struct {
		name string
		to   string
		body string
		code int
	}{
		{"relaying", "someone@example.com", "Subject: x\n\nx\n", 550},
		{"too large", "postmaster@bounces.example.test", "Subject: x\n\n" + strings.Repeat("x", 70000) + "\n", 552},
		{"accepted", "postmaster@bounces.example.test", "Subject: hello\n\nhello\n", 0},
		{"over the rate", "postmaster@bounces.example.test", "Subject: x\n\nx\n", 421},
	}
	for _, tt := range tests {
		err := ta.deliverInbound("a@example.net", []string{tt.to}, tt.body)
		var se *smtp.SMTPError
		switch {
		case tt.code == 0 && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.code != 0 && (!errors.As(err, &se) || se.Code != tt.code):
			t.Errorf("%s: %v, want %d", tt.name, err, tt.code)
		}
	}
}

// TestRefusalsAtSendTime: a 5xx answered at send time counts: 5.1.1 is a hard
// bounce that suppresses; 5.7.x refusals never suppress but, past the share,
// pause the campaign with the reason in the API.
func TestRefusalsAtSendTime(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{env: map[string]string{"ENVOI_BOUNCE_PAUSE_MIN": "20", "ENVOI_BOUNCE_PAUSE_SHARE": "0.2"}})
	key := ta.apiKey()
	ta.seed("newsletter", "rs", 10, "confirmed")
	ta.SMTP.SetFault(mailcatcher.Fault{Rcpt: func(to string) error {
		if to == "rs-4@example.com" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<rs-4@example.com>: user unknown"}
		}
		return nil
	}})
	first := ta.sendCampaign(key)
	c := ta.waitCampaign(first, "sent", 60*time.Second)
	if c.Counts.Failed != 1 || c.Counts.Bounces != 1 {
		t.Errorf("counts %+v, want 1 failed, 1 bounce", c.Counts)
	}
	if r := ta.suppressedReason("rs-4@example.com"); r != "hard_bounce" {
		t.Errorf("suppressed_reason %q, want hard_bounce", r)
	}

	// Outlook's 5.7.515 for everyone: the campaign pauses itself; nobody is suppressed.
	ta.seed("newsletter", "rp", 200, "confirmed")
	ta.SMTP.SetFault(mailcatcher.Fault{Rcpt: func(to string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 515}, Message: "Access denied, sending domain example.com does not meet the required authentication level"}
	}})
	second := ta.sendCampaign(key)
	p := ta.waitCampaignIdle(second, "paused", 60*time.Second)
	if !strings.Contains(p.PausedReason, "refused because of the sender") || !strings.Contains(p.PausedReason, "5.7.515") {
		t.Errorf("paused_reason %q", p.PausedReason)
	}
	if p.Counts.SenderRefusals < 20 || p.Counts.Sent+p.Counts.Failed >= 200 {
		t.Errorf("counts %+v: want at least 20 sender refusals and the campaign stopped before the end", p.Counts)
	}
	if n := ta.count(`SELECT count(*) FROM subscribers WHERE suppressed_at IS NOT NULL`); n != 1 {
		t.Errorf("%d suppressed, want only the hard bounce", n)
	}
	st, m := ta.api("GET", fmt.Sprintf("/api/v1/campaigns/%d", second), key, "")
	if st != 200 || m["status"] != "paused" || !strings.Contains(fmt.Sprint(m["paused_reason"]), "envoi doctor") {
		t.Errorf("API: %d %v", st, m)
	}
	// The admin campaign page says why, and shows the counts.
	page := ta.signedIn("viewer").get(fmt.Sprintf("/admin/campaigns/%d", second))
	if page.Status != 200 || !strings.Contains(page.Body, `id="paused-reason"`) || !strings.Contains(page.Body, "5.7.515") ||
		!strings.Contains(page.Body, `id="bounce-counts"`) {
		t.Errorf("admin campaign page: %d, no paused reason or counts", page.Status)
	}
	// Resuming clears the reason.
	ta.SMTP.SetFault(mailcatcher.Fault{})
	if st, m := ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/resume", second), key, ""); st != 200 && st != 202 {
		t.Fatalf("resume: %d %v", st, m)
	}
	if r := ta.waitCampaign(second, "sent", 60*time.Second); r.PausedReason != "" {
		t.Errorf("paused_reason after resume: %q", r.PausedReason)
	}
}
