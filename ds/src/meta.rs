//! Metadata: the [`MetaStore`] trait and the rows it stores. Implementations: SQLite
//! ([`crate::store::sqlite::SqliteMeta`], the embedded default) and PostgreSQL
//! ([`crate::store::pg::PgMeta`]).
//!
//! Tokens are never stored: attachments are keyed by `SHA-256(token)`.

/// A metadata error.
pub type MetaResult<T> = Result<T, rusqlite::Error>;

/// A group as persisted: its latest verified GroupInfo and ratchet tree (TLS encoded).
#[derive(Debug, Clone)]
pub struct StoredGroup {
    /// MLS group id.
    pub group_id: Vec<u8>,
    /// Current epoch.
    pub epoch: u64,
    /// `MlsMessage(GroupInfo)` bytes.
    pub group_info: Vec<u8>,
    /// `RatchetTree` bytes.
    pub ratchet_tree: Vec<u8>,
    /// The client (bearer-token identity) that registered the group; empty for groups stored
    /// before owners were recorded.
    pub owner: Vec<u8>,
}

/// An upload in progress (resumable or one-shot); its `total` is reserved against the quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    /// Random id, also the staging and blob id.
    pub id: String,
    /// Group the attachment will be bound to.
    pub group_id: Vec<u8>,
    /// TLS encoding of the uploader's credential.
    pub uploader: Vec<u8>,
    /// Announced total length.
    pub total: u64,
    /// Durable offset.
    pub offset: u64,
    /// Resumable (survives restarts) or one-shot (dropped on restart).
    pub resumable: bool,
    /// Expiry of the incomplete upload (UNIX ms).
    pub expires_ms: u64,
}

/// A stored attachment: a token (by hash) bound to a group, pointing at a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRow {
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// Group it is bound to.
    pub group_id: Vec<u8>,
    /// Blob holding the bytes.
    pub blob_id: String,
    /// Length in bytes.
    pub size: u64,
    /// TLS encoding of the uploader's credential.
    pub uploader: Vec<u8>,
    /// Expiry (UNIX ms).
    pub expires_ms: u64,
}

/// Quota limits checked when bytes are reserved: the target group's, and the uploading
/// client's over all its groups (the client is the uploader credential, `UploadRow::uploader` /
/// `AttachmentRow::uploader`).
#[derive(Debug, Clone, Copy)]
pub struct GroupQuota {
    /// Maximum bytes of attachments and reserved uploads of the group.
    pub bytes: u64,
    /// Maximum number of attachments and uploads in progress of the group.
    pub count: u64,
    /// Maximum bytes of attachments and reserved uploads of one uploader, over all groups.
    pub client_bytes: u64,
    /// Maximum number of attachments and uploads in progress of one uploader.
    pub client_count: u64,
}

impl GroupQuota {
    /// Whether one more attachment or upload of `add` bytes fits, given the `(bytes, count)` the
    /// group and the uploader already use: the group's count, then its bytes, then the
    /// uploader's count and bytes. Both metadata backends decide with this, inside their
    /// transaction.
    pub fn check(&self, group: (u64, u64), uploader: (u64, u64), add: u64) -> Reserve {
        let ((gb, gc), (ub, uc)) = (group, uploader);
        if gc.saturating_add(1) > self.count {
            Reserve::OverCount
        } else if gb.saturating_add(add) > self.bytes {
            Reserve::OverBytes
        } else if uc.saturating_add(1) > self.client_count {
            Reserve::OverClientCount
        } else if ub.saturating_add(add) > self.client_bytes {
            Reserve::OverClientBytes
        } else {
            Reserve::Ok
        }
    }
}

/// Outcome of a quota-checked insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserve {
    /// Inserted.
    Ok,
    /// The group's byte quota would be exceeded.
    OverBytes,
    /// The group's count quota would be exceeded.
    OverCount,
    /// The uploader's byte quota (over all its groups) would be exceeded.
    OverClientBytes,
    /// The uploader's count quota would be exceeded.
    OverClientCount,
    /// The source does not exist (copy).
    Missing,
}

