-- +goose Up
-- A list may ask its signup form for a proof-of-work answer (internal/pow).
ALTER TABLE lists ADD COLUMN proof_of_work boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE lists DROP COLUMN proof_of_work;
