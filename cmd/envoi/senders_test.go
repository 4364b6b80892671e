package main

import (
	"fmt"
	"testing"
	"time"
)

// TestSenders: with ENVOI_TRANSACTIONAL_FROM set, confirmations and welcomes
// come from it (header and envelope) and campaigns from ENVOI_FROM; campaign
// mail carries a Feedback-ID naming the campaign, the list and the sender's
// domain, transactional mail none.
func TestSenders(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{env: map[string]string{"ENVOI_TRANSACTIONAL_FROM": "Example Hello <hello@example.com>"}})
	key := ta.apiKey()
	const addr = "senders@example.com"
	ta.signup(addr)
	ta.do("POST", link(t, ta.waitMail(addr, 1)[0], "confirm"), "", "")
	ta.waitMail(addr, 2) // the welcome, before the campaign
	camp := ta.sendCampaign(key)
	ta.waitCampaign(camp, "sent", 30*time.Second)
	ms := ta.waitMail(addr, 3)
	for i, m := range ms[:2] {
		if m.From != "hello@example.com" || m.Header("From") != `"Example Hello" <hello@example.com>` || m.Header("Feedback-ID") != "" {
			t.Fatalf("transactional mail %d: envelope %q, From %q, Feedback-ID %q", i, m.From, m.Header("From"), m.Header("Feedback-ID"))
		}
	}
	c := ms[2]
	if c.From != "news@example.com" || c.Header("From") != `"Example News" <news@example.com>` {
		t.Fatalf("campaign: envelope %q, From %q", c.From, c.Header("From"))
	}
	if got, want := c.Header("Feedback-ID"), fmt.Sprintf("c%d:newsletter:newsletter:example.com", camp); got != want {
		t.Fatalf("Feedback-ID %q, want %q", got, want)
	}
}
