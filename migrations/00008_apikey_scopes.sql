-- +goose Up
-- An API key reads only, or reads and writes (full); a revoked key is kept,
-- with when it was revoked, so that listings say what happened to it.
ALTER TABLE api_keys
    ADD COLUMN scope text NOT NULL DEFAULT 'full' CHECK (scope IN ('read', 'full')),
    ADD COLUMN revoked_at timestamptz;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN revoked_at, DROP COLUMN scope;
