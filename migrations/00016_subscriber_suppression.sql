-- +goose Up
-- Why a subscriber is suppressed (suppressed_at, from migration 00002, already
-- keeps them out of every audience and send-time check): a complaint or an
-- objection (GDPR art. 21) unsubscribes from every list and suppresses; a later
-- confirmed opt-in (a fresh double opt-in) lifts it.
ALTER TABLE subscribers ADD COLUMN suppressed_reason text NOT NULL DEFAULT ''
    CHECK (suppressed_reason IN ('', 'complaint', 'objection', 'manual', 'hard_bounce', 'soft_bounces'));

-- +goose Down
ALTER TABLE subscribers DROP COLUMN suppressed_reason;
