-- +goose Up
-- Addresses are unique ignoring the case of the local part: Ann@example.com and
-- ann@example.com are one person. Existing duplicates merge into the oldest
-- subscriber: every consent event and delivery is kept (moved to it), a
-- subscription to a list both had keeps the status of the one changed last
-- (the person's latest choice), and transactional messages follow their
-- subscription.
CREATE TEMP TABLE dup_subscribers ON COMMIT DROP AS
SELECT s.id AS old_id, k.keep_id
FROM subscribers s
JOIN (SELECT lower(email) AS le, min(id) AS keep_id FROM subscribers GROUP BY lower(email) HAVING count(*) > 1) k
  ON lower(s.email) = k.le
WHERE s.id <> k.keep_id;

-- The consent log is append-only; this merge only re-points events at the kept subscriber.
ALTER TABLE consent_log DISABLE TRIGGER consent_log_no_update;
UPDATE consent_log c SET subscriber_id = d.keep_id FROM dup_subscribers d WHERE c.subscriber_id = d.old_id;
ALTER TABLE consent_log ENABLE TRIGGER consent_log_no_update;

-- Subscriptions on a list the kept subscriber is not on move to it.
UPDATE subscriptions sn SET subscriber_id = d.keep_id
FROM dup_subscribers d
WHERE sn.subscriber_id = d.old_id
  AND NOT EXISTS (SELECT 1 FROM subscriptions k WHERE k.subscriber_id = d.keep_id AND k.list_id = sn.list_id);

-- On a list both are on: the kept row takes the state of whichever changed last.
CREATE TEMP TABLE dup_subscriptions ON COMMIT DROP AS
SELECT o.id AS old_sn, k.id AS keep_sn, o.updated_at > k.updated_at AS newer,
       o.status, o.confirm_requested_at, o.confirmed_at, o.unsubscribed_at, o.updated_at
FROM subscriptions o
JOIN dup_subscribers d ON o.subscriber_id = d.old_id
JOIN subscriptions k ON k.subscriber_id = d.keep_id AND k.list_id = o.list_id;
UPDATE subscriptions k SET status = x.status, confirm_requested_at = x.confirm_requested_at,
    confirmed_at = x.confirmed_at, unsubscribed_at = x.unsubscribed_at, updated_at = x.updated_at
FROM dup_subscriptions x WHERE k.id = x.keep_sn AND x.newer;
UPDATE transactional_messages t SET subscription_id = x.keep_sn FROM dup_subscriptions x WHERE t.subscription_id = x.old_sn;

-- Deliveries move unless the kept subscriber has one for the same campaign.
UPDATE deliveries dl SET subscriber_id = d.keep_id
FROM dup_subscribers d
WHERE dl.subscriber_id = d.old_id
  AND NOT EXISTS (SELECT 1 FROM deliveries k WHERE k.campaign_id = dl.campaign_id AND k.subscriber_id = d.keep_id);

-- The kept subscriber keeps a name if it has none.
UPDATE subscribers k SET name = o.name
FROM dup_subscribers d JOIN subscribers o ON o.id = d.old_id
WHERE k.id = d.keep_id AND k.name = '' AND o.name <> '';

DELETE FROM subscribers s USING dup_subscribers d WHERE s.id = d.old_id;

DROP INDEX subscribers_email_lower_idx;
CREATE UNIQUE INDEX subscribers_email_lower_key ON subscribers (lower(email));

-- +goose Down
DROP INDEX subscribers_email_lower_key;
CREATE INDEX subscribers_email_lower_idx ON subscribers (lower(email));
