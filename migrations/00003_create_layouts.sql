-- +goose Up
-- Campaign layouts added by marketers; "default" ships in the binary.
CREATE TABLE layouts (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$' AND name <> 'default'),
    html        text NOT NULL CHECK (length(html) <= 1048576),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
SELECT 1;
