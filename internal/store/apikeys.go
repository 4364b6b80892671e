package store

import (
	"context"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
)

const apiKeyColumns = `id, name, prefix, scope, created_at, last_used_at, revoked_at`

// CreateAPIKey stores a key's hash. Codes: invalid.
func (s *Store) CreateAPIKey(ctx context.Context, name string, hash []byte, prefix, scope string) (model.APIKey, error) {
	var k model.APIKey
	err := s.DB.GetContext(ctx, &k, `
INSERT INTO api_keys (name, key_hash, prefix, scope) VALUES ($1, $2, $3, $4)
RETURNING `+apiKeyColumns, name, hash, prefix, scope)
	return k, mapErr(err)
}

// APIKeyByHash finds a key that is not revoked by hash and notes its use (at
// most once a minute). Codes: not_found.
func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (model.APIKey, error) {
	var k model.APIKey
	err := s.DB.GetContext(ctx, &k, `
WITH k AS (
    SELECT `+apiKeyColumns+` FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL
), touched AS (
    UPDATE api_keys SET last_used_at = now()
    WHERE id = (SELECT id FROM k) AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
)
SELECT * FROM k`, hash)
	return k, mapErr(err)
}

// APIKeys lists every key, revoked ones included, newest first. Keys are few.
func (s *Store) APIKeys(ctx context.Context) ([]model.APIKey, error) {
	ks := []model.APIKey{}
	err := s.DB.SelectContext(ctx, &ks, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY id DESC`)
	return ks, mapErr(err)
}

// RevokeAPIKey revokes a key at once (repeating is harmless). Codes: not_found.
func (s *Store) RevokeAPIKey(ctx context.Context, id int64) (model.APIKey, error) {
	var k model.APIKey
	err := s.DB.GetContext(ctx, &k, `
UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING `+apiKeyColumns, id, s.Now())
	if apperr.ErrorCode(mapErr(err)) == apperr.NotFound {
		return k, apperr.New(apperr.NotFound, "There is no API key with this id.")
	}
	return k, mapErr(err)
}
