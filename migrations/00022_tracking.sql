-- +goose Up
-- Tracking as the CNIL allows it (deliberation 2026-042): open tracking of a
-- person needs its own consent, separate from the newsletter's; anonymous
-- aggregate counts and list hygiene (last activity) are exempt.

-- A list may turn open tracking on (off by default).
ALTER TABLE lists ADD COLUMN open_tracking boolean NOT NULL DEFAULT false;

-- The separate purpose, per list: set when a subscription with the box ticked is
-- confirmed (double opt-in), cleared by a withdrawal. tracking_requested waits
-- with the signup as pending_name does, for the confirmation to apply.
ALTER TABLE subscriptions
    ADD COLUMN tracking_consent_at timestamptz,
    ADD COLUMN tracking_requested boolean NOT NULL DEFAULT false;

-- Click tracking per campaign (on by default; ENVOI_CLICK_TRACKING turns it off everywhere).
ALTER TABLE campaigns ADD COLUMN click_tracking boolean NOT NULL DEFAULT true;

-- The links of a campaign as compiled: /r/{token} redirects only to these.
CREATE TABLE campaign_links (
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    idx         integer NOT NULL CHECK (idx >= 0),
    url         text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 4096),
    clicks      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, idx)
) WITH (fillfactor = 80);

-- Aggregate opens of a campaign (pixel fetches), apart from campaigns so that
-- counting never contends with the senders' reads and the status changes.
CREATE TABLE campaign_stats (
    campaign_id bigint PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    opens       bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 80);

-- Per-person opens and clicks, only of subscribers with tracking consent on an
-- open_tracking list of the campaign. No IP address, no user agent.
CREATE TABLE tracking_events (
    id            bigserial PRIMARY KEY,
    campaign_id   bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    subscriber_id bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('open', 'click')),
    link_idx      integer,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tracking_events_subscriber_idx ON tracking_events (subscriber_id);
CREATE INDEX tracking_events_campaign_idx ON tracking_events (campaign_id);

-- +goose Down
DROP TABLE tracking_events;
DROP TABLE campaign_stats;
DROP TABLE campaign_links;
ALTER TABLE campaigns DROP COLUMN click_tracking;
ALTER TABLE subscriptions DROP COLUMN tracking_consent_at, DROP COLUMN tracking_requested;
ALTER TABLE lists DROP COLUMN open_tracking;
