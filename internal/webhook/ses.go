package webhook

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/envoi/envoi/internal/bounce"
)

// CertFetcher returns the certificate at an SNS SigningCertURL (already
// checked by the caller to be https on an sns.<region>.amazonaws.com host).
// An error wrapping ErrUnauthorized refuses the message; any other error is
// temporary.
type CertFetcher interface {
	Fetch(ctx context.Context, url string) (*x509.Certificate, error)
}

// SubscribeRequest is the error Parse returns for an authentic SNS
// SubscriptionConfirmation of an allowed topic: the handler confirms the
// subscription (Confirm, or a GET of URL) and answers 200.
type SubscribeRequest struct {
	TopicARN string
	URL      string // the SubscribeURL, checked to be https on an SNS host
}

func (e *SubscribeRequest) Error() string {
	return "webhook: SNS subscription confirmation for topic " + e.TopicARN
}

// Confirm visits the SubscribeURL (client nil: a 10 s timeout, no redirects).
func (e *SubscribeRequest) Confirm(ctx context.Context, client *http.Client) error {
	if err := checkSNSURL(e.URL, false); err != nil {
		return err
	}
	if client == nil {
		client = noRedirectClient()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.URL, nil)
	if err != nil {
		return fmt.Errorf("webhook: confirming the SNS subscription: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: confirming the SNS subscription: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("webhook: confirming the SNS subscription: status %d", resp.StatusCode)
	}
	return nil
}

func noRedirectClient() *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// SNS freshness and replay window.
const (
	snsMaxAge    = time.Hour
	snsMaxFuture = 5 * time.Minute
)

type ses struct {
	topics []string
	fetch  CertFetcher
	now    func() time.Time
	seen   *replay
}

// NewSES returns the provider of Amazon SES events through SNS. topicARNs,
// when not empty, are the only topics accepted. fetch gets the signing
// certificates (an *HTTPCertFetcher in production); now is the clock (nil:
// time.Now).
func NewSES(topicARNs []string, fetch CertFetcher, now func() time.Time) Provider {
	if now == nil {
		now = time.Now
	}
	if fetch == nil {
		fetch = &HTTPCertFetcher{}
	}
	var topics []string
	for _, t := range topicARNs {
		if t = strings.TrimSpace(t); t != "" {
			topics = append(topics, t)
		}
	}
	return &ses{topics: topics, fetch: fetch, now: now, seen: newReplay(snsMaxAge + snsMaxFuture)}
}

func (*ses) Name() string { return "ses" }

// snsMessage is the HTTP(S) endpoint's JSON. Subject is a pointer: it is
// part of the signed string only when present.
type snsMessage struct {
	Type             string
	MessageId        string
	Token            string
	TopicArn         string
	Subject          *string
	Message          string
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string
	SubscribeURL     string
}

// canonical is the string SNS signs: the fields, in this order, each as
// "Name\nvalue\n".
func (m *snsMessage) canonical() string {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	add("Message", m.Message)
	add("MessageId", m.MessageId)
	if m.Type == "Notification" {
		if m.Subject != nil {
			add("Subject", *m.Subject)
		}
	} else {
		add("SubscribeURL", m.SubscribeURL)
	}
	add("Timestamp", m.Timestamp)
	if m.Type != "Notification" {
		add("Token", m.Token)
	}
	add("TopicArn", m.TopicArn)
	add("Type", m.Type)
	return b.String()
}

func (p *ses) Parse(ctx context.Context, h http.Header, body []byte) ([]bounce.Event, error) {
	var m snsMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, jsonError("SNS message", err)
	}
	switch m.Type {
	case "Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation":
	default:
		return nil, fmt.Errorf("%w: unknown SNS message type", ErrInvalid)
	}
	if m.MessageId == "" || len(m.MessageId) > 128 || hasControl(m.MessageId) {
		return nil, fmt.Errorf("%w: SNS MessageId missing or too long", ErrInvalid)
	}
	if len(p.topics) > 0 && !slices.Contains(p.topics, m.TopicArn) {
		return nil, fmt.Errorf("%w: SNS topic not allowed", ErrUnauthorized)
	}
	if err := checkSNSURL(m.SigningCertURL, true); err != nil {
		return nil, err
	}
	ts, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	if err != nil {
		return nil, fmt.Errorf("%w: SNS Timestamp is no RFC 3339 time", ErrUnauthorized)
	}
	now := p.now()
	if !fresh(ts, now, snsMaxAge, snsMaxFuture) {
		return nil, fmt.Errorf("%w: SNS Timestamp %s is stale or in the future", ErrUnauthorized, ts.UTC().Format(time.RFC3339))
	}
	var hash crypto.Hash
	switch m.SignatureVersion {
	case "1":
		hash = crypto.SHA1
	case "2":
		hash = crypto.SHA256
	default:
		return nil, fmt.Errorf("%w: SNS SignatureVersion missing or unknown", ErrUnauthorized)
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("%w: SNS Signature missing or not base64", ErrUnauthorized)
	}
	cert, err := p.fetch.Fetch(ctx, m.SigningCertURL)
	if err != nil {
		if errors.Is(err, ErrUnauthorized) {
			return nil, err
		}
		return nil, fmt.Errorf("webhook: fetching the SNS signing certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: SNS signing certificate has no RSA key", ErrUnauthorized)
	}
	var digest []byte
	if hash == crypto.SHA1 {
		d := sha1.Sum([]byte(m.canonical()))
		digest = d[:]
	} else {
		d := sha256.Sum256([]byte(m.canonical()))
		digest = d[:]
	}
	if err := rsa.VerifyPKCS1v15(pub, hash, digest, sig); err != nil {
		return nil, fmt.Errorf("%w: SNS signature does not verify", ErrUnauthorized)
	}

	var events []bounce.Event
	var confirm *SubscribeRequest
	switch m.Type {
	case "SubscriptionConfirmation":
		if err := checkSNSURL(m.SubscribeURL, false); err != nil {
			return nil, err
		}
		confirm = &SubscribeRequest{TopicARN: m.TopicArn, URL: m.SubscribeURL}
	case "Notification":
		if events, err = parseSES(m.MessageId, []byte(m.Message)); err != nil {
			return nil, err
		}
	}
	if p.seen.check(m.MessageId, now) {
		return nil, fmt.Errorf("%w: SNS MessageId already seen (replay)", ErrUnauthorized)
	}
	if confirm != nil {
		return nil, confirm
	}
	return events, nil
}

