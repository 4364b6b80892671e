package webhook

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
)

// Forgetter is a Provider that can take back its replay record of a request
// it accepted: the handler calls Forget when it could not store the events
// (it answers 503), so the relay's retry is taken, not refused as a replay.
// The events then count once through their ids.
type Forgetter interface {
	Forget(h http.Header, body []byte)
}

func (r *replay) forget(key string) {
	k := sha256.Sum256([]byte(key))
	r.mu.Lock()
	delete(r.seen, k)
	r.mu.Unlock()
}

// Forget implements Forgetter.
func (p *mailgun) Forget(_ http.Header, body []byte) {
	var b mailgunBody
	if json.Unmarshal(body, &b) == nil && b.Signature.Token != "" {
		p.seen.forget(b.Signature.Token)
	}
}

// Forget implements Forgetter.
func (p *sendGrid) Forget(h http.Header, body []byte) {
	d := sha256.New()
	d.Write([]byte(h.Get(SendGridTimestampHeader)))
	d.Write(body)
	p.seen.forget(string(d.Sum(nil)))
}

// Forget implements Forgetter.
func (p *ses) Forget(_ http.Header, body []byte) {
	var m snsMessage
	if json.Unmarshal(body, &m) == nil && m.MessageId != "" {
		p.seen.forget(m.MessageId)
	}
}
