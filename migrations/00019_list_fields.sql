-- +goose Up
-- Each list declares the subscriber fields it collects (email always), each
-- with its purpose; the form shows only those and the API refuses others.
-- Lists so far collected an optional name: they keep doing so.
ALTER TABLE lists ADD COLUMN fields jsonb NOT NULL
    DEFAULT '[{"name": "name", "label": "", "purpose": ""}]'::jsonb
    CHECK (jsonb_typeof(fields) = 'array' AND jsonb_array_length(fields) <= 11);
ALTER TABLE lists ALTER COLUMN fields SET DEFAULT '[]'::jsonb;
-- The values of the custom fields; typed with a signup, they wait with it
-- (like the name) until the confirmation applies them.
ALTER TABLE subscribers ADD COLUMN fields jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(fields) = 'object');
ALTER TABLE subscriptions ADD COLUMN pending_fields jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(pending_fields) = 'object');

-- +goose Down
ALTER TABLE subscriptions DROP COLUMN pending_fields;
ALTER TABLE subscribers DROP COLUMN fields;
ALTER TABLE lists DROP COLUMN fields;
