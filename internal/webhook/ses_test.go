package webhook

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/bounce"
)

func TestSESGenuine(t *testing.T) {
	const id = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
	tests := []struct {
		file    string
		version string
		want    []bounce.Event
	}{
		{"ses_bounce.json", "1", []bounce.Event{
			{Kind: bounce.Hard, Recipient: "alice.martin@example.org", ReturnPath: "bounces+c42.s1977@news.envoi.example", Unsubscribe: "AbC-123_xYz",
				Status: "5.1.1", Diagnostic: "smtp; 550 5.1.1 <address>: Recipient address rejected: User unknown in virtual mailbox table", Source: bounce.SourceSES, ID: id + ":0"},
			{Kind: bounce.Sender, Recipient: "bob@example.net", ReturnPath: "bounces+c42.s1977@news.envoi.example", Unsubscribe: "AbC-123_xYz",
				Status: "5.7.1", Diagnostic: "smtp; 550 5.7.1 Message rejected due to local policy, contact <address>", Source: bounce.SourceSES, ID: id + ":1"},
		}},
		{"ses_transient.json", "2", []bounce.Event{
			{Kind: bounce.Soft, Recipient: "carol@example.com", Status: "5.2.2", Diagnostic: "smtp; 552 5.2.2 Mailbox full", Source: bounce.SourceSES, ID: id + ":0"},
		}},
		{"ses_complaint.json", "2", []bounce.Event{
			{Kind: bounce.Complaint, Recipient: "dave@example.com", ReturnPath: "bounces+c42.s2001@news.envoi.example", Unsubscribe: "Zz9_-Q", Source: bounce.SourceSES, ID: id + ":0"},
		}},
		{"ses_notspam.json", "1", nil},
		{"ses_delivery.json", "1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := &fakeFetcher{}
			p := NewSES([]string{"arn:aws:sns:eu-west-1:123456789012:other", testTopic}, f, clock)
			m := snsFields("Notification", id, string(readTestdata(t, tt.file)), testNow.Add(-2*time.Minute))
			subj := "Amazon SES Email Event Notification"
			m.Subject = &subj
			m.SignatureVersion = tt.version
			signSNS(m, testRSA().key)
			body := snsBody(m)
			got, err := p.Parse(context.Background(), http.Header{}, body)
			if err != nil {
				t.Fatal(err)
			}
			checkEvents(t, got, tt.want)
			// The same message again is a replay.
			if _, err := p.Parse(context.Background(), http.Header{}, body); !errors.Is(err, ErrUnauthorized) {
				t.Errorf("replay: %v, want ErrUnauthorized", err)
			}
		})
	}
}

