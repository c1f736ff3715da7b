//! Attachment bytes: the [`BlobStore`] trait and its local-disk implementation [`FsBlobStore`].
//!
//! An upload is written to a *staging* object; when complete it is made durable and renamed to an
//! immutable *blob* in one atomic step. A blob can be shared by several attachments (copy); the
//! metadata store counts references.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWrite};

/// A boxed future of an I/O result.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'a>>;
/// A reader over (a range of) a blob.
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// A writer appending to a staging object.
pub trait StagingWriter: AsyncWrite + Send + Unpin {
    /// Makes everything written so far durable (fsync).
    fn sync(&mut self) -> BoxFut<'_, ()>;
    /// Cuts the staging object back to `len` bytes (after a rejected body).
    fn truncate(&mut self, len: u64) -> BoxFut<'_, ()>;
}

/// Storage of attachment bytes. Ids are lower-case hex strings made by the DS.
pub trait BlobStore: Send + Sync + 'static {
    /// Opens staging object `id` for appending, cut to `offset` bytes first (bytes past the
    /// committed offset are leftovers of an interrupted request). Creates it when missing.
    fn open_staging(&self, id: &str, offset: u64) -> BoxFut<'_, Box<dyn StagingWriter>>;
    /// The length of staging object `id`, if it exists.
    fn staging_len(&self, id: &str) -> BoxFut<'_, Option<u64>>;
    /// Removes staging object `id` (no error when missing).
    fn discard_staging(&self, id: &str) -> BoxFut<'_, ()>;
    /// Atomically turns staging object `id` into blob `id` (durable when this returns).
    fn commit_staging(&self, id: &str) -> BoxFut<'_, ()>;
    /// Undoes [`BlobStore::commit_staging`] (crash recovery of an unrecorded commit).
    fn restore_staging(&self, id: &str) -> BoxFut<'_, ()>;
    /// Whether blob `id` exists.
    fn blob_exists(&self, id: &str) -> BoxFut<'_, bool>;
    /// Reads `len` bytes of blob `id` from `start`.
    fn open_blob(&self, id: &str, start: u64, len: u64) -> BoxFut<'_, BlobReader>;
    /// Removes blob `id` (no error when missing).
    fn delete_blob(&self, id: &str) -> BoxFut<'_, ()>;
    /// Ids of all staging objects (for recovery).
    fn list_staging(&self) -> BoxFut<'_, Vec<String>>;
    /// Ids of all blobs (for recovery).
    fn list_blobs(&self) -> BoxFut<'_, Vec<String>>;
    /// Bytes still available to new objects, if the store can tell (`None`: unlimited or
    /// unknown). The DS refuses uploads that would leave less than `--min-free-bytes`.
    fn free_bytes(&self) -> BoxFut<'_, Option<u64>> {
        Box::pin(async { Ok(None) })
    }
    /// A URL that serves blob `id` (with `Range`) to anyone holding it for `valid`, if the store
    /// can presign one (`None`: it cannot; the DS proxies the bytes).
    fn direct_url(&self, id: &str, valid: std::time::Duration) -> BoxFut<'_, Option<String>> {
        let _ = (id, valid);
        Box::pin(async { Ok(None) })
    }
    /// Whether the store answers (readiness probe).
    fn ready(&self) -> BoxFut<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// Files under `<data>/staging/<id>` and `<data>/blobs/<id>`.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    staging: PathBuf,
    blobs: PathBuf,
}

fn valid_id(id: &str) -> io::Result<()> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, "bad object id"))
    }
}

async fn sync_dir(dir: &Path) -> io::Result<()> {
    let d = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&d)?.sync_all()).await.map_err(io::Error::other)?
}

async fn list(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut rd = tokio::fs::read_dir(dir).await?;
    while let Some(e) = rd.next_entry().await? {
        if let Some(name) = e.file_name().to_str() {
            if valid_id(name).is_ok() {
                out.push(name.to_owned());
            }
        }
    }
    Ok(out)
}

