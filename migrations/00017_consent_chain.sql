-- +goose Up
-- GDPR toolkit, part 1: a tamper-evident consent log that outlives erasure and
-- list deletion, a suppression list of keyed hashes, and restriction.
--
-- Personal values (address, IP, user agent) enter the chain only as keyed hashes
-- (HMAC-SHA-256 with ENVOI_HASH_KEY, computed by the application) stored beside
-- them, so the erasure path can clear the clear values and the chain still holds.

-- The keyed hash of the address (lower case), kept with the subscriber so every
-- consent event gets it without the application carrying the address around.
ALTER TABLE subscribers ADD COLUMN email_hash bytea CHECK (length(email_hash) = 32);
ALTER TABLE subscribers DROP CONSTRAINT subscribers_suppressed_reason_check;
ALTER TABLE subscribers ADD CONSTRAINT subscribers_suppressed_reason_check
    CHECK (suppressed_reason IN ('', 'complaint', 'objection', 'manual', 'hard_bounce', 'soft_bounces', 'erased', 'unsubscribed', 'inactive', 'unconfirmed'));
-- The last sign of life (signup, confirmation, click, preference change; never an
-- open): retention asks inactive people again after 3 years.
ALTER TABLE subscribers ADD COLUMN last_activity_at timestamptz;
UPDATE subscribers s SET last_activity_at = GREATEST(s.created_at, (SELECT max(GREATEST(sn.created_at, sn.confirmed_at)) FROM subscriptions sn WHERE sn.subscriber_id = s.id));
ALTER TABLE subscribers ALTER COLUMN last_activity_at SET DEFAULT now(), ALTER COLUMN last_activity_at SET NOT NULL;
-- Restriction of processing (art. 18): the data is kept, nothing is ever sent.
ALTER TABLE subscribers ADD COLUMN restricted_at timestamptz;

