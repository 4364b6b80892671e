package store

import (
	"context"

	"github.com/envoi/envoi/internal/model"
)

// CreateAPIKey stores a key's hash. Codes: invalid.
func (s *Store) CreateAPIKey(ctx context.Context, name string, hash []byte, prefix string) (model.APIKey, error) {
	var k model.APIKey
	err := s.DB.GetContext(ctx, &k, `
INSERT INTO api_keys (name, key_hash, prefix) VALUES ($1, $2, $3)
RETURNING id, name, prefix, created_at, last_used_at`, name, hash, prefix)
	return k, mapErr(err)
}

// APIKeyByHash finds a key by hash and notes its use (at most once a minute).
// Codes: not_found.
func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (model.APIKey, error) {
	var k model.APIKey
	err := s.DB.GetContext(ctx, &k, `
WITH k AS (
    SELECT id, name, prefix, created_at, last_used_at FROM api_keys WHERE key_hash = $1
), touched AS (
    UPDATE api_keys SET last_used_at = now()
    WHERE id = (SELECT id FROM k) AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
)
SELECT * FROM k`, hash)
	return k, mapErr(err)
}
