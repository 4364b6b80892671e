// Package webhook authenticates and parses the bounce and complaint webhooks
// of the relays (Amazon SES through SNS, Postmark, SendGrid, Mailgun) into
// bounce.Events. It knows nothing of routing or storage: the HTTP handler
// passes the request's header and body to a Provider and maps the errors.
//
// Errors: ErrUnauthorized (missing or bad credentials or signature, a replay,
// a stale or future timestamp) is a 401, ErrInvalid (a malformed body) a 400;
// a *SubscribeRequest (SES) asks the handler to confirm an SNS subscription;
// any other error is temporary (fetching the SNS certificate failed) and
// should be a 5xx so that the relay retries. No error text holds an address.
//
// The replay windows are per Provider value and in memory: one Provider per
// relay for the life of the process. A relay's retry of a request that Parse
// already accepted is refused as a replay (SES, SendGrid, Mailgun), so the
// handler should answer 2xx once Parse succeeded; Event.ID lets it count a
// redelivered event once.
package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/envoi/envoi/internal/bounce"
)

// Errors of Parse; the details wrapped with them never hold an address.
var (
	ErrUnauthorized = errors.New("webhook: unauthorized")
	ErrInvalid      = errors.New("webhook: invalid body")
)

// Provider authenticates and parses one relay's webhook request.
type Provider interface {
	Name() string // "ses", "postmark", "sendgrid", "mailgun"
	// Parse checks the request's authentication and freshness and returns the
	// events it carries (none for events that are no bounce or complaint, such
	// as deliveries and opens). body is the whole request body.
	Parse(ctx context.Context, h http.Header, body []byte) ([]bounce.Event, error)
}

// Bounds.
const (
	// MaxEvents is the most events one body may yield; more is ErrInvalid.
	MaxEvents = 1000
	// maxID and maxRecipient bound the strings kept from a payload: an event
	// whose id or recipient is longer is dropped.
	maxID        = 256
	maxRecipient = 320
	maxToken     = 512 // an unsubscribe token
	maxReplay    = 1 << 16
)

// newEvent builds an event with the fields every provider fills the same way.
// It returns false when the recipient or id is unreasonably long or holds
// control characters: such an event is dropped.
func newEvent(kind bounce.Kind, source, id, recipient, status, diagnostic string) (bounce.Event, bool) {
	recipient = strings.ToLower(strings.TrimSpace(recipient))
	recipient = strings.TrimSuffix(strings.TrimPrefix(recipient, "<"), ">")
	if len(recipient) > maxRecipient || len(id) > maxID || hasControl(recipient) || hasControl(id) {
		return bounce.Event{}, false
	}
	return bounce.Event{
		Kind:       kind,
		Recipient:  recipient,
		Status:     cleanStatus(status, diagnostic),
		Diagnostic: redact(diagnostic),
		Source:     source,
		ID:         id,
	}, true
}

// withSender is the provider's own hard or soft classification unless Classify
// says the refusal is the sender's problem (5.7.x, policy, reputation).
func withSender(k bounce.Kind, code int, status, text string) bounce.Kind {
	if bounce.Classify(code, cleanStatus(status, ""), text) == bounce.Sender {
		return bounce.Sender
	}
	return k
}

// cleanStatus returns the enhanced status code in status, else in text, else "".
func cleanStatus(status, text string) string {
	if s := bounce.FindStatus(status); s != "" {
		return s
	}
	return bounce.FindStatus(text)
}

// redact is bounce.Redact, then any word still holding an '@' (Redact leaves
// "@host" or a quoted local part) is replaced too: no '@' is left.
func redact(s string) string {
	r := bounce.Redact(s)
	if !strings.Contains(r, "@") {
		return r
	}
	f := strings.Fields(r)
	for i, w := range f {
		if strings.Contains(w, "@") {
			f[i] = "<address>"
		}
	}
	return bounce.Redact(strings.Join(f, " "))
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// returnPath is the envelope sender when it is one of ours (a VERP address).
func returnPath(sender string) string {
	sender = strings.TrimSpace(sender)
	sender = strings.TrimSuffix(strings.TrimPrefix(sender, "<"), ">")
	if len(sender) > maxRecipient || hasControl(sender) || !strings.HasPrefix(strings.ToLower(sender), "bounces+") {
		return ""
	}
	return sender
}

// unsubscribeToken finds the token of the https URI …/unsubscribe/TOKEN in a
// List-Unsubscribe header value, else "".
func unsubscribeToken(v string) string {
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if !strings.HasPrefix(part, "<") || !strings.HasSuffix(part, ">") {
			continue
		}
		u, err := url.Parse(part[1 : len(part)-1])
		if err != nil || u.Scheme != "https" || u.Host == "" {
			continue
		}
		dir, tok, ok := cutLast(strings.TrimSuffix(u.Path, "/"), "/")
		if !ok || !strings.HasSuffix(dir, "/unsubscribe") && dir != "unsubscribe" || !tokenChars(tok) {
			continue
		}
		return tok
	}
	return ""
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return "", s, false
	}
	return s[:i], s[i+len(sep):], true
}

// tokenChars: a signed token is base64url, no padding.
func tokenChars(s string) bool {
	if s == "" || len(s) > maxToken {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// jsonError turns a decoding error into ErrInvalid without quoting the input.
func jsonError(what string, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("%w: %s: malformed JSON at byte %d", ErrInvalid, what, se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("%w: %s: field %q has the wrong type", ErrInvalid, what, te.Field)
	case errors.Is(err, errTooMany):
		return fmt.Errorf("%w: %s: more than %d events", ErrInvalid, what, MaxEvents)
	}
	return fmt.Errorf("%w: %s: malformed JSON", ErrInvalid, what)
}

var errTooMany = errors.New("too many events")

// flexString decodes a JSON string or number (ids and codes that some
// payloads spell one way and some the other) as its text.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n)
	return nil
}

// replay remembers keys (hashed) until they expire: a bounded set, the
// oldest forgotten first when full.
type replay struct {
	mu    sync.Mutex
	ttl   time.Duration
	seen  map[[32]byte]time.Time
	order []replayEntry // insertion order, for expiry and eviction
}

type replayEntry struct {
	key [32]byte
	exp time.Time
}

func newReplay(ttl time.Duration) *replay {
	return &replay{ttl: ttl, seen: make(map[[32]byte]time.Time)}
}

// check records key at now and reports whether it was already recorded and
// not yet expired.
func (r *replay) check(key string, now time.Time) (replayed bool) {
	k := sha256.Sum256([]byte(key))
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.order) > 0 && (!now.Before(r.order[0].exp) || len(r.order) >= maxReplay) {
		e := r.order[0]
		if r.seen[e.key].Equal(e.exp) {
			delete(r.seen, e.key)
		}
		r.order = r.order[1:]
	}
	if exp, ok := r.seen[k]; ok && now.Before(exp) {
		return true
	}
	exp := now.Add(r.ttl)
	r.seen[k] = exp
	r.order = append(r.order, replayEntry{k, exp})
	return false
}

// fresh reports whether t is within [now-past, now+future].
func fresh(t, now time.Time, past, future time.Duration) bool {
	return !t.Before(now.Add(-past)) && !t.After(now.Add(future))
}
