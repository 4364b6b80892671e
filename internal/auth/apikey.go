// Package auth owns credentials: API keys now, admin accounts and sessions
// later. It generates, hashes and checks secrets; storage is store's, HTTP is
// web's (its middleware only asks this package).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/store"
)

// APIKeyPrefix starts every API key, so leaked keys are easy to scan for.
const APIKeyPrefix = "envoi_"

// Service checks and issues credentials. Build it once; safe for concurrent use.
type Service struct {
	Store *store.Store
}

// Errors of CheckAPIKey, as the API shows them.
var (
	ErrNoAPIKey      = apperr.New(apperr.Unauthorized, "Send an API key: Authorization: Bearer KEY (create one with `envoi apikey create --name NAME`).")
	ErrInvalidAPIKey = apperr.New(apperr.Unauthorized, "This API key is not valid.")
)

// CheckAPIKey returns the key a request presented. Codes: unauthorized
// (ErrNoAPIKey when none was given, ErrInvalidAPIKey when it is unknown).
func (s *Service) CheckAPIKey(ctx context.Context, key string) (model.APIKey, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return model.APIKey{}, ErrNoAPIKey
	}
	k, err := s.Store.APIKeyByHash(ctx, HashAPIKey(key))
	if apperr.ErrorCode(err) == apperr.NotFound {
		return k, ErrInvalidAPIKey
	}
	return k, err
}

// CreateAPIKey makes a new key with a scope (read or full; "" is full) and
// stores its hash; the key itself is returned once and never stored.
// Codes: invalid (Field name or scope).
func (s *Service) CreateAPIKey(ctx context.Context, name, scope string) (key string, k model.APIKey, err error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return "", k, apperr.FieldError("name", "Give the key a name of 1 to 200 characters, like --name website.")
	}
	if scope == "" {
		scope = model.ScopeFull
	}
	if scope != model.ScopeRead && scope != model.ScopeFull {
		return "", k, apperr.FieldError("scope", "scope is read (GET only) or full.")
	}
	key, prefix, hash := NewAPIKey()
	k, err = s.Store.CreateAPIKey(ctx, name, hash, prefix, scope)
	return key, k, err
}

// ErrReadOnlyKey is the answer to a write with a read key.
var ErrReadOnlyKey = apperr.New(apperr.Forbidden, "This API key can only read (scope read): use a key with scope full to change anything.")

// Authorize says whether a key may make a request: a read key only reads.
// Codes: forbidden.
func Authorize(k model.APIKey, write bool) error {
	if write && k.Scope != model.ScopeFull {
		return ErrReadOnlyKey
	}
	return nil
}

// APIKeys lists every key (never the keys themselves), revoked ones included.
func (s *Service) APIKeys(ctx context.Context) ([]model.APIKey, error) { return s.Store.APIKeys(ctx) }

// RevokeAPIKey revokes a key at once. Codes: not_found.
func (s *Service) RevokeAPIKey(ctx context.Context, id int64) (model.APIKey, error) {
	return s.Store.RevokeAPIKey(ctx, id)
}

// NewAPIKey returns a new random key, the short prefix shown in listings, and
// the hash to store.
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