/// Metadata storage. Implementations must make each method atomic.
pub trait MetaStore: Send + Sync + 'static {
    /// All groups.
    fn load_groups(&self) -> MetaResult<Vec<StoredGroup>>;
    /// Inserts a new group; false if it exists.
    fn insert_group(&self, g: &StoredGroup) -> MetaResult<bool>;
    /// Replaces a group's state without relaying anything (a rolled-back commit).
    fn set_group(&self, g: &StoredGroup) -> MetaResult<()>;
    /// Replaces a group's state and appends `message` (the commit) to its relay queue.
    fn update_group(&self, g: &StoredGroup, message: &[u8]) -> MetaResult<u64>;
    /// Appends a message to the group's relay queue; returns its sequence number (from 1).
    fn append_message(&self, group_id: &[u8], data: &[u8]) -> MetaResult<u64>;
    /// Messages with sequence number > `after`, oldest first.
    fn messages_after(&self, group_id: &[u8], after: u64, limit: u32) -> MetaResult<Vec<(u64, Vec<u8>)>>;
    /// Stores a key package for `client_id` unless it already has `max`; false if full.
    /// `last_resort`: it carries the `last_resort` extension.
    fn push_key_package(&self, client_id: &[u8], data: &[u8], last_resort: bool, max: u64) -> MetaResult<bool>;
    /// Removes and returns the oldest ordinary key package of `client_id`; if none is left, returns
    /// its newest last-resort key package **without removing it** (last-resort key packages may be
    /// reused, RFC 9420 §16.8 and the `last_resort` extension), so claims never drain a client.
    fn pop_key_package(&self, client_id: &[u8]) -> MetaResult<Option<Vec<u8>>>;
    /// Stores a Welcome for `client_id`.
    fn push_welcome(&self, client_id: &[u8], data: &[u8]) -> MetaResult<()>;
    /// Removes and returns the oldest Welcome of `client_id`.
    fn pop_welcome(&self, client_id: &[u8]) -> MetaResult<Option<Vec<u8>>>;

    /// Inserts an upload if the group's and the uploader's quotas allow its `total`.
    fn reserve_upload(&self, u: &UploadRow, q: GroupQuota) -> MetaResult<Reserve>;
    /// An upload by id.
    fn get_upload(&self, id: &str) -> MetaResult<Option<UploadRow>>;
    /// All uploads.
    fn all_uploads(&self) -> MetaResult<Vec<UploadRow>>;
    /// Sets the durable offset.
    fn set_upload_offset(&self, id: &str, offset: u64) -> MetaResult<()>;
    /// Deletes an upload row.
    fn delete_upload(&self, id: &str) -> MetaResult<()>;
    /// Atomically: deletes the upload, creates its blob (refcount 1) and the attachment.
    fn finish_upload(&self, upload_id: &str, a: &AttachmentRow) -> MetaResult<()>;
    /// The attachment with this token hash, if any (expired ones included).
    fn get_attachment(&self, token_hash: &[u8]) -> MetaResult<Option<AttachmentRow>>;
    /// Deletes an attachment; returns the blob id when its last reference went away.
    fn delete_attachment(&self, token_hash: &[u8]) -> MetaResult<Option<String>>;
    /// Creates `a` sharing the blob of `src_token_hash` if the target group's and the new
    /// uploader's (`a.uploader`) quotas allow.
    fn copy_attachment(&self, src_token_hash: &[u8], a: &AttachmentRow, q: GroupQuota) -> MetaResult<Reserve>;
    /// Token hashes of attachments expired at `now_ms`.
    fn expired_attachments(&self, now_ms: u64) -> MetaResult<Vec<Vec<u8>>>;
    /// Ids of uploads expired at `now_ms`.
    fn expired_uploads(&self, now_ms: u64) -> MetaResult<Vec<String>>;
    /// Ids of all blobs.
    fn blob_ids(&self) -> MetaResult<Vec<String>>;
    /// (bytes, count) used by a group: attachments plus reserved uploads.
    fn usage(&self, group_id: &[u8]) -> MetaResult<(u64, u64)>;

    // Scale-out (PostgreSQL): the defaults are the embedded, single-process behaviour.

    /// Whether several DS processes share this store: groups are then re-read when another
    /// replica changed them, and start-up recovery leaves other replicas' uploads alone.
    fn is_shared(&self) -> bool {
        false
    }
    /// One stored group.
    fn load_group(&self, group_id: &[u8]) -> MetaResult<Option<StoredGroup>> {
        Ok(self.load_groups()?.into_iter().find(|g| g.group_id == group_id))
    }
    /// The stored epoch of a group.
    fn group_epoch(&self, group_id: &[u8]) -> MetaResult<Option<u64>> {
        Ok(self.load_group(group_id)?.map(|g| g.epoch))
    }
    /// Records a request nonce in a replay cache shared by every replica until `keep_until_ms`:
    /// `Some(false)` if it was seen and has not expired. `None`: the store keeps no replay cache
    /// (the DS uses its in-process one).
    fn insert_nonce(&self, nonce: &[u8], now_ms: u64, keep_until_ms: u64) -> MetaResult<Option<bool>> {
        let _ = (nonce, now_ms, keep_until_ms);
        Ok(None)
    }
    /// Sets a callback run when any process appended to a relay queue (long-poll wake-ups across
    /// replicas). The embedded store has one process, which wakes its own waiters.
    fn on_remote_message(&self, wake: Box<dyn Fn() + Send + Sync>) {
        drop(wake);
    }
    /// Whether the store answers (readiness probe).
    fn ping(&self) -> MetaResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_check_is_exact_at_each_limit() {
        let q = GroupQuota { bytes: 100, count: 3, client_bytes: 50, client_count: 2 };
        assert_eq!(q.check((0, 0), (0, 0), 50), Reserve::Ok);
        assert_eq!(q.check((0, 0), (0, 0), 51), Reserve::OverClientBytes);
        assert_eq!(q.check((50, 2), (0, 0), 50), Reserve::Ok);
        assert_eq!(q.check((51, 2), (0, 0), 50), Reserve::OverBytes);
        assert_eq!(q.check((0, 3), (0, 0), 1), Reserve::OverCount);
        assert_eq!(q.check((0, 0), (0, 2), 1), Reserve::OverClientCount);
        assert_eq!(q.check((0, 0), (49, 1), 1), Reserve::Ok);
        assert_eq!(q.check((0, 0), (u64::MAX, 0), 1), Reserve::OverClientBytes);
        assert_eq!(q.check((u64::MAX, u64::MAX), (0, 0), u64::MAX), Reserve::OverCount);
    }
}
