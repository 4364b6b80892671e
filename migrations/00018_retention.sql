-- +goose Up
-- Retention: people inactive for years are asked again (re-permission) and
-- erased if they do not answer; the scheduled pass finds them by these indexes.
ALTER TABLE subscribers ADD COLUMN repermission_at timestamptz;
CREATE INDEX subscribers_last_activity_idx ON subscribers (last_activity_at);
CREATE INDEX subscribers_repermission_idx ON subscribers (repermission_at) WHERE repermission_at IS NOT NULL;
ALTER TABLE transactional_messages DROP CONSTRAINT transactional_messages_kind_check;
ALTER TABLE transactional_messages ADD CONSTRAINT transactional_messages_kind_check
    CHECK (kind IN ('confirm', 'welcome', 'repermission'));

-- +goose Down
DROP INDEX subscribers_repermission_idx;
DROP INDEX subscribers_last_activity_idx;
ALTER TABLE subscribers DROP COLUMN repermission_at;
