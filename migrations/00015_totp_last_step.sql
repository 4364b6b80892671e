-- +goose Up
-- The last TOTP time step a user signed in (or turned TOTP on) with: a code is
-- accepted once (RFC 6238 §5.2), never replayed within its window.
ALTER TABLE users ADD COLUMN totp_last_step bigint;

-- +goose Down
ALTER TABLE users DROP COLUMN totp_last_step;
