-- +goose Up
-- Transactional mail is claimed like campaign deliveries: a sender marks the
-- message claimed (claimed_at) in a grouped statement, sends it without holding
-- a row lock or a database connection, and records the outcome (which clears
-- claimed_at). A queued message claimed more than a minute ago belonged to a
-- worker that died mid-transaction, and may be claimed again.
ALTER TABLE transactional_messages ADD COLUMN claimed_at timestamptz;

-- +goose Down
ALTER TABLE transactional_messages DROP COLUMN claimed_at;