-- Keyed hashes of erased, complained or objecting addresses: never mailed by
-- accident, skipped by imports; a fresh confirmed opt-in lifts the entry.
CREATE TABLE suppressions (
    email_hash  bytea PRIMARY KEY CHECK (length(email_hash) = 32),
    reason      text NOT NULL CHECK (reason IN ('erased', 'complaint', 'objection', 'manual', 'hard_bounce', 'soft_bounces', 'unsubscribed', 'inactive', 'unconfirmed')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The consent log no longer goes with its subscriber or list.
ALTER TABLE consent_log DROP CONSTRAINT consent_log_subscriber_id_fkey;
ALTER TABLE consent_log DROP CONSTRAINT consent_log_list_id_fkey;
ALTER TABLE consent_log DROP CONSTRAINT consent_log_action_check;
ALTER TABLE consent_log ADD CONSTRAINT consent_log_action_check
    CHECK (action IN ('signup', 'confirm', 'unsubscribe', 'suppress', 'erase', 'restrict', 'unrestrict',
                      'rectify', 'import', 'tracking_consent', 'tracking_withdraw', 'email_change'));
ALTER TABLE consent_log DROP CONSTRAINT consent_log_source_check;
ALTER TABLE consent_log ADD CONSTRAINT consent_log_source_check
    CHECK (source IN ('form', 'api', 'one_click', 'link', 'admin', 'preferences', 'import', 'retention', 'mailto', 'bounce', 'complaint', 'webhook'));
ALTER TABLE consent_log
    ADD COLUMN list_slug  text NOT NULL DEFAULT '',
    ADD COLUMN email_hash bytea,
    ADD COLUMN ip_hash    bytea,
    ADD COLUMN ua_hash    bytea,
    -- Free detail of an event (an import's source and date, an erasure's reason); no personal data.
    ADD COLUMN detail     text NOT NULL DEFAULT '' CHECK (length(detail) <= 500),
    ADD COLUMN seq        bigint,
    ADD COLUMN prev_hash  bytea,
    ADD COLUMN hash       bytea;
CREATE INDEX consent_log_email_hash_idx ON consent_log (email_hash);

-- The head of the chain: one row, locked by each insert, so events chain in the
-- order they commit. base_* is where verification starts (moved by the retention
-- purge of old proofs, which deletes a prefix).
CREATE TABLE consent_chain (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq        bigint NOT NULL,
    hash       bytea NOT NULL,
    base_seq   bigint NOT NULL DEFAULT 0,
    base_hash  bytea NOT NULL
);
INSERT INTO consent_chain (seq, hash, base_hash) VALUES (0, sha256('envoi consent log'::bytea), sha256('envoi consent log'::bytea));

-- The digest of one event: the previous hash and every field but the clear
-- personal values (ip, user_agent), in a fixed text form. The Go side
-- (store.ConsentDigest) computes the same bytes; envoi consent verify compares.
-- +goose StatementBegin
CREATE FUNCTION consent_digest(prev bytea, seq bigint, id bigint, subscriber_id bigint, list_id bigint, list_slug text,
    action text, source text, text_version text, created_at timestamptz, email_hash bytea, ip_hash bytea, ua_hash bytea, detail text)
RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(prev || convert_to(concat_ws(E'\n', 'v1', seq::text, id::text, subscriber_id::text, list_id::text, list_slug,
        action, source, text_version, (extract(epoch FROM created_at) * 1000000)::bigint::text,
        COALESCE(encode(email_hash, 'hex'), ''), COALESCE(encode(ip_hash, 'hex'), ''), COALESCE(encode(ua_hash, 'hex'), ''), detail), 'UTF8'))
$$;
-- +goose StatementEnd

-- Existing events join the chain in id order (before the chain they had no keyed hashes).
ALTER TABLE consent_log DISABLE TRIGGER consent_log_no_update;
UPDATE consent_log c SET list_slug = l.slug FROM lists l WHERE l.id = c.list_id;
UPDATE consent_log c SET email_hash = s.email_hash FROM subscribers s WHERE s.id = c.subscriber_id;
-- +goose StatementBegin
DO $$
DECLARE
    r record;
    h bytea;
    n bigint := 0;
BEGIN
    SELECT hash INTO h FROM consent_chain;
    FOR r IN SELECT * FROM consent_log ORDER BY id LOOP
        n := n + 1;
        UPDATE consent_log SET seq = n, prev_hash = h,
            hash = consent_digest(h, n, r.id, r.subscriber_id, r.list_id, r.list_slug, r.action, r.source,
                                  r.consent_text_version, r.created_at, r.email_hash, r.ip_hash, r.ua_hash, r.detail)
        WHERE id = r.id RETURNING hash INTO h;
    END LOOP;
    UPDATE consent_chain SET seq = n, hash = h;
END
$$;
-- +goose StatementEnd
ALTER TABLE consent_log ENABLE TRIGGER consent_log_no_update;
ALTER TABLE consent_log ALTER COLUMN seq SET NOT NULL, ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;
CREATE UNIQUE INDEX consent_log_seq_key ON consent_log (seq);

-- Each insert takes the next place in the chain.
-- +goose StatementBegin
CREATE FUNCTION consent_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head consent_chain%ROWTYPE;
BEGIN
    SELECT * INTO head FROM consent_chain FOR UPDATE;
    IF NEW.list_slug = '' THEN
        SELECT slug INTO NEW.list_slug FROM lists WHERE id = NEW.list_id;
        NEW.list_slug := COALESCE(NEW.list_slug, '');
    END IF;
    IF NEW.email_hash IS NULL THEN
        SELECT email_hash INTO NEW.email_hash FROM subscribers WHERE id = NEW.subscriber_id;
    END IF;
    NEW.seq := head.seq + 1;
    NEW.prev_hash := head.hash;
    NEW.hash := consent_digest(head.hash, NEW.seq, NEW.id, NEW.subscriber_id, NEW.list_id, NEW.list_slug, NEW.action,
        NEW.source, NEW.consent_text_version, NEW.created_at, NEW.email_hash, NEW.ip_hash, NEW.ua_hash, NEW.detail);
    UPDATE consent_chain SET seq = NEW.seq, hash = NEW.hash;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER consent_log_chain BEFORE INSERT ON consent_log
    FOR EACH ROW EXECUTE FUNCTION consent_log_chain();

-- UPDATE is refused, except by the erasure path (envoi.erasure = 'on' in its
-- transaction), and then only to clear the clear personal values.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION consent_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('envoi.erasure', true) = 'on'
       AND NEW.ip IS NULL AND NEW.user_agent = ''
       AND (to_jsonb(NEW) - 'ip' - 'user_agent') = (to_jsonb(OLD) - 'ip' - 'user_agent') THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' AND OLD.seq <= COALESCE(NULLIF(current_setting('envoi.consent_purge', true), '')::bigint, 0) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'consent_log is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER consent_log_no_delete BEFORE DELETE ON consent_log
    FOR EACH ROW EXECUTE FUNCTION consent_log_append_only();

-- +goose StatementBegin
CREATE FUNCTION consent_log_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent_log is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER consent_log_no_truncate BEFORE TRUNCATE ON consent_log
    FOR EACH STATEMENT EXECUTE FUNCTION consent_log_no_truncate();

-- +goose Down
-- Forward-only: no down migration.
SELECT 1;
