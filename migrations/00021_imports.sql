-- +goose Up
-- CSV imports of subscribers (GDPR toolkit): an import's state and counts, the
-- first error lines, and an UNLOGGED staging table the file is COPYed into.
-- Staging rows hold addresses: they are deleted as each chunk is processed (in
-- the chunk's transaction) and whatever is left when an import ends.

CREATE TABLE imports (
    id                    bigserial PRIMARY KEY,
    list_id               bigint REFERENCES lists (id) ON DELETE SET NULL,
    list_slug             text NOT NULL,
    state                 text NOT NULL DEFAULT 'receiving'
                          CHECK (state IN ('receiving', 'queued', 'running', 'done', 'failed')),
    source                text NOT NULL CHECK (source IN ('cli', 'api', 'admin')),
    -- The consent text the request carried (rows without a version of their own name it).
    consent_text_version  text NOT NULL DEFAULT '',
    rows_read             bigint NOT NULL DEFAULT 0,  -- data rows in the file (the header is not one)
    staged                bigint NOT NULL DEFAULT 0,  -- valid rows put in import_rows
    processed             bigint NOT NULL DEFAULT 0,  -- staged rows taken out (imported, skipped or duplicate)
    bad_rows              bigint NOT NULL DEFAULT 0,
    duplicates            bigint NOT NULL DEFAULT 0,
    suppressed            bigint NOT NULL DEFAULT 0,
    confirmed_with_proof  bigint NOT NULL DEFAULT 0,
    awaiting_confirmation bigint NOT NULL DEFAULT 0,
    repermission_queued   bigint NOT NULL DEFAULT 0,
    already_confirmed     bigint NOT NULL DEFAULT 0,
    kept_unsubscribed     bigint NOT NULL DEFAULT 0,
    errors_kept           integer NOT NULL DEFAULT 0,
    error                 text NOT NULL DEFAULT '' CHECK (length(error) <= 500),
    created_at            timestamptz NOT NULL DEFAULT now(),
    started_at            timestamptz,
    finished_at           timestamptz,
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX imports_unfinished_idx ON imports (updated_at) WHERE state IN ('queued', 'running');

-- The first error lines of an import (at most 1,000; bad_rows counts them all).
-- Reasons name the line and the field, never the value.
CREATE TABLE import_errors (
    import_id  bigint NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    line       bigint NOT NULL,
    reason     text NOT NULL CHECK (length(reason) <= 300),
    PRIMARY KEY (import_id, line)
);

-- Unlogged: fast to fill, and nothing here outlives its import. A crash of
-- PostgreSQL empties it; the import then fails saying so (a re-run recognizes
-- the rows already imported). No foreign key to imports: its check per row
-- doubled the time of the COPY (1,000,000 rows: 9.2 s, 4.3 s without); rows
-- are deleted by import id when it ends.
CREATE UNLOGGED TABLE import_rows (
    import_id             bigint NOT NULL,
    line                  bigint NOT NULL,
    email                 text NOT NULL,
    name                  text NOT NULL DEFAULT '',
    consented_at          timestamptz,
    consent_source        text NOT NULL DEFAULT '',
    consent_text_version  text NOT NULL DEFAULT '',
    email_hash            bytea NOT NULL,
    PRIMARY KEY (import_id, line)
);

-- The consent chain's head is written once per statement instead of once per
-- row. The per-row UPDATE of the one head row made a long insert quadratic (each
-- update adds a version of the row that the next one must walk: 10,000 events
-- in one transaction took 2.5 s, 245 µs each; now ~18 µs each, flat). Within a
-- transaction the head travels in a transaction-local setting
-- ("txid:seq:hash"), trusted only by the transaction that set it; the first
-- event of a transaction still locks the head row (FOR UPDATE, held to
-- commit), so events chain in commit order as before. The digest is
-- consent_digest's, written out here (a call per row cost a third more);
-- TestImportConsentChain checks the two agree.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION consent_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head      text := current_setting('envoi.chain_head', true);
    tx        text := txid_current()::text;
    head_seq  bigint;
    head_hash bytea;
BEGIN
    IF head IS NOT NULL AND split_part(head, ':', 1) = tx THEN
        head_seq := split_part(head, ':', 2)::bigint;
        head_hash := decode(split_part(head, ':', 3), 'hex');
    ELSE
        SELECT seq, hash INTO head_seq, head_hash FROM consent_chain FOR UPDATE;
    END IF;
    IF NEW.list_slug = '' THEN
        SELECT slug INTO NEW.list_slug FROM lists WHERE id = NEW.list_id;
        NEW.list_slug := COALESCE(NEW.list_slug, '');
    END IF;
    IF NEW.email_hash IS NULL THEN
        SELECT email_hash INTO NEW.email_hash FROM subscribers WHERE id = NEW.subscriber_id;
    END IF;
    NEW.seq := head_seq + 1;
    NEW.prev_hash := head_hash;
    -- = consent_digest(head_hash, NEW.seq, NEW.id, …, NEW.detail)
    NEW.hash := sha256(head_hash || convert_to(concat_ws(E'\n', 'v1', NEW.seq::text, NEW.id::text, NEW.subscriber_id::text,
        NEW.list_id::text, NEW.list_slug, NEW.action, NEW.source, NEW.consent_text_version,
        (extract(epoch FROM NEW.created_at) * 1000000)::bigint::text, COALESCE(encode(NEW.email_hash, 'hex'), ''),
        COALESCE(encode(NEW.ip_hash, 'hex'), ''), COALESCE(encode(NEW.ua_hash, 'hex'), ''), NEW.detail), 'UTF8'));
    PERFORM set_config('envoi.chain_head', tx || ':' || NEW.seq || ':' || encode(NEW.hash, 'hex'), true);
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION consent_log_chain_head() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head text := current_setting('envoi.chain_head', true);
BEGIN
    IF head IS NOT NULL AND split_part(head, ':', 1) = txid_current()::text THEN
        UPDATE consent_chain SET seq = split_part(head, ':', 2)::bigint, hash = decode(split_part(head, ':', 3), 'hex');
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER consent_log_chain_head AFTER INSERT ON consent_log
    FOR EACH STATEMENT EXECUTE FUNCTION consent_log_chain_head();

-- +goose Down
-- Forward-only: no down migration.
SELECT 1;
