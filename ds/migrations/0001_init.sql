-- mimi-ds metadata on PostgreSQL, version 1 (the same model as the embedded SQLite schema in
-- ds/src/meta.rs, plus the replay cache, which the embedded DS keeps in process memory).
CREATE TABLE groups(
  group_id bytea PRIMARY KEY,
  epoch bigint NOT NULL,
  group_info bytea NOT NULL,
  ratchet_tree bytea NOT NULL
);
CREATE TABLE messages(
  group_id bytea NOT NULL,
  seq bigint NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY(group_id, seq)
);
CREATE TABLE key_packages(id bigserial PRIMARY KEY, client_id bytea NOT NULL, data bytea NOT NULL);
CREATE INDEX key_packages_client ON key_packages(client_id, id);
CREATE TABLE welcomes(id bigserial PRIMARY KEY, client_id bytea NOT NULL, data bytea NOT NULL);
CREATE INDEX welcomes_client ON welcomes(client_id, id);
CREATE TABLE uploads(
  id text PRIMARY KEY,
  group_id bytea NOT NULL,
  uploader bytea NOT NULL,
  total bigint NOT NULL,
  "offset" bigint NOT NULL,
  resumable boolean NOT NULL,
  expires_ms bigint NOT NULL
);
CREATE INDEX uploads_group ON uploads(group_id);
CREATE INDEX uploads_expiry ON uploads(expires_ms);
CREATE TABLE blobs(id text PRIMARY KEY, size bigint NOT NULL, refcount bigint NOT NULL);
CREATE TABLE attachments(
  token_hash bytea PRIMARY KEY,
  group_id bytea NOT NULL,
  blob_id text NOT NULL REFERENCES blobs(id),
  size bigint NOT NULL,
  uploader bytea NOT NULL,
  expires_ms bigint NOT NULL
);
CREATE INDEX attachments_group ON attachments(group_id);
CREATE INDEX attachments_expiry ON attachments(expires_ms);
-- Request nonces seen within the replay window, shared by every replica.
CREATE TABLE nonces(nonce bytea PRIMARY KEY, until_ms bigint NOT NULL);
CREATE INDEX nonces_until ON nonces(until_ms);
