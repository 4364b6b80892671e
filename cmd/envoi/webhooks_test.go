package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWebhooks: provider webhooks change subscriber state only when
// authenticated; bad, unsigned or replayed payloads get 400/401 and change
// nothing; a provider that is not configured answers 404.
func TestWebhooks(t *testing.T) {
	t.Parallel()
	sgKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&sgKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ta := startApp(t, appOpts{env: map[string]string{
		"ENVOI_WEBHOOK_MAILGUN_KEY":   "mailgun-signing-key-0123456789",
		"ENVOI_WEBHOOK_POSTMARK_AUTH": "postmark:s3cret-pass",
		"ENVOI_WEBHOOK_SENDGRID_KEY":  base64.StdEncoding.EncodeToString(der),
	}})
	key := ta.apiKey()
	ta.seed("newsletter", "wh", 3, "confirmed")
	id := ta.sendCampaign(key)
	ta.allOnce(id, 3, 60*time.Second)

	now := ta.Clock.Now()
	mailgun := func(token, recipient, sig string) string {
		ts := strconv.FormatInt(now.Unix(), 10)
		if sig == "" {
			m := hmac.New(sha256.New, []byte("mailgun-signing-key-0123456789"))
			m.Write([]byte(ts + token))
			sig = hex.EncodeToString(m.Sum(nil))
		}
		return `{"signature":{"timestamp":"` + ts + `","token":"` + token + `","signature":"` + sig + `"},
"event-data":{"event":"failed","severity":"permanent","reason":"bounce","recipient":"` + recipient + `","id":"ev-` + token + `",
"delivery-status":{"code":550,"enhanced-code":"5.1.1","message":"5.1.1 The email account that you tried to reach does not exist","description":""}}}`
	}
	post := func(path, body string, header ...string) int {
		return ta.do("POST", path, "application/json", body, header...).Status
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("postmark:s3cret-pass"))
	wrong := "Basic " + base64.StdEncoding.EncodeToString([]byte("postmark:guess"))
	complaint := `{"RecordType":"SpamComplaint","Type":"SpamComplaint","ID":42,"Email":"wh-2@example.com","Details":"complaint"}`

	tests := []struct {
		name   string
		path   string
		body   string
		header []string
		status int
	}{
		{"mailgun bad signature", "/webhooks/mailgun", mailgun("tok1", "wh-1@example.com", strings.Repeat("0", 64)), nil, 401},
		{"mailgun malformed", "/webhooks/mailgun", `{"signature":`, nil, 400},
		{"postmark without credentials", "/webhooks/postmark", complaint, nil, 401},
		{"postmark with a wrong password", "/webhooks/postmark", complaint, []string{"Authorization", wrong}, 401},
		{"not configured", "/webhooks/ses", `{}`, nil, 404},
		{"unknown provider", "/webhooks/other", `[]`, nil, 404},
	}
	for _, tt := range tests {
		if got := post(tt.path, tt.body, tt.header...); got != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.status)
		}
	}
	if n := ta.count(`SELECT count(*) FROM subscribers WHERE suppressed_at IS NOT NULL`); n != 0 {
		t.Fatalf("refused requests suppressed %d subscribers", n)
	}

	// Genuine: a Mailgun hard bounce suppresses; its replay is refused.
	good := mailgun("tok2", "WH-1@example.com", "")
	if st := post("/webhooks/mailgun", good); st != 200 {
		t.Fatalf("genuine Mailgun event: %d", st)
	}
	if r := ta.suppressedReason("wh-1@example.com"); r != "hard_bounce" {
		t.Errorf("after the Mailgun bounce: %q", r)
	}
	if acts := ta.consentActions("wh-1@example.com"); !strings.HasSuffix(acts, "suppress/webhook") {
		t.Errorf("consent log %q", acts)
	}
	if st := post("/webhooks/mailgun", good); st != 401 {
		t.Errorf("replayed Mailgun event: %d, want 401", st)
	}
	// Postmark complaint with the credentials: unsubscribed from everything, suppressed.
	if st := post("/webhooks/postmark", complaint, "Authorization", basic); st != 200 {
		t.Fatalf("genuine Postmark complaint: %d", st)
	}
	if r, s := ta.suppressedReason("wh-2@example.com"), ta.status("wh-2@example.com"); r != "complaint" || s != "unsubscribed" {
		t.Errorf("after the complaint: %q, %s", r, s)
	}
	// Postmark redelivers the same event: it counts once.
	if st := post("/webhooks/postmark", complaint, "Authorization", basic); st != 200 {
		t.Errorf("redelivered Postmark event: %d", st)
	}
	if n := ta.count(`SELECT count(*) FROM bounces`); n != 2 {
		t.Errorf("%d bounce rows, want 2", n)
	}
	c := ta.campaign(id)
	if c.Counts.Bounces != 1 || c.Counts.Complaints != 1 {
		t.Errorf("campaign counts %+v, want 1 bounce and 1 complaint (attributed to the last campaign sent)", c.Counts)
	}
	if r := ta.suppressedReason("wh-3@example.com"); r != "" {
		t.Errorf("an address no event named was suppressed: %q", r)
	}

	// SendGrid's signed event webhook: a body altered after signing is refused,
	// the signed one counts (a hard bounce).
	sg := `[{"email":"wh-3@example.com","event":"bounce","type":"bounce","status":"5.1.1","reason":"550 5.1.1 unknown user","sg_event_id":"sg-1","timestamp":` + strconv.FormatInt(now.Unix(), 10) + `}]`
	ts := strconv.FormatInt(now.Unix(), 10)
	sum := sha256.Sum256([]byte(ts + sg))
	sig, err := ecdsa.SignASN1(rand.Reader, sgKey, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	h := []string{"X-Twilio-Email-Event-Webhook-Signature", base64.StdEncoding.EncodeToString(sig), "X-Twilio-Email-Event-Webhook-Timestamp", ts}
	if st := post("/webhooks/sendgrid", strings.Replace(sg, "wh-3", "wh-1", 1), h...); st != 401 {
		t.Errorf("altered SendGrid body: %d, want 401", st)
	}
	if r := ta.suppressedReason("wh-3@example.com"); r != "" {
		t.Fatalf("the altered body suppressed someone: %q", r)
	}
	if st := post("/webhooks/sendgrid", sg, h...); st != 200 {
		t.Fatalf("genuine SendGrid event: %d", st)
	}
	if r := ta.suppressedReason("wh-3@example.com"); r != "hard_bounce" {
		t.Errorf("after the SendGrid bounce: %q", r)
	}
	_ = fmt.Sprint
}
