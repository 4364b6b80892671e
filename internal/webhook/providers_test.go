package webhook

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/bounce"
)

func TestSendGrid(t *testing.T) {
	keys := testECDSA()
	p, err := NewSendGrid(sendGridKey(keys[0]), clock)
	if err != nil {
		t.Fatal(err)
	}
	body := readTestdata(t, "sendgrid.json")
	ts := strconv.FormatInt(testNow.Add(-30*time.Second).Unix(), 10)
	header := func(sig, ts string) http.Header {
		h := http.Header{}
		if sig != "" {
			h.Set(SendGridSignatureHeader, sig)
		}
		if ts != "" {
			h.Set(SendGridTimestampHeader, ts)
		}
		return h
	}
	got, err := p.Parse(context.Background(), header(signSendGrid(keys[0], ts, body), ts), body)
	if err != nil {
		t.Fatal(err)
	}
	checkEvents(t, got, []bounce.Event{
		{Kind: bounce.Hard, Recipient: "alice@example.org", Status: "5.1.1", Diagnostic: "550 5.1.1 The email account that you tried to reach does not exist. <address>", Source: bounce.SourceSendGrid, ID: "ZmFrZWJvdW5jZWV2ZW50MDAx"},
		{Kind: bounce.Soft, Recipient: "bob@example.net", Status: "4.4.2", Diagnostic: "421 4.4.2 Connection timed out", Source: bounce.SourceSendGrid, ID: "ZmFrZWJsb2NrZWQwMDAwMDAy"},
		{Kind: bounce.Sender, Recipient: "carol@example.com", Status: "5.7.1", Diagnostic: "554 5.7.1 Service unavailable; client host blocked using Spamhaus", Source: bounce.SourceSendGrid, ID: "ZmFrZWJsb2NrZWQwMDAwMDAz"},
		{Kind: bounce.Complaint, Recipient: "erin@example.com", Source: bounce.SourceSendGrid, ID: "ZmFrZXNwYW1yZXBvcnQwMDA1"},
	})
	// Replay of the accepted request.
	if _, err := p.Parse(context.Background(), header(signSendGrid(keys[0], ts, body), ts), body); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("replay: %v", err)
	}

	fresh := strconv.FormatInt(testNow.Unix(), 10)
	stale := strconv.FormatInt(testNow.Add(-11*time.Minute).Unix(), 10)
	future := strconv.FormatInt(testNow.Add(11*time.Minute).Unix(), 10)
	altered := append([]byte(nil), body...)
	altered[strings.Index(string(altered), "5.1.1")] = '4'
	bad := []byte(`[{"event":"bounce",`)
	tests := []struct {
		name string
		h    http.Header
		body []byte
		want error
	}{
		{"no signature", header("", fresh), body, ErrUnauthorized},
		{"no timestamp", header(signSendGrid(keys[0], fresh, body), ""), body, ErrUnauthorized},
		{"signature not base64", header("%%%", fresh), body, ErrUnauthorized},
		{"wrong signature", header(signSendGrid(keys[0], fresh, []byte("other")), fresh), body, ErrUnauthorized},
		{"other key", header(signSendGrid(keys[1], fresh, body), fresh), body, ErrUnauthorized},
		{"body altered by one byte", header(signSendGrid(keys[0], fresh, body), fresh), altered, ErrUnauthorized},
		{"timestamp altered", header(signSendGrid(keys[0], fresh, body), strconv.FormatInt(testNow.Unix()-1, 10)), body, ErrUnauthorized},
		{"stale", header(signSendGrid(keys[0], stale, body), stale), body, ErrUnauthorized},
		{"future", header(signSendGrid(keys[0], future, body), future), body, ErrUnauthorized},
		{"timestamp no number", header(signSendGrid(keys[0], "soon", body), "soon"), body, ErrUnauthorized},
		{"malformed JSON", header(signSendGrid(keys[0], fresh, bad), fresh), bad, ErrInvalid},
		{"object not array", header(signSendGrid(keys[0], fresh, []byte(`{}`)), fresh), []byte(`{}`), ErrInvalid},
		{"trailing data", header(signSendGrid(keys[0], fresh, []byte(`[] []`)), fresh), []byte(`[] []`), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Parse(context.Background(), tt.h, tt.body)
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			checkSafe(t, got, err)
		})
	}

	for _, k := range []string{"", "not base64!", "aGVsbG8=", "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"} {
		if _, err := NewSendGrid(k, clock); err == nil {
			t.Errorf("NewSendGrid(%.20q) accepted", k)
		}
	}
}

