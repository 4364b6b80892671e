-- +goose Up
-- A list's own consent text (the label of its form's consent box); empty: the
-- default wording. Each text shown is kept by version in consent_texts, and
-- every consent event names the version it was made under.
ALTER TABLE lists ADD COLUMN consent_text text NOT NULL DEFAULT ''
    CHECK (length(consent_text) <= 1000);

-- +goose Down
ALTER TABLE lists DROP COLUMN consent_text;
