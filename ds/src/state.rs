//! The shared state of a running DS ([`App`]): configuration, stores, tracked groups, replay
//! cache, the uploads with a request in flight, and the sweeper and crash-recovery passes.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use openmls_rust_crypto::RustCrypto;
use tokio::sync::Notify;

use crate::blob::BlobStore;
use crate::config::Config;
use crate::groups::Groups;
use crate::identity::Identity;
use crate::limits::RateLimiter;
use crate::meta::{GroupQuota, MetaStore};
use crate::reqauth::{now_ms, NonceCache};
use crate::www;

/// The shared state of a running DS.
pub struct App {
    /// Configuration.
    pub cfg: Config,
    /// Metadata store.
    pub meta: Arc<dyn MetaStore>,
    /// Attachment bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// Tracked MLS groups.
    pub groups: Groups,
    /// Signature verification.
    pub crypto: RustCrypto,
    /// Replay cache.
    pub nonces: NonceCache,
    /// Uploads with a request in flight.
    pub busy: Mutex<HashSet<String>>,
    /// Woken on every new relayed message.
    pub notify: Notify,
    /// Static directories (`--www`, `--www-pkg`).
    pub www: www::StaticRoots,
    /// Client identity (bearer tokens).
    pub identity: Identity,
    /// Registrations per client.
    pub register_limit: RateLimiter,
    /// Key-package claims per claiming client.
    pub claim_limit: RateLimiter,
}

impl App {
    /// The group quota from the configuration.
    pub fn quota(&self) -> GroupQuota {
        GroupQuota {
            bytes: self.cfg.group_quota_bytes,
            count: self.cfg.group_quota_count,
            client_bytes: self.cfg.client_quota_bytes,
            client_count: self.cfg.client_quota_count,
        }
    }

    /// Removes expired attachments (and their bytes once unreferenced) and expired uploads.
    /// Returns (attachments, uploads) removed.
    pub async fn sweep(&self) -> std::io::Result<(usize, usize)> {
        let now = now_ms();
        let expired = self.meta.expired_attachments(now).map_err(std::io::Error::other)?;
        let n_att = expired.len();
        for th in expired {
            if let Some(blob) = self.meta.delete_attachment(&th).map_err(std::io::Error::other)? {
                self.blobs.delete_blob(&blob).await?;
            }
        }
        let ups = self.meta.expired_uploads(now).map_err(std::io::Error::other)?;
        let mut n_up = 0;
        for id in ups {
            if BusyGuard::try_new(self, &id).is_none() {
                continue; // a request is writing it right now; next sweep
            }
            self.meta.delete_upload(&id).map_err(std::io::Error::other)?;
            self.blobs.discard_staging(&id).await?;
            n_up += 1;
        }
        Ok((n_att, n_up))
    }

    /// Crash recovery at startup: one-shot uploads are dropped, resumable uploads are made
    /// consistent with their durable offset, and orphaned files are removed.
    pub(crate) async fn recover(&self) -> std::io::Result<()> {
        let uploads = self.meta.all_uploads().map_err(std::io::Error::other)?;
        let mut live: HashSet<String> = HashSet::new();
        for u in uploads {
            if !u.resumable {
                self.meta.delete_upload(&u.id).map_err(std::io::Error::other)?;
                self.blobs.discard_staging(&u.id).await?;
                continue;
            }
            let mut len = self.blobs.staging_len(&u.id).await?;
            if len.is_none() && self.blobs.blob_exists(&u.id).await? {
                // Killed between the rename and the metadata commit: undo the rename.
                self.blobs.restore_staging(&u.id).await?;
                len = self.blobs.staging_len(&u.id).await?;
            }
            let len = len.unwrap_or(0);
            if len < u.offset {
                // Cannot happen with fsync-before-commit, but never claim bytes we lack.
                tracing::warn!(upload = %u.id, "staging shorter than its offset; resetting");
                self.meta.set_upload_offset(&u.id, len).map_err(std::io::Error::other)?;
            }
            // Bytes past the offset are cut when the upload is next opened.
            live.insert(u.id);
        }
        for id in self.blobs.list_staging().await? {
            if !live.contains(&id) {
                self.blobs.discard_staging(&id).await?;
            }
        }
        let blobs: HashSet<String> = self.meta.blob_ids().map_err(std::io::Error::other)?.into_iter().collect();
        for id in self.blobs.list_blobs().await? {
            if !blobs.contains(&id) {
                tracing::info!(blob = %id, "removing orphaned blob");
                self.blobs.delete_blob(&id).await?;
            }
        }
        Ok(())
    }
}

/// Marks an upload as having a request in flight; removed on drop.
pub struct BusyGuard<'a> {
    app: &'a App,
    id: String,
}

impl<'a> BusyGuard<'a> {
    /// Marks `id` busy; `None` if a request already holds it.
    pub fn try_new(app: &'a App, id: &str) -> Option<Self> {
        let mut b = match app.busy.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if b.insert(id.to_owned()) {
            Some(Self { app, id: id.to_owned() })
        } else {
            None
        }
    }
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        let mut b = match self.app.busy.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        b.remove(&self.id);
    }
}
