-- +goose Up
-- One confirmation mail per inbox and list per 15 minutes, whatever the
-- spelling (Victim@, victim+1@, vic.tim@gmail.com…): the claim is kept per
-- inbox key (address.InboxKey), as its SHA-256 so that no address is kept here
-- in clear. Rows only matter for 15 minutes.
CREATE TABLE confirm_claims (
    inbox_hash    bytea NOT NULL CHECK (length(inbox_hash) = 32),
    list_id       bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    requested_at  timestamptz NOT NULL,
    PRIMARY KEY (inbox_hash, list_id)
);

-- Look-ups by address ignore the case of the local part.
CREATE INDEX subscribers_email_lower_idx ON subscribers (lower(email));

-- +goose Down
DROP INDEX subscribers_email_lower_idx;
DROP TABLE confirm_claims;
