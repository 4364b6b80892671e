-- +goose Up
-- A name typed with a signup is kept with that pending request and written to
-- the subscriber only when the confirmation is POSTed (with the signed link):
-- an unauthenticated request never changes a subscriber's data, so a stranger
-- cannot put words into mail the organisation sends to someone else.
ALTER TABLE subscriptions ADD COLUMN pending_name text NOT NULL DEFAULT '' CHECK (length(pending_name) <= 800);

-- +goose Down
ALTER TABLE subscriptions DROP COLUMN pending_name;
