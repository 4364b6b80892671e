// Package token signs and verifies the links Envoi mails out (confirm, unsubscribe,
// preferences). A token is bound to one purpose and one subscription, carries its
// issue and expiry times and the id of the key that signed it, so keys can rotate:
// sign with the newest, verify with any still configured. It owns no storage.
package token

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"sync"
	"time"
)

// Purpose binds a token to one use.
type Purpose byte

// Purposes. Values are part of the wire format: never renumber.
const (
	Confirm     Purpose = 1
	Unsubscribe Purpose = 2
	Preferences Purpose = 3
	// EmailChange confirms a change of address; its id is the request's.
	EmailChange Purpose = 4
)

func (p Purpose) String() string {
	switch p {
	case Confirm:
		return "confirm"
	case Unsubscribe:
		return "unsubscribe"
	case Preferences:
		return "preferences"
	case EmailChange:
		return "email_change"
	}
	return "unknown"
}

const (
	version = 1
	macLen  = 16 // 128-bit truncated HMAC-SHA256
	maxLen  = 128
)

// Errors from Verify.
var (
	// ErrInvalid: garbage, tampered, signed by an unknown key, or made for another purpose.
	ErrInvalid = errors.New("invalid token")
	// ErrExpired: authentic but past its expiry; Verify still returns its claims.
	ErrExpired = errors.New("expired token")
)

// Claims is what a verified token says.
type Claims struct {
	Purpose        Purpose
	SubscriptionID int64
	IssuedAt       time.Time
	ExpiresAt      time.Time // zero: never expires
}

type key struct {
	id  byte
	mac []byte
	// macs keeps keyed HMAC states for SignCampaign (once per campaign
	// message: the hot path), reset rather than made anew.
	macs *sync.Pool
}

// Signer signs and verifies tokens. It is safe for concurrent use.
type Signer struct {
	keys []key // keys[0] signs
	Now  func() time.Time
}

// NewSigner derives token keys from the current secret and any older secrets still
// accepted for verification.
func NewSigner(current string, old ...string) *Signer {
	s := &Signer{Now: time.Now}
	for _, secret := range append([]string{current}, old...) {
		k, err := hkdf.Key(sha256.New, []byte(secret), nil, "envoi link tokens v1", 32)
		if err != nil {
			panic(err) // only for lengths hkdf cannot produce
		}
		fp := sha256.Sum256(k)
		s.keys = append(s.keys, key{id: fp[0], mac: k, macs: &sync.Pool{New: func() any { return hmac.New(sha256.New, k) }}})
	}
	return s
}

// Sign returns a token for the subscription; ttl 0 means it never expires.
func (s *Signer) Sign(p Purpose, subscriptionID int64, ttl time.Duration) string {
	now := s.Now()
	var exp int64
	if ttl > 0 {
		exp = now.Add(ttl).Unix()
	}
	buf := make([]byte, 3, 3+3*binary.MaxVarintLen64+macLen)
	buf[0], buf[1], buf[2] = version, s.keys[0].id, byte(p)
	buf = binary.AppendUvarint(buf, uint64(subscriptionID))
	buf = binary.AppendUvarint(buf, uint64(now.Unix()))
	buf = binary.AppendUvarint(buf, uint64(exp))
	buf = append(buf, mac(s.keys[0].mac, buf)...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// Verify checks tok for purpose p. It returns ErrInvalid for anything not signed
// by a configured key for p, and the claims with ErrExpired when it is past expiry.
func (s *Signer) Verify(p Purpose, tok string) (Claims, error) {
	if len(tok) == 0 || len(tok) > maxLen {
		return Claims{}, ErrInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < 3+3+macLen || raw[0] != version {
		return Claims{}, ErrInvalid
	}
	// One spelling per token: the decoder skips line breaks and ignores the
	// unused bits of the last character, so other strings decode to the same
	// bytes; only the canonical one is accepted.
	if base64.RawURLEncoding.EncodeToString(raw) != tok {
		return Claims{}, ErrInvalid
	}
	body, sum := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	ok := false
	for _, k := range s.keys {
		if k.id == body[1] && hmac.Equal(sum, mac(k.mac, body)) {
			ok = true
			break
		}
	}
	if !ok || Purpose(body[2]) != p {
		return Claims{}, ErrInvalid
	}
	rest := body[3:]
	var vals [3]uint64
	for i := range vals {
		v, n := binary.Uvarint(rest)
		if n <= 0 || v > 1<<62 {
			return Claims{}, ErrInvalid
		}
		vals[i], rest = v, rest[n:]
	}
	if len(rest) != 0 || vals[0] == 0 {
		return Claims{}, ErrInvalid
	}
	c := Claims{Purpose: p, SubscriptionID: int64(vals[0]), IssuedAt: time.Unix(int64(vals[1]), 0)}
	if vals[2] != 0 {
		c.ExpiresAt = time.Unix(int64(vals[2]), 0)
		if !s.Now().Before(c.ExpiresAt) {
			return c, ErrExpired
		}
	}
	return c, nil
}

func mac(k, msg []byte) []byte {
	h := hmac.New(sha256.New, k)
	h.Write(msg)
	return h.Sum(nil)[:macLen]
}
