-- Version 2: client identity (the same changes as the embedded SQLite migration in ds/src/meta.rs).
-- The client that registered a group.
ALTER TABLE groups ADD COLUMN owner bytea NOT NULL DEFAULT '\x'::bytea;
-- A last-resort key package is handed out again instead of being removed.
ALTER TABLE key_packages ADD COLUMN last_resort boolean NOT NULL DEFAULT false;
-- Per-client quotas sum usage by uploader over all groups.
CREATE INDEX attachments_uploader ON attachments(uploader);
CREATE INDEX uploads_uploader ON uploads(uploader);
