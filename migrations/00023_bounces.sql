-- +goose Up
-- Deliverability (issue 12): what came back for each message. One row per
-- bounce or complaint that maps to a subscriber; the diagnostic has every
-- address removed. Erasing the subscriber deletes their rows.
CREATE TABLE bounces (
    id             bigserial PRIMARY KEY,
    subscriber_id  bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    campaign_id    bigint REFERENCES campaigns (id) ON DELETE SET NULL,
    kind           text NOT NULL CHECK (kind IN ('hard', 'soft', 'sender', 'complaint')),
    source         text NOT NULL CHECK (source IN ('dsn', 'arf', 'smtp', 'ses', 'postmark', 'sendgrid', 'mailgun')),
    status         text NOT NULL DEFAULT '' CHECK (length(status) <= 16),
    diagnostic     text NOT NULL DEFAULT '' CHECK (length(diagnostic) <= 200),
    -- The provider's event id: a replayed webhook counts once.
    event_id       text NOT NULL DEFAULT '' CHECK (length(event_id) <= 200),
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bounces_subscriber_idx ON bounces (subscriber_id, created_at);
-- One of each kind per message: the same report delivered twice counts once.
CREATE UNIQUE INDEX bounces_message_idx ON bounces (campaign_id, subscriber_id, kind) WHERE campaign_id IS NOT NULL;
CREATE UNIQUE INDEX bounces_event_idx ON bounces (source, event_id) WHERE event_id <> '';

-- Why a campaign paused itself (sender problems past the threshold); cleared on resume.
ALTER TABLE campaigns ADD COLUMN paused_reason text NOT NULL DEFAULT '' CHECK (length(paused_reason) <= 1000);

-- +goose Down
ALTER TABLE campaigns DROP COLUMN paused_reason;
DROP TABLE bounces;
