package webhook

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/bounce"
)

var testNow = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// --- SNS ---

const testCertURL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
const testTopic = "arn:aws:sns:eu-west-1:123456789012:envoi-bounces"

type rsaKeys struct {
	key, other *rsa.PrivateKey
	cert       *x509.Certificate
}

var testRSA = sync.OnceValue(func() rsaKeys {
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore: testNow.Add(-24 * time.Hour), NotAfter: testNow.Add(365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k1.PublicKey, k1)
	if err != nil {
		panic(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return rsaKeys{k1, k2, c}
})

// fakeFetcher serves the test certificate at testCertURL and counts calls.
type fakeFetcher struct {
	mu    sync.Mutex
	calls int
	err   error
}

func (f *fakeFetcher) Fetch(_ context.Context, url string) (*x509.Certificate, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	if url != testCertURL {
		return nil, fmt.Errorf("%w: unknown certificate", ErrUnauthorized)
	}
	return testRSA().cert, nil
}

// snsFields builds a Notification (or, with typ, a confirmation) carrying msg.
func snsFields(typ, id, msg string, ts time.Time) *snsMessage {
	m := &snsMessage{
		Type: typ, MessageId: id, TopicArn: testTopic, Message: msg,
		Timestamp: ts.UTC().Format("2006-01-02T15:04:05.000Z"), SignatureVersion: "1",
		SigningCertURL: testCertURL,
	}
	if typ != "Notification" {
		m.Token = "2336412f37fb687f5d51e6e2425dacbba4cf3b0e1f6a4ad1"
		m.SubscribeURL = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + testTopic + "&Token=" + m.Token
	}
	return m
}

func signSNS(m *snsMessage, key *rsa.PrivateKey) {
	var sig []byte
	var err error
	if m.SignatureVersion == "2" {
		d := sha256.Sum256([]byte(m.canonical()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	} else {
		d := sha1.Sum([]byte(m.canonical()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, d[:])
	}
	if err != nil {
		panic(err)
	}
	m.Signature = base64.StdEncoding.EncodeToString(sig)
}

func snsBody(m *snsMessage) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// --- SendGrid ---

var testECDSA = sync.OnceValue(func() [2]*ecdsa.PrivateKey {
	var ks [2]*ecdsa.PrivateKey
	for i := range ks {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		ks[i] = k
	}
	return ks
})

func sendGridKey(k *ecdsa.PrivateKey) string {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

func signSendGrid(k *ecdsa.PrivateKey, ts string, body []byte) string {
	d := sha256.Sum256(append([]byte(ts), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, k, d[:])
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// --- Mailgun ---

const testMailgunKey = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"

// mailgunBodyFor wraps event-data with a signature by key at ts.
func mailgunBodyFor(key string, ts time.Time, token string, eventData []byte) []byte {
	tsText := strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(tsText + token))
	sig := hex.EncodeToString(m.Sum(nil))
	return []byte(`{"signature":{"timestamp":"` + tsText + `","token":"` + token + `","signature":"` + sig + `"},"event-data":` + strings.TrimSpace(string(eventData)) + `}`)
}

// checkEvents compares events field by field.
func checkEvents(t *testing.T, got, want []bounce.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// checkSafe asserts the invariants of any parse result.
func checkSafe(t *testing.T, events []bounce.Event, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "@") {
		t.Errorf("error text holds '@': %q", err)
	}
	if len(events) > MaxEvents {
		t.Errorf("%d events", len(events))
	}
	for _, e := range events {
		if len(e.Diagnostic) > 200 || strings.Contains(e.Diagnostic, "@") {
			t.Errorf("diagnostic %q", e.Diagnostic)
		}
		if e.Recipient != strings.ToLower(e.Recipient) {
			t.Errorf("recipient %q not lower case", e.Recipient)
		}
		if e.Kind < bounce.Hard || e.Kind > bounce.Complaint {
			t.Errorf("kind %v", e.Kind)
		}
	}
}