func TestSendGridTooMany(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := range MaxEvents + 1 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"event":"spamreport","email":"x` + strconv.Itoa(i) + `@example.com","sg_event_id":"e` + strconv.Itoa(i) + `"}`)
	}
	b.WriteString("]")
	if _, err := parseSendGrid([]byte(b.String())); !errors.Is(err, ErrInvalid) {
		t.Errorf("%d events: %v", MaxEvents+1, err)
	}
}

func TestMailgun(t *testing.T) {
	tests := []struct {
		file string
		want []bounce.Event
	}{
		{"mailgun_failed.json", []bounce.Event{{Kind: bounce.Hard, Recipient: "alice@example.org", ReturnPath: "bounces+c42.s1977@news.envoi.example",
			Status: "5.1.1", Diagnostic: "5.1.1 The email account that you tried to reach does not exist <address>", Source: bounce.SourceMailgun, ID: "G9Bn5sl1TC6nu79C8C0bwg"}}},
		{"mailgun_temporary.json", []bounce.Event{{Kind: bounce.Sender, Recipient: "bob@example.net",
			Status: "4.7.1", Diagnostic: "4.7.1 Greylisted, please try again later", Source: bounce.SourceMailgun, ID: "Tmp5sl1TC6nu79C8C0bwg"}}},
		{"mailgun_complained.json", []bounce.Event{{Kind: bounce.Complaint, Recipient: "carol@example.com", ReturnPath: "bounces+c42.s3@news.envoi.example",
			Source: bounce.SourceMailgun, ID: "Cmp5sl1TC6nu79C8C0bwg"}}},
		{"mailgun_suppressed.json", nil},
		{"mailgun_delivered.json", nil},
	}
	p := NewMailgun(testMailgunKey, clock)
	for i, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := mailgunBodyFor(testMailgunKey, testNow.Add(-time.Minute), "tok"+strconv.Itoa(i)+"a8c2e1f05b7d9c3e6a4f2b1d8e7c5a3f9b0d2e4c6a", readTestdata(t, tt.file))
			got, err := p.Parse(context.Background(), nil, body)
			if err != nil {
				t.Fatal(err)
			}
			checkEvents(t, got, tt.want)
			if _, err := p.Parse(context.Background(), nil, body); !errors.Is(err, ErrUnauthorized) {
				t.Errorf("replay: %v", err)
			}
		})
	}

	ed := readTestdata(t, "mailgun_failed.json")
	genuine := string(mailgunBodyFor(testMailgunKey, testNow, "freshtoken0001", ed))
	refused := []struct {
		name string
		body string
		want error
	}{
		{"no signature", `{"event-data":` + string(ed) + `}`, ErrUnauthorized},
		{"other key", string(mailgunBodyFor("key-other", testNow, "freshtoken0002", ed)), ErrUnauthorized},
		{"signature not hex", strings.Replace(genuine, `"signature":"`, `"signature":"zz`, 1), ErrUnauthorized},
		{"token altered", strings.Replace(genuine, "freshtoken0001", "freshtoken0009", 1), ErrUnauthorized},
		{"timestamp altered by one", strings.Replace(genuine, strconv.FormatInt(testNow.Unix(), 10), strconv.FormatInt(testNow.Unix()+1, 10), 1), ErrUnauthorized},
		{"stale", string(mailgunBodyFor(testMailgunKey, testNow.Add(-11*time.Minute), "freshtoken0003", ed)), ErrUnauthorized},
		{"future", string(mailgunBodyFor(testMailgunKey, testNow.Add(11*time.Minute), "freshtoken0004", ed)), ErrUnauthorized},
		{"malformed JSON", genuine[:len(genuine)-2], ErrInvalid},
		{"no event-data", `{"signature":{"timestamp":"1","token":"t","signature":"00"}}`, ErrInvalid},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Parse(context.Background(), nil, []byte(tt.body))
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			checkSafe(t, got, err)
		})
	}
	// The token of a refused request was not burnt; a key-less provider refuses all.
	if _, err := p.Parse(context.Background(), nil, []byte(genuine)); err != nil {
		t.Errorf("genuine after refusals: %v", err)
	}
	if _, err := NewMailgun("", clock).Parse(context.Background(), nil, mailgunBodyFor("", testNow, "t5", ed)); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("empty key: %v", err)
	}
	// The token window outlives the timestamp window.
	q := NewMailgun(testMailgunKey, func() time.Time { return testNow })
	b := mailgunBodyFor(testMailgunKey, testNow.Add(-9*time.Minute), "windowtoken", ed)
	if _, err := q.Parse(context.Background(), nil, b); err != nil {
		t.Fatal(err)
	}
	q.(*mailgun).now = func() time.Time { return testNow.Add(19 * time.Minute) }
	b = mailgunBodyFor(testMailgunKey, testNow.Add(10*time.Minute), "windowtoken", ed)
	if _, err := q.Parse(context.Background(), nil, b); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("token reused 19 minutes later: %v", err)
	}
}

func TestPostmark(t *testing.T) {
	p := NewPostmark("envoi", "s3cret-pa55")
	auth := func(u, pw string) http.Header {
		r, _ := http.NewRequest("POST", "https://x/", nil)
		r.SetBasicAuth(u, pw)
		return r.Header
	}
	tests := []struct {
		file string
		want []bounce.Event
	}{
		{"postmark_hard.json", []bounce.Event{{Kind: bounce.Hard, Recipient: "alice@example.org", Status: "5.1.1",
			Diagnostic: "smtp;550 5.1.1 The email account that you tried to reach does not exist <address>", Source: bounce.SourcePostmark, ID: "4323372036854775807"}}},
		{"postmark_blocked.json", []bounce.Event{{Kind: bounce.Sender, Recipient: "bob@example.net", Status: "5.7.1",
			Diagnostic: "554 5.7.1 Message blocked due to spam content", Source: bounce.SourcePostmark, ID: "42"}}},
		{"postmark_soft.json", []bounce.Event{{Kind: bounce.Soft, Recipient: "carol@example.com", Status: "4.2.2",
			Diagnostic: "452 4.2.2 Mailbox full", Source: bounce.SourcePostmark, ID: "43"}}},
		{"postmark_spam.json", []bounce.Event{{Kind: bounce.Complaint, Recipient: "dave@example.com", Source: bounce.SourcePostmark, ID: "44"}}},
		{"postmark_delivery.json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := p.Parse(context.Background(), auth("envoi", "s3cret-pa55"), readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			checkEvents(t, got, tt.want)
		})
	}
	body := readTestdata(t, "postmark_hard.json")
	refused := []struct {
		name string
		h    http.Header
		body []byte
		want error
	}{
		{"no credentials", http.Header{}, body, ErrUnauthorized},
		{"wrong password", auth("envoi", "s3cret-pa56"), body, ErrUnauthorized},
		{"wrong user", auth("envoy", "s3cret-pa55"), body, ErrUnauthorized},
		{"password prefix", auth("envoi", "s3cret"), body, ErrUnauthorized},
		{"bearer", http.Header{"Authorization": {"Bearer s3cret-pa55"}}, body, ErrUnauthorized},
		{"malformed JSON", auth("envoi", "s3cret-pa55"), body[:len(body)-3], ErrInvalid},
		{"wrong type", auth("envoi", "s3cret-pa55"), []byte(`{"RecordType":7}`), ErrInvalid},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Parse(context.Background(), tt.h, tt.body)
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			checkSafe(t, got, err)
		})
	}
	if _, err := NewPostmark("", "").Parse(context.Background(), auth("", ""), body); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("empty credentials: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for _, in := range []string{`"john doe"@example.com said no`, "x @ y", "@@@", strings.Repeat("a@b ", 100), "ok"} {
		if got := redact(in); strings.Contains(got, "@") || len(got) > 200 {
			t.Errorf("redact(%q) = %q", in, got)
		}
	}
}
