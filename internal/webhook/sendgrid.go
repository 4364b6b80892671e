package webhook

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/envoi/envoi/internal/bounce"
)

// SendGrid's signed event webhook headers.
const (
	SendGridSignatureHeader = "X-Twilio-Email-Event-Webhook-Signature"
	SendGridTimestampHeader = "X-Twilio-Email-Event-Webhook-Timestamp"
)

const signedSkew = 10 * time.Minute // SendGrid's and Mailgun's timestamps

type sendGrid struct {
	key  *ecdsa.PublicKey
	now  func() time.Time
	seen *replay
}

// NewSendGrid returns the provider of SendGrid's signed event webhook.
// publicKeyBase64 is the verification key as SendGrid shows it (base64 of the
// DER SubjectPublicKeyInfo of a P-256 key; a PEM block is accepted too). now
// is the clock (nil: time.Now).
func NewSendGrid(publicKeyBase64 string, now func() time.Time) (Provider, error) {
	s := strings.TrimSpace(publicKeyBase64)
	var der []byte
	if b, _ := pem.Decode([]byte(s)); b != nil {
		der = b.Bytes
	} else {
		var err error
		if der, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), "")); err != nil {
			return nil, errors.New("webhook: the SendGrid verification key is not base64")
		}
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("webhook: the SendGrid verification key is no public key")
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("webhook: the SendGrid verification key is no ECDSA P-256 key")
	}
	if now == nil {
		now = time.Now
	}
	return &sendGrid{key: pub, now: now, seen: newReplay(2 * signedSkew)}, nil
}

func (*sendGrid) Name() string { return "sendgrid" }

func (p *sendGrid) Parse(_ context.Context, h http.Header, body []byte) ([]bounce.Event, error) {
	sigText, tsText := h.Get(SendGridSignatureHeader), h.Get(SendGridTimestampHeader)
	if sigText == "" || tsText == "" {
		return nil, fmt.Errorf("%w: SendGrid signature or timestamp header missing", ErrUnauthorized)
	}
	sig, err := base64.StdEncoding.DecodeString(sigText)
	if err != nil {
		return nil, fmt.Errorf("%w: SendGrid signature is not base64", ErrUnauthorized)
	}
	sec, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: SendGrid timestamp is no number", ErrUnauthorized)
	}
	now := p.now()
	if !fresh(time.Unix(sec, 0), now, signedSkew, signedSkew) {
		return nil, fmt.Errorf("%w: SendGrid timestamp is stale or in the future", ErrUnauthorized)
	}
	d := sha256.New()
	d.Write([]byte(tsText))
	d.Write(body)
	sum := d.Sum(nil)
	if !ecdsa.VerifyASN1(p.key, sum, sig) {
		return nil, fmt.Errorf("%w: SendGrid signature does not verify", ErrUnauthorized)
	}
	events, err := parseSendGrid(body)
	if err != nil {
		return nil, err
	}
	// The key is what was signed, not the signature (ECDSA signatures are
	// malleable).
	if p.seen.check(string(sum), now) {
		return nil, fmt.Errorf("%w: SendGrid request already seen (replay)", ErrUnauthorized)
	}
	return events, nil
}

type sendGridEvent struct {
	Email     string     `json:"email"`
	Event     string     `json:"event"`
	ID        flexString `json:"sg_event_id"`
	Status    flexString `json:"status"`
	Reason    string     `json:"reason"`
	Type      string     `json:"type"`
	BounceCls string     `json:"bounce_classification"`
}

// parseSendGrid reads an authentic body: a JSON array of events, one at a
// time.
func parseSendGrid(body []byte) ([]bounce.Event, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		if err == nil {
			err = &json.UnmarshalTypeError{Value: "not an array"}
		}
		return nil, jsonError("SendGrid events", err)
	}
	var events []bounce.Event
	for dec.More() {
		var e sendGridEvent
		if err := dec.Decode(&e); err != nil {
			return nil, jsonError("SendGrid events", err)
		}
		var kind bounce.Kind
		status, reason := string(e.Status), e.Reason
		switch e.Event {
		case "bounce":
			if e.Type == "blocked" {
				kind = bounce.Classify(0, cleanStatus(status, ""), reason)
			} else {
				kind = withSender(bounce.Hard, 0, status, reason)
			}
		case "spamreport":
			kind, status, reason = bounce.Complaint, "", ""
		default: // dropped (SendGrid's own suppression), deferred, delivered, open…
			continue
		}
		if ev, ok := newEvent(kind, bounce.SourceSendGrid, string(e.ID), e.Email, status, reason); ok {
			if len(events) == MaxEvents {
				return nil, jsonError("SendGrid events", errTooMany)
			}
			events = append(events, ev)
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim(']') {
		return nil, jsonError("SendGrid events", err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("%w: SendGrid events: data after the array", ErrInvalid)
	}
	return events, nil
}
