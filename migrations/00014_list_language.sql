-- +goose Up
-- The language of a list's public pages and system mails (a file in locales/).
ALTER TABLE lists ADD COLUMN language text NOT NULL DEFAULT 'en'
    CHECK (language ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$');

-- +goose Down
ALTER TABLE lists DROP COLUMN language;
