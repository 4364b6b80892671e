-- +goose Up
-- Core double opt-in schema. Personal data (address, name) lives in subscribers
-- only; every other table refers to it by id so that erasure is one DELETE.

CREATE TABLE subscribers (
    id          bigserial PRIMARY KEY,
    email       text NOT NULL UNIQUE CHECK (email <> '' AND length(email) <= 254),
    name        text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE lists (
    id               bigserial PRIMARY KEY,
    slug             text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name             text NOT NULL CHECK (name <> '' AND length(name) <= 200),
    description      text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    -- Every list is double opt-in; there is deliberately no column to turn it off.
    welcome_enabled  boolean NOT NULL DEFAULT true,
    welcome_subject  text NOT NULL DEFAULT '',
    welcome_body     text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subscriptions (
    id                    bigserial PRIMARY KEY,
    subscriber_id         bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    list_id               bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    status                text NOT NULL DEFAULT 'unconfirmed'
                          CHECK (status IN ('unconfirmed', 'confirmed', 'unsubscribed')),
    created_at            timestamptz NOT NULL DEFAULT now(),
    -- When the last confirmation mail was requested: at most one per 15 minutes.
    confirm_requested_at  timestamptz,
    -- Transaction id of the signup that last claimed a confirmation mail, so one
    -- statement can tell whether it was the one that claimed it.
    confirm_claim_txid    bigint,
    confirmed_at          timestamptz,
    unsubscribed_at       timestamptz,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subscriber_id, list_id),
    CHECK (status <> 'confirmed' OR confirmed_at IS NOT NULL),
    CHECK (status <> 'unsubscribed' OR unsubscribed_at IS NOT NULL)
);
CREATE INDEX subscriptions_list_status_idx ON subscriptions (list_id, status, subscriber_id);

-- The exact texts a person was shown when giving consent, keyed by a hash of the text.
CREATE TABLE consent_texts (
    version     text PRIMARY KEY,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Append-only proof of consent: every signup, confirmation and unsubscription.
CREATE TABLE consent_log (
    id                    bigserial PRIMARY KEY,
    subscriber_id         bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    list_id               bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    action                text NOT NULL CHECK (action IN ('signup', 'confirm', 'unsubscribe')),
    source                text NOT NULL CHECK (source IN ('form', 'api', 'one_click', 'link')),
    ip                    inet,
    user_agent            text NOT NULL DEFAULT '',
    consent_text_version  text NOT NULL DEFAULT '',
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_log_subscriber_idx ON consent_log (subscriber_id, created_at);

-- +goose StatementBegin
CREATE FUNCTION consent_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent_log is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER consent_log_no_update BEFORE UPDATE ON consent_log
    FOR EACH ROW EXECUTE FUNCTION consent_log_append_only();

-- Ledger of transactional mails (confirmation, welcome): one row per message to send.
-- A worker locks the row for the SMTP transaction and marks it sent, so a re-delivered
-- job never sends twice. Rows still 'queued' are re-enqueued by the sweeper.
CREATE TABLE transactional_messages (
    id               bigserial PRIMARY KEY,
    subscription_id  bigint NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('confirm', 'welcome')),
    status           text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'skipped', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);
CREATE INDEX transactional_messages_queued_idx ON transactional_messages (created_at) WHERE status = 'queued';
CREATE INDEX transactional_messages_subscription_idx ON transactional_messages (subscription_id);

CREATE TABLE api_keys (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL CHECK (name <> '' AND length(name) <= 200),
    -- SHA-256 of the key: keys are 256 random bits, so a fast hash is enough.
    key_hash      bytea NOT NULL UNIQUE,
    prefix        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz
);

-- +goose Down
-- Forward-only: no down migration.
SELECT 1;
