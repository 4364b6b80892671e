package webhook

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seed adds the testdata files whose names start with prefix.
func seed(f *testing.F, prefix string, extra ...string) {
	names, _ := filepath.Glob(filepath.Join("testdata", prefix+"*.json"))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, e := range extra {
		f.Add([]byte(e))
	}
}

func fuzzCheck(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v is no ErrInvalid", err)
	}
}

func FuzzSES(f *testing.F) {
	seed(f, "ses_", `{"notificationType":"Bounce","bounce":{"bouncedRecipients":[{"emailAddress":"\"a b\"@c","diagnosticCode":"@@ x@ <y@z>"}]}}`)
	f.Fuzz(func(t *testing.T, msg []byte) {
		events, err := parseSES("mid", msg)
		fuzzCheck(t, err)
		checkSafe(t, events, err)
	})
}

func FuzzSendGrid(f *testing.F) {
	seed(f, "sendgrid", `[{"event":"bounce","type":"blocked","reason":"`+strings.Repeat("é@", 150)+`","status":7}]`)
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := parseSendGrid(body)
		fuzzCheck(t, err)
		checkSafe(t, events, err)
	})
}

func FuzzMailgun(f *testing.F) {
	seed(f, "mailgun_")
	f.Fuzz(func(t *testing.T, eventData []byte) {
		body := append(append([]byte(`{"signature":{"timestamp":"1","token":"t","signature":"00"},"event-data":`), eventData...), '}')
		_, events, err := parseMailgun(body)
		fuzzCheck(t, err)
		checkSafe(t, events, err)
		_, events, err = parseMailgun(eventData)
		fuzzCheck(t, err)
		checkSafe(t, events, err)
	})
}

func FuzzPostmark(f *testing.F) {
	seed(f, "postmark_")
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := parsePostmark(body)
		fuzzCheck(t, err)
		checkSafe(t, events, err)
	})
}

func FuzzSNSURL(f *testing.F) {
	f.Add(testCertURL)
	f.Add("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x")
	f.Fuzz(func(t *testing.T, raw string) {
		for _, pem := range []bool{true, false} {
			if checkSNSURL(raw, pem) != nil {
				continue
			}
			// Accepted: the host really is an SNS host, reached over https.
			if !strings.HasPrefix(raw, "https://sns.") || strings.Contains(raw, "@") {
				t.Fatalf("accepted %q", raw)
			}
		}
	})
}
