// Package pseudo makes the keyed hashes (HMAC-SHA-256) that stand in for
// personal values where Envoi must keep a trace without the value: the consent
// log's address, IP and user agent, and the suppression list of erased or
// objecting addresses. Without the key a hash tells nothing about the value;
// with it, the same address always gives the same hash, so a suppressed
// address is recognised when it comes back.
package pseudo

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
)

// Key is the secret the hashes are made with. The zero Key uses a fixed key
// (tests); production derives it from the configuration (see Derive).
type Key struct{ k []byte }

// New makes a Key from secret bytes.
func New(secret []byte) Key { return Key{k: append([]byte(nil), secret...)} }

// Derive makes the Key from the link-signing secret when no key of its own is
// configured: HMAC(secret, "envoi keyed hashes v1").
func Derive(secretKey string) Key {
	m := hmac.New(sha256.New, []byte(secretKey))
	m.Write([]byte("envoi keyed hashes v1"))
	return Key{k: m.Sum(nil)}
}

func (k Key) sum(kind, v string) []byte {
	key := k.k
	if key == nil {
		key = []byte("envoi test key")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(v))
	return m.Sum(nil)
}

// Email is the hash of an address, ignoring surrounding space and case (as
// subscribers are unique ignoring case).
func (k Key) Email(addr string) []byte {
	return k.sum("email", strings.ToLower(strings.TrimSpace(addr)))
}

// IP is the hash of a client IP, or nil when there is none.
func (k Key) IP(ip string) []byte {
	if ip == "" {
		return nil
	}
	return k.sum("ip", ip)
}

// UserAgent is the hash of a user agent, or nil when there is none.
func (k Key) UserAgent(ua string) []byte {
	if ua == "" {
		return nil
	}
	return k.sum("ua", ua)
}

// Bytes is the key itself (to print it for ENVOI_HASH_KEY).
func (k Key) Bytes() []byte { return append([]byte(nil), k.k...) }
