-- +goose Up
-- A change of address asked from the preferences page waits here until the new
-- address confirms it (a link mailed to it); erased with its subscriber.
CREATE TABLE email_changes (
    id             bigserial PRIMARY KEY,
    subscriber_id  bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    new_email      text NOT NULL CHECK (new_email <> '' AND length(new_email) <= 254),
    requested_at   timestamptz NOT NULL
);
CREATE INDEX email_changes_subscriber_idx ON email_changes (subscriber_id, id DESC);
ALTER TABLE transactional_messages DROP CONSTRAINT transactional_messages_kind_check;
ALTER TABLE transactional_messages ADD CONSTRAINT transactional_messages_kind_check
    CHECK (kind IN ('confirm', 'welcome', 'repermission', 'email_change'));
-- The message of an address change names its request (the new address is there).
ALTER TABLE transactional_messages ADD COLUMN email_change_id bigint REFERENCES email_changes (id) ON DELETE CASCADE;

-- +goose Down
ALTER TABLE transactional_messages DROP COLUMN email_change_id;
DROP TABLE email_changes;