func TestSESRefused(t *testing.T) {
	msg := string(readTestdata(t, "ses_bounce.json"))
	genuine := func() *snsMessage {
		m := snsFields("Notification", "b1", msg, testNow.Add(-time.Minute))
		signSNS(m, testRSA().key)
		return m
	}
	tests := []struct {
		name   string
		body   func() []byte
		topics []string
		want   error
	}{
		{"no signature", func() []byte { m := genuine(); m.Signature = ""; return snsBody(m) }, nil, ErrUnauthorized},
		{"signature not base64", func() []byte { m := genuine(); m.Signature = "!!"; return snsBody(m) }, nil, ErrUnauthorized},
		{"other key", func() []byte { m := genuine(); signSNS(m, testRSA().other); return snsBody(m) }, nil, ErrUnauthorized},
		{"message altered", func() []byte {
			m := genuine()
			m.Message = strings.Replace(m.Message, "Permanent", "Pernament", 1)
			return snsBody(m)
		}, nil, ErrUnauthorized},
		{"body altered by one byte", func() []byte {
			b := snsBody(genuine())
			i := strings.Index(string(b), "5.1.1")
			b[i] = '4'
			return b
		}, nil, ErrUnauthorized},
		{"subject added", func() []byte { m := genuine(); s := "x"; m.Subject = &s; return snsBody(m) }, nil, ErrUnauthorized},
		{"version 2 claimed for a version 1 signature", func() []byte { m := genuine(); m.SignatureVersion = "2"; return snsBody(m) }, nil, ErrUnauthorized},
		{"unknown version", func() []byte { m := genuine(); m.SignatureVersion = "3"; signSNS(m, testRSA().key); return snsBody(m) }, nil, ErrUnauthorized},
		{"stale", func() []byte {
			m := snsFields("Notification", "b2", msg, testNow.Add(-61*time.Minute))
			signSNS(m, testRSA().key)
			return snsBody(m)
		}, nil, ErrUnauthorized},
		{"future", func() []byte {
			m := snsFields("Notification", "b3", msg, testNow.Add(6*time.Minute))
			signSNS(m, testRSA().key)
			return snsBody(m)
		}, nil, ErrUnauthorized},
		{"bad timestamp", func() []byte { m := genuine(); m.Timestamp = "yesterday"; signSNS(m, testRSA().key); return snsBody(m) }, nil, ErrUnauthorized},
		{"topic not allowed", func() []byte { return snsBody(genuine()) }, []string{"arn:aws:sns:eu-west-1:123456789012:other"}, ErrUnauthorized},
		{"malformed JSON", func() []byte { return []byte(`{"Type":"Notification",`) }, nil, ErrInvalid},
		{"not an object", func() []byte { return []byte(`[1,2]`) }, nil, ErrInvalid},
		{"unknown type", func() []byte { m := genuine(); m.Type = "Other"; return snsBody(m) }, nil, ErrInvalid},
		{"signed message not JSON", func() []byte {
			m := snsFields("Notification", "b4", "{not json <x@y.z>", testNow)
			signSNS(m, testRSA().key)
			return snsBody(m)
		}, nil, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewSES(tt.topics, &fakeFetcher{}, clock)
			got, err := p.Parse(context.Background(), nil, tt.body())
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			checkSafe(t, got, err)
		})
	}
}

func TestSESCertURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{testCertURL, true},
		{"https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", true},
		{"https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-abc.pem", true},
		{"http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem", false},
		{"https://sns.evil.com/SimpleNotificationService-abc.pem", false},
		{"https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-abc.pem", false},
		{"https://evil.com/sns.us-east-1.amazonaws.com/x.pem", false},
		{"https://sns.us-east-1.amazonaws.com@evil.com/x.pem", false},
		{"https://user@sns.us-east-1.amazonaws.com/x.pem", false},
		{"https://sns.us-east-1.amazonaws.com:8443/x.pem", false},
		{"https://sns.us-east-1.amazonaws.com:443/x.pem", false},
		{"https://sns.us-east-1.amazonaws.com/x.pem.txt", false},
		{"https://sns.us-east-1.amazonaws.com/x.pem?a=b", false},
		{"https://sns.us-east-1.amazonaws.com/x.pem#f", false},
		{"https://sns.us-east-1.amazonaws.com\\@evil.com/x.pem", false},
		{"https://SNS.US-EAST-1.AMAZONAWS.COM.evil.com/x.pem", false},
		{"https:sns.us-east-1.amazonaws.com/x.pem", false},
		{"//sns.us-east-1.amazonaws.com/x.pem", false},
		{"", false},
	}
	for _, tt := range tests {
		err := checkSNSURL(tt.url, true)
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrUnauthorized) {
			t.Errorf("checkSNSURL(%q) = %v, want ok %v", tt.url, err, tt.ok)
		}
		if tt.ok {
			continue
		}
		// Through Parse: refused before any fetch.
		m := snsFields("Notification", "u", "{}", testNow)
		m.SigningCertURL = tt.url
		signSNS(m, testRSA().key)
		f := &fakeFetcher{}
		if _, err := NewSES(nil, f, clock).Parse(context.Background(), nil, snsBody(m)); !errors.Is(err, ErrUnauthorized) || f.calls != 0 {
			t.Errorf("Parse with %q: %v after %d fetches", tt.url, err, f.calls)
		}
	}
}

