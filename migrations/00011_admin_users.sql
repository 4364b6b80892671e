-- +goose Up
-- Admin accounts (internal/auth), their server-side sessions (alexedwards/scs
-- postgresstore's table) and the audit log of admin actions.
CREATE TABLE users (
    id              bigserial PRIMARY KEY,
    email           text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    role            text NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    password_hash   text NOT NULL,
    -- TOTP secret (base32) when two-factor login is on; NULL when off.
    totp_secret     text,
    -- SHA-256 hashes (hex) of the unused recovery codes.
    recovery_codes  text[] NOT NULL DEFAULT '{}',
    -- Bumped by every change to the password, role or TOTP: sessions made
    -- before it end (a session carries the version it was made under).
    session_version integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE sessions (
    token  text PRIMARY KEY,
    data   bytea NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Who: kept as text too, so the entry outlives the account.
    user_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    user_email text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL DEFAULT '',
    ip         inet
);
CREATE INDEX audit_log_created_idx ON audit_log (created_at DESC, id DESC);
CREATE INDEX audit_log_user_idx ON audit_log (user_id, id DESC);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE sessions;
DROP TABLE users;
