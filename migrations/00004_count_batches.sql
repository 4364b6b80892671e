-- +goose Up
-- A campaign's counts come from its batches, not from a scan of its whole ledger:
-- a finished batch keeps its counts (counted), a batch not yet started has all
-- its deliveries queued (total), and only the few batches being sent are
-- counted live.
ALTER TABLE campaign_batches
    ADD COLUMN total    integer NOT NULL DEFAULT 0,
    ADD COLUMN started  boolean NOT NULL DEFAULT false,
    ADD COLUMN counted  boolean NOT NULL DEFAULT false,
    ADD COLUMN sent     integer NOT NULL DEFAULT 0,
    ADD COLUMN failed   integer NOT NULL DEFAULT 0,
    ADD COLUMN skipped  integer NOT NULL DEFAULT 0;

-- Batches that exist already: count them once; the ones still open are counted live.
UPDATE campaign_batches b
SET total = c.total, sent = c.sent, failed = c.failed, skipped = c.skipped,
    started = true, counted = b.done AND c.open = 0
FROM (
    SELECT campaign_id, batch, count(*) AS total,
           count(*) FILTER (WHERE status = 'sent') AS sent,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           count(*) FILTER (WHERE status = 'skipped') AS skipped,
           count(*) FILTER (WHERE status IN ('queued', 'sending')) AS open
    FROM deliveries GROUP BY campaign_id, batch
) c
WHERE b.campaign_id = c.campaign_id AND b.batch = c.batch;

-- +goose Down
ALTER TABLE campaign_batches
    DROP COLUMN total, DROP COLUMN started, DROP COLUMN counted,
    DROP COLUMN sent, DROP COLUMN failed, DROP COLUMN skipped;