var snsHost = regexp.MustCompile(`^sns\.[a-z]{2}(-[a-z]+)+-[0-9]+\.amazonaws\.com(\.cn)?$`)

// checkSNSURL refuses (ErrUnauthorized) any URL but https://sns.REGION.amazonaws.com[.cn]/…
// without userinfo, port or fragment; pem: the path ends with ".pem" and no query.
func checkSNSURL(raw string, pem bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || raw == "" || len(raw) > 2048:
		return fmt.Errorf("%w: SNS URL missing or malformed", ErrUnauthorized)
	case u.Scheme != "https" || u.Opaque != "":
		return fmt.Errorf("%w: SNS URL is not https", ErrUnauthorized)
	case u.User != nil || strings.ContainsAny(raw, "@\\") || u.Port() != "" || u.Host != u.Hostname():
		return fmt.Errorf("%w: SNS URL has userinfo or a port", ErrUnauthorized)
	case !snsHost.MatchString(u.Host):
		return fmt.Errorf("%w: SNS URL host is not Amazon SNS", ErrUnauthorized)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%w: SNS URL has a fragment", ErrUnauthorized)
	case pem && (!strings.HasSuffix(u.Path, ".pem") || u.RawQuery != "" || strings.Contains(raw, "?")):
		return fmt.Errorf("%w: SNS certificate URL is no .pem file", ErrUnauthorized)
	case !pem && u.Query().Get("Action") != "ConfirmSubscription":
		return fmt.Errorf("%w: SNS SubscribeURL is no ConfirmSubscription", ErrUnauthorized)
	}
	return nil
}

