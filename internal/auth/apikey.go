// Package auth owns credentials: API keys now, admin accounts and sessions later.
// It generates and hashes secrets; storage is store's, HTTP is web's.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// APIKeyPrefix starts every API key, so leaked keys are easy to scan for.
const APIKeyPrefix = "envoi_"

// NewAPIKey returns a new random key, the short prefix shown in listings, and
// the hash to store. The key itself is shown once and never stored.
func NewAPIKey() (key, prefix string, hash []byte) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	key = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return key, key[:len(APIKeyPrefix)+6], HashAPIKey(key)
}

// HashAPIKey hashes a presented key. Keys carry 256 random bits, so a fast hash
// is enough; a slow one would only slow every API call.
func HashAPIKey(key string) []byte {
	sum := sha256.Sum256([]byte(strings.TrimSpace(key)))
	return sum[:]
}
