package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/envoi/envoi/internal/bounce"
)

type mailgun struct {
	key  []byte
	now  func() time.Time
	seen *replay
}

// NewMailgun returns the provider of Mailgun's webhooks. signingKey is the
// account's HTTP webhook signing key (empty: every request is refused); now
// is the clock (nil: time.Now).
func NewMailgun(signingKey string, now func() time.Time) Provider {
	if now == nil {
		now = time.Now
	}
	return &mailgun{key: []byte(strings.TrimSpace(signingKey)), now: now, seen: newReplay(2 * signedSkew)}
}

func (*mailgun) Name() string { return "mailgun" }

type mailgunBody struct {
	Signature struct {
		Timestamp flexString `json:"timestamp"`
		Token     string     `json:"token"`
		Signature string     `json:"signature"`
	} `json:"signature"`
	EventData *struct {
		Event     string `json:"event"`
		Severity  string `json:"severity"`
		Reason    string `json:"reason"`
		Recipient string `json:"recipient"`
		ID        string `json:"id"`
		Delivery  struct {
			Code         flexString `json:"code"`
			EnhancedCode string     `json:"enhanced-code"`
			Message      string     `json:"message"`
			Description  string     `json:"description"`
		} `json:"delivery-status"`
		Envelope struct {
			Sender string `json:"sender"`
		} `json:"envelope"`
	} `json:"event-data"`
}

func (p *mailgun) Parse(_ context.Context, _ http.Header, body []byte) ([]bounce.Event, error) {
	b, events, err := parseMailgun(body)
	if err != nil {
		return nil, err
	}
	s := b.Signature
	if len(p.key) == 0 || s.Token == "" || s.Signature == "" || s.Timestamp == "" {
		return nil, fmt.Errorf("%w: Mailgun signature missing", ErrUnauthorized)
	}
	if len(s.Token) > 256 {
		return nil, fmt.Errorf("%w: Mailgun token too long", ErrUnauthorized)
	}
	sec, err := strconv.ParseInt(string(s.Timestamp), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: Mailgun timestamp is no number", ErrUnauthorized)
	}
	now := p.now()
	if !fresh(time.Unix(sec, 0), now, signedSkew, signedSkew) {
		return nil, fmt.Errorf("%w: Mailgun timestamp is stale or in the future", ErrUnauthorized)
	}
	got, err := hex.DecodeString(s.Signature)
	if err != nil {
		return nil, fmt.Errorf("%w: Mailgun signature is not hex", ErrUnauthorized)
	}
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(string(s.Timestamp) + s.Token))
	if !hmac.Equal(m.Sum(nil), got) {
		return nil, fmt.Errorf("%w: Mailgun signature does not verify", ErrUnauthorized)
	}
	// The signature covers timestamp and token only, not event-data: a token
	// is good once.
	if p.seen.check(s.Token, now) {
		return nil, fmt.Errorf("%w: Mailgun token already seen (replay)", ErrUnauthorized)
	}
	return events, nil
}

// parseMailgun reads a body; the caller checks b.Signature before trusting
// the events.
func parseMailgun(body []byte) (b mailgunBody, events []bounce.Event, err error) {
	if err := json.Unmarshal(body, &b); err != nil {
		return b, nil, jsonError("Mailgun event", err)
	}
	e := b.EventData
	if e == nil {
		return b, nil, fmt.Errorf("%w: Mailgun event: no event-data", ErrInvalid)
	}
	ds := e.Delivery
	text := ds.Message
	if text == "" {
		text = ds.Description
	}
	status := cleanStatus(ds.EnhancedCode, text)
	code, _ := strconv.Atoi(string(ds.Code))
	var kind bounce.Kind
	switch e.Event {
	case "failed":
		if strings.HasPrefix(e.Reason, "suppress-") {
			return b, nil, nil // Mailgun's own suppression list, not a new bounce
		}
		switch e.Severity {
		case "permanent":
			kind = withSender(bounce.Hard, code, status, text)
		case "temporary":
			kind = withSender(bounce.Soft, code, status, text)
		default:
			return b, nil, nil
		}
	case "complained":
		kind, status, text = bounce.Complaint, "", ""
	default:
		return b, nil, nil
	}
	ev, ok := newEvent(kind, bounce.SourceMailgun, e.ID, e.Recipient, status, text)
	if !ok {
		return b, nil, nil
	}
	ev.ReturnPath = returnPath(e.Envelope.Sender)
	return b, []bounce.Event{ev}, nil
}