func TestSESSubscription(t *testing.T) {
	m := snsFields("SubscriptionConfirmation", "s1", "You have chosen to subscribe to the topic "+testTopic+".", testNow)
	m.SignatureVersion = "2"
	signSNS(m, testRSA().key)
	p := NewSES([]string{testTopic}, &fakeFetcher{}, clock)
	events, err := p.Parse(context.Background(), nil, snsBody(m))
	var sr *SubscribeRequest
	if !errors.As(err, &sr) || events != nil {
		t.Fatalf("got %v, %v; want a *SubscribeRequest", events, err)
	}
	if sr.URL != m.SubscribeURL || sr.TopicARN != testTopic {
		t.Errorf("got %+v", sr)
	}
	if errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrInvalid) {
		t.Error("a SubscribeRequest is neither ErrUnauthorized nor ErrInvalid")
	}

	// A SubscribeURL elsewhere is refused even when signed.
	m = snsFields("SubscriptionConfirmation", "s2", "x", testNow)
	m.SubscribeURL = "https://evil.example/?Action=ConfirmSubscription"
	signSNS(m, testRSA().key)
	if _, err := p.Parse(context.Background(), nil, snsBody(m)); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("SubscribeURL elsewhere: %v", err)
	}
	// A confirmation of a topic not allowed is refused.
	m = snsFields("SubscriptionConfirmation", "s3", "x", testNow)
	m.TopicArn = "arn:aws:sns:eu-west-1:999999999999:theirs"
	signSNS(m, testRSA().key)
	if _, err := p.Parse(context.Background(), nil, snsBody(m)); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("other topic: %v", err)
	}
	// UnsubscribeConfirmation: verified, no events.
	m = snsFields("UnsubscribeConfirmation", "s4", "x", testNow)
	signSNS(m, testRSA().key)
	if ev, err := p.Parse(context.Background(), nil, snsBody(m)); err != nil || ev != nil {
		t.Errorf("UnsubscribeConfirmation: %v, %v", ev, err)
	}
}

func TestSESFetchFailureIsTemporary(t *testing.T) {
	m := snsFields("Notification", "f1", "{}", testNow)
	signSNS(m, testRSA().key)
	p := NewSES(nil, &fakeFetcher{err: errors.New("connection refused")}, clock)
	_, err := p.Parse(context.Background(), nil, snsBody(m))
	if err == nil || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want a temporary error", err)
	}
	// Not remembered: the retry, once the certificate can be fetched, passes.
	p.(*ses).fetch = &fakeFetcher{}
	if _, err := p.Parse(context.Background(), nil, snsBody(m)); err != nil {
		t.Fatal(err)
	}
}

func TestUnsubscribeToken(t *testing.T) {
	tests := map[string]string{
		"<https://news.envoi.example/unsubscribe/AbC-1_z>":                      "AbC-1_z",
		"<mailto:u@x.example>, <https://x.example/unsubscribe/T0k>":             "T0k",
		"<http://x.example/unsubscribe/T0k>":                                    "",
		"<https://x.example/other/T0k>":                                         "",
		"<https://x.example/unsubscribe/T0k?x=1>":                               "T0k",
		"<https://x.example/unsubscribe/bad%20tok>":                             "",
		"<https://x.example/unsubscribe/>":                                      "",
		"https://x.example/unsubscribe/T0k":                                     "",
		"<https://x.example/prefix/unsubscribe/T0k>, <https://y/unsubscribe/Z>": "T0k",
	}
	for in, want := range tests {
		if got := unsubscribeToken(in); got != want {
			t.Errorf("unsubscribeToken(%q) = %q, want %q", in, got, want)
		}
	}
}