// sesEvent is the part of an SES notification (notificationType) or event
// publishing record (eventType) that is read.
type sesEvent struct {
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Bounce           struct {
		BounceType        string `json:"bounceType"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint struct {
		ComplaintFeedbackType string `json:"complaintFeedbackType"`
		ComplainedRecipients  []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
	} `json:"complaint"`
	Mail struct {
		Source  string `json:"source"`
		Headers []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
	} `json:"mail"`
}

// parseSES reads the SES event in an authentic SNS Notification's Message.
func parseSES(messageID string, msg []byte) ([]bounce.Event, error) {
	var e sesEvent
	if err := json.Unmarshal(msg, &e); err != nil {
		return nil, jsonError("SES event", err)
	}
	typ := e.NotificationType
	if typ == "" {
		typ = e.EventType
	}
	rp := returnPath(e.Mail.Source)
	unsub := ""
	for _, hd := range e.Mail.Headers {
		if strings.EqualFold(hd.Name, "List-Unsubscribe") {
			if unsub = unsubscribeToken(hd.Value); unsub != "" {
				break
			}
		}
	}
	var events []bounce.Event
	add := func(ev bounce.Event, ok bool) {
		if ok {
			ev.ReturnPath, ev.Unsubscribe = rp, unsub
			events = append(events, ev)
		}
	}
	switch typ {
	case "Bounce":
		rs := e.Bounce.BouncedRecipients
		if len(rs) > MaxEvents {
			return nil, jsonError("SES event", errTooMany)
		}
		kind := bounce.Soft // Transient, Undetermined
		if e.Bounce.BounceType == "Permanent" {
			kind = bounce.Hard
		}
		for i, r := range rs {
			k := withSender(kind, 0, r.Status, r.DiagnosticCode)
			add(newEvent(k, bounce.SourceSES, messageID+":"+strconv.Itoa(i), r.EmailAddress, r.Status, r.DiagnosticCode))
		}
	case "Complaint":
		if strings.EqualFold(e.Complaint.ComplaintFeedbackType, "not-spam") {
			return nil, nil
		}
		rs := e.Complaint.ComplainedRecipients
		if len(rs) > MaxEvents {
			return nil, jsonError("SES event", errTooMany)
		}
		for i, r := range rs {
			add(newEvent(bounce.Complaint, bounce.SourceSES, messageID+":"+strconv.Itoa(i), r.EmailAddress, "", ""))
		}
	}
	return events, nil
}

// HTTPCertFetcher fetches SNS signing certificates over HTTPS (10 s timeout,
// no redirects, at most 64 KiB), verifies their chain against the system
// roots and caches them until they expire (at most a day). The zero value is
// ready; do not copy one in use.
type HTTPCertFetcher struct {
	Client *http.Client   // nil: 10 s timeout, no redirects
	Roots  *x509.CertPool // nil: the system roots
	Now    func() time.Time

	mu    sync.Mutex
	cache map[string]cachedCert
}

type cachedCert struct {
	cert *x509.Certificate
	exp  time.Time
}

const (
	certMaxBytes = 64 << 10
	certCacheMax = 64
	certCacheTTL = 24 * time.Hour
)

// Fetch implements CertFetcher.
func (f *HTTPCertFetcher) Fetch(ctx context.Context, rawURL string) (*x509.Certificate, error) {
	if err := checkSNSURL(rawURL, true); err != nil {
		return nil, err
	}
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	t := now()
	f.mu.Lock()
	if c, ok := f.cache[rawURL]; ok && t.Before(c.exp) {
		f.mu.Unlock()
		return c.cert, nil
	}
	f.mu.Unlock()

	client := f.Client
	if client == nil {
		client = noRedirectClient()
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, certMaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > certMaxBytes {
		return nil, fmt.Errorf("%w: SNS certificate larger than 64 KiB", ErrUnauthorized)
	}
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: SNS certificate does not parse", ErrUnauthorized)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no certificate at the SNS certificate URL", ErrUnauthorized)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{
		Roots: f.Roots, Intermediates: inter, CurrentTime: t,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, fmt.Errorf("%w: SNS certificate chain does not verify", ErrUnauthorized)
	}
	exp := t.Add(certCacheTTL)
	if certs[0].NotAfter.Before(exp) {
		exp = certs[0].NotAfter
	}
	f.mu.Lock()
	if f.cache == nil || len(f.cache) >= certCacheMax {
		f.cache = make(map[string]cachedCert)
	}
	f.cache[rawURL] = cachedCert{certs[0], exp}
	f.mu.Unlock()
	return certs[0], nil
}
