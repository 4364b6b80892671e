-- +goose Up
-- Campaigns and the per-recipient delivery ledger.

-- Set by bounce and complaint handling (later): a suppressed address is never mailed.
ALTER TABLE subscribers ADD COLUMN suppressed_at timestamptz;

CREATE TABLE campaigns (
    id               bigserial PRIMARY KEY,
    name             text NOT NULL CHECK (name <> '' AND length(name) <= 200),
    subject          text NOT NULL CHECK (subject <> '' AND length(subject) <= 500),
    from_header      text NOT NULL,
    reply_to         text NOT NULL DEFAULT '',
    format           text NOT NULL CHECK (format IN ('markdown', 'html')),
    body             text NOT NULL,
    text_body        text NOT NULL DEFAULT '',
    template         text NOT NULL DEFAULT 'default',
    status           text NOT NULL DEFAULT 'draft'
                     CHECK (status IN ('draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled')),
    send_at          timestamptz,
    -- Audience selection progress: subscriber ids up to audience_cursor have
    -- delivery rows; batches counts the batches made so far.
    audience_cursor  bigint NOT NULL DEFAULT 0,
    audience_done    boolean NOT NULL DEFAULT false,
    batches          integer NOT NULL DEFAULT 0,
    -- Bumped by every resume, so re-queued batch tasks get fresh ids.
    generation       integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz
);

CREATE TABLE campaign_lists (
    campaign_id  bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    list_id      bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    PRIMARY KEY (campaign_id, list_id)
);

-- One row per campaign and subscriber: the ledger that makes sending exactly-once.
-- queued -> sending (recorded before the SMTP transaction) -> sent | failed | skipped.
CREATE TABLE deliveries (
    campaign_id    bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    subscriber_id  bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    batch          integer NOT NULL,
    status         text NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'skipped')),
    attempts       integer NOT NULL DEFAULT 0,
    error          text NOT NULL DEFAULT '',
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, subscriber_id)
) WITH (fillfactor = 80);
-- No index mentions status, and pages keep free space, so the two status updates
-- of every message are HOT updates: no index writes on the hottest path.
CREATE INDEX deliveries_batch_idx ON deliveries (campaign_id, batch);
CREATE INDEX deliveries_subscriber_idx ON deliveries (subscriber_id);

-- One row per batch of a campaign; done once none of its deliveries is queued or
-- in flight. "Is the campaign finished?" reads these few rows, not the ledger.
CREATE TABLE campaign_batches (
    campaign_id  bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    batch        integer NOT NULL,
    done         boolean NOT NULL DEFAULT false,
    PRIMARY KEY (campaign_id, batch)
);
-- +goose Down
SELECT 1;