async fn remove_if_exists(p: PathBuf) -> io::Result<()> {
    match tokio::fs::remove_file(&p).await {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl FsBlobStore {
    /// Creates the directories under `data_dir`.
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let staging = data_dir.join("staging");
        let blobs = data_dir.join("blobs");
        std::fs::create_dir_all(&staging)?;
        std::fs::create_dir_all(&blobs)?;
        Ok(Self { staging, blobs })
    }
    fn staging_path(&self, id: &str) -> io::Result<PathBuf> {
        valid_id(id)?;
        Ok(self.staging.join(id))
    }
    fn blob_path(&self, id: &str) -> io::Result<PathBuf> {
        valid_id(id)?;
        Ok(self.blobs.join(id))
    }
}

struct FileWriter(tokio::fs::File);

impl AsyncWrite for FileWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl StagingWriter for FileWriter {
    fn sync(&mut self) -> BoxFut<'_, ()> {
        Box::pin(async move {
            tokio::io::AsyncWriteExt::flush(&mut self.0).await?;
            self.0.sync_all().await
        })
    }
    fn truncate(&mut self, len: u64) -> BoxFut<'_, ()> {
        Box::pin(async move {
            // A failed buffered write (ENOSPC) is reported by this flush; cut the file anyway,
            // that is the point (and frees the space).
            if let Err(e) = tokio::io::AsyncWriteExt::flush(&mut self.0).await {
                tracing::debug!(error = %e, "flush before truncating a staging object");
            }
            self.0.set_len(len).await?;
            self.0.seek(io::SeekFrom::Start(len)).await?;
            Ok(())
        })
    }
}

impl BlobStore for FsBlobStore {
    fn open_staging(&self, id: &str, offset: u64) -> BoxFut<'_, Box<dyn StagingWriter>> {
        let p = self.staging_path(id);
        Box::pin(async move {
            let p = p?;
            let mut f = tokio::fs::OpenOptions::new().create(true).write(true).truncate(false).open(&p).await?;
            let len = f.metadata().await?.len();
            if len < offset {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "staging object shorter than its offset"));
            }
            if len > offset {
                f.set_len(offset).await?;
            }
            f.seek(io::SeekFrom::Start(offset)).await?;
            Ok(Box::new(FileWriter(f)) as Box<dyn StagingWriter>)
        })
    }
    fn staging_len(&self, id: &str) -> BoxFut<'_, Option<u64>> {
        let p = self.staging_path(id);
        Box::pin(async move {
            match tokio::fs::metadata(p?).await {
                Ok(m) => Ok(Some(m.len())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
    }
    fn discard_staging(&self, id: &str) -> BoxFut<'_, ()> {
        let p = self.staging_path(id);
        Box::pin(async move { remove_if_exists(p?).await })
    }
    fn commit_staging(&self, id: &str) -> BoxFut<'_, ()> {
        let (s, b) = (self.staging_path(id), self.blob_path(id));
        Box::pin(async move {
            let (s, b) = (s?, b?);
            tokio::fs::OpenOptions::new().write(true).open(&s).await?.sync_all().await?;
            tokio::fs::rename(&s, &b).await?;
            sync_dir(&self.blobs).await?;
            sync_dir(&self.staging).await
        })
    }
    fn restore_staging(&self, id: &str) -> BoxFut<'_, ()> {
        let (s, b) = (self.staging_path(id), self.blob_path(id));
        Box::pin(async move {
            tokio::fs::rename(b?, s?).await?;
            sync_dir(&self.staging).await
        })
    }
    fn blob_exists(&self, id: &str) -> BoxFut<'_, bool> {
        let p = self.blob_path(id);
        Box::pin(async move { Ok(tokio::fs::try_exists(p?).await.unwrap_or(false)) })
    }
    fn open_blob(&self, id: &str, start: u64, len: u64) -> BoxFut<'_, BlobReader> {
        let p = self.blob_path(id);
        Box::pin(async move {
            let mut f = tokio::fs::File::open(p?).await?;
            f.seek(io::SeekFrom::Start(start)).await?;
            Ok(Box::pin(tokio::io::AsyncReadExt::take(f, len)) as BlobReader)
        })
    }
    fn delete_blob(&self, id: &str) -> BoxFut<'_, ()> {
        let p = self.blob_path(id);
        Box::pin(async move { remove_if_exists(p?).await })
    }
    fn list_staging(&self) -> BoxFut<'_, Vec<String>> {
        Box::pin(list(&self.staging))
    }
    fn list_blobs(&self) -> BoxFut<'_, Vec<String>> {
        Box::pin(list(&self.blobs))
    }
    fn free_bytes(&self) -> BoxFut<'_, Option<u64>> {
        let dir = self.staging.clone();
        Box::pin(async move {
            let st = tokio::task::spawn_blocking(move || rustix::fs::statvfs(&dir))
                .await
                .map_err(io::Error::other)?
                .map_err(io::Error::from)?;
            Ok(Some(st.f_bavail.saturating_mul(st.f_frsize)))
        })
    }
}
