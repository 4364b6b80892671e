-- +goose Up
-- Substring search of subscribers by address or name (the admin UI) through
-- trigram indexes. pg_trgm ships with PostgreSQL (contrib) and is a trusted
-- extension: a database owner may install it. Where it cannot be installed the
-- search still works, scanning the table.
-- +goose StatementBegin
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXECUTE 'CREATE INDEX subscribers_email_trgm_idx ON subscribers USING gin (lower(email) gin_trgm_ops)';
    EXECUTE 'CREATE INDEX subscribers_name_trgm_idx ON subscribers USING gin (lower(name) gin_trgm_ops)';
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE NOTICE 'pg_trgm is not available (%): subscriber search scans the table', SQLERRM;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX IF EXISTS subscribers_name_trgm_idx;
DROP INDEX IF EXISTS subscribers_email_trgm_idx;
