//! [`BlobStore`] on S3-compatible object storage, shared by any number of DS replicas.
//!
//! Client: the `object_store` crate (only its `aws` feature): SigV4, multipart (`MultipartStore`),
//! ranged streaming GETs, server-side copy and presigned URLs (`Signer`) in one maintained crate
//! that shares the DS's tokio/hyper/reqwest stack — much less to compile than the AWS SDK.
//!
//! Object layout in the bucket (ids are the DS's hex ids; all keys under the URL's `prefix`):
//! * `blobs/<id>` — a finished attachment (immutable once recorded; shared by copies, counted in
//!   PostgreSQL). Before that it holds the durable bytes of an upload's first, incomplete part.
//! * `staging/<id>/…` — an upload in progress, as an S3 multipart upload whose parts are aligned
//!   to [`PART_SIZE`] bytes of the attachment:
//!   * `mpu` — the multipart upload id (created when the first part is full);
//!   * `part-<k>` — the ETag of uploaded part `k` (bytes `[k·P, (k+1)·P)`);
//!   * `tail-<k>` (`k ≥ 1`; part 0's is `blobs/<id>`) — the bytes of the incomplete part `k`
//!     made durable by the last `sync` (`[k·P, k·P + len)`);
//!   * `state` — `k len` of the last sync: the durable length is `k·P + len`.
//!
//! Resuming at offset `O` (on any replica) rebuilds part `⌊O/P⌋` from its tail (each sync writes
//! the tail of the part it is in; tails of parts the offset moved past are deleted); parts after
//! it (written past an offset that was never acknowledged) are overwritten as the upload goes on
//! (S3 replaces a part uploaded again under the same number). Completing uploads the last, short
//! part from its tail and completes the multipart upload into `blobs/<id>`. An upload that never
//! filled a part — every one-shot upload below `PART_SIZE` — is one PUT of its bytes to
//! `blobs/<id>` (plus the few-byte `state` object at open and at sync), nothing to copy. Cancelling or expiring aborts the
//! multipart upload and deletes `staging/<id>/` and the unrecorded `blobs/<id>` — idempotent, so
//! every replica may sweep. Copies between groups share the blob (reference-counted rows).
//!
//! Failures of the object store (refused connection, timeout, 5xx after a short retry) are I/O
//! errors of kind `NotConnected`, answered with `503 Unavailable`; a missing object is
//! `NotFound`.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{ClientOptions, GetOptions, GetRange, ObjectStore, PutPayload, RetryConfig};
use tokio::io::AsyncWrite;
use tokio::task::JoinHandle;

use crate::blob::{BlobReader, BlobStore, BoxFut, StagingWriter};

/// Part size of resumable uploads (the S3 minimum for every part but the last).
pub const PART_SIZE: usize = 5 * 1024 * 1024;

/// Where the bytes go: `s3://bucket?endpoint=…&region=…&access_key=…&secret_key=…&prefix=…`.
#[derive(Debug, Clone)]
pub struct S3Url {
    /// Bucket name.
    pub bucket: String,
    /// Endpoint URL (`http://127.0.0.1:9000`); none: AWS.
    pub endpoint: Option<String>,
    /// Region (default `us-east-1`).
    pub region: String,
    /// Access key (else `AWS_ACCESS_KEY_ID`).
    pub access_key: Option<String>,
    /// Secret key (else `AWS_SECRET_ACCESS_KEY`).
    pub secret_key: Option<String>,
    /// Key prefix inside the bucket (several deployments or test runs in one bucket).
    pub prefix: String,
}

impl S3Url {
    /// Parses `s3://bucket[?endpoint=…][&region=…][&access_key=…][&secret_key=…]`.
    pub fn parse(s: &str) -> io::Result<Self> {
        let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("bad --blobs URL: {m}"));
        let u = url::Url::parse(s).map_err(|e| bad(&e.to_string()))?;
        if u.scheme() != "s3" {
            return Err(bad("expected s3://bucket?endpoint=…"));
        }
        let bucket = u.host_str().filter(|b| !b.is_empty()).ok_or_else(|| bad("no bucket"))?.to_owned();
        let mut out = S3Url {
            bucket,
            endpoint: None,
            region: "us-east-1".into(),
            access_key: None,
            secret_key: None,
            prefix: String::new(),
        };
        for (k, v) in u.query_pairs() {
            match &*k {
                "endpoint" => out.endpoint = Some(v.into_owned()),
                "region" => out.region = v.into_owned(),
                "access_key" => out.access_key = Some(v.into_owned()),
                "secret_key" => out.secret_key = Some(v.into_owned()),
                "prefix" => {
                    let p = v.trim_matches('/');
                    if !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'/') {
                        return Err(bad("prefix: letters, digits, '-', '_' and '/' only"));
                    }
                    out.prefix = if p.is_empty() { String::new() } else { format!("{p}/") };
                }
                other => return Err(bad(&format!("unknown parameter {other:?}"))),
            }
        }
        Ok(out)
    }
}

fn unavailable(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        e => io::Error::new(io::ErrorKind::NotConnected, format!("object store: {e}")),
    }
}

fn valid_id(id: &str) -> io::Result<()> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, "bad object id"))
    }
}

/// An object id with the deployment's key prefix.
#[derive(Clone)]
struct Key {
    prefix: Arc<str>,
    id: String,
}

impl Key {
    fn blob(&self) -> Path {
        Path::from(format!("{}blobs/{}", self.prefix, self.id))
    }
    fn staging_dir(&self) -> Path {
        Path::from(format!("{}staging/{}", self.prefix, self.id))
    }
    fn staging(&self, name: &str) -> Path {
        Path::from(format!("{}staging/{}/{name}", self.prefix, self.id))
    }
    /// The durable bytes of incomplete part `k`. Part 0's are written where the blob will be:
    /// an upload below one part (every small one-shot upload) is then complete without a copy.
    /// Nothing points at `blobs/<id>` before the metadata records the attachment.
    fn tail(&self, k: usize) -> Path {
        if k == 0 {
            self.blob()
        } else {
            self.staging(&format!("tail-{k}"))
        }
    }
}

/// Attachment bytes in an S3 bucket.
#[derive(Clone)]
pub struct S3BlobStore {
    s3: Arc<AmazonS3>,
    prefix: Arc<str>,
}

impl std::fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BlobStore").finish_non_exhaustive()
    }
}

async fn get_all(s3: &AmazonS3, p: &Path) -> io::Result<Option<Bytes>> {
    match s3.get(p).await {
        Ok(r) => Ok(Some(r.bytes().await.map_err(unavailable)?)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(unavailable(e)),
    }
}

async fn delete_quiet(s3: &AmazonS3, p: &Path) -> io::Result<()> {
    match s3.delete(p).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(unavailable(e)),
    }
}

fn parse_state(b: &[u8]) -> Option<(usize, usize)> {
    let s = std::str::from_utf8(b).ok()?;
    let (k, len) = s.trim().split_once(' ')?;
    Some((k.parse().ok()?, len.parse().ok()?))
}

impl S3BlobStore {
    /// A client for the bucket (no request is made; see [`S3BlobStore::check`]).
    pub fn open(u: &S3Url) -> io::Result<Self> {
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&u.bucket)
            .with_region(&u.region)
            .with_retry(RetryConfig { max_retries: 2, retry_timeout: Duration::from_secs(5), ..RetryConfig::default() })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(2))
                    .with_timeout(Duration::from_secs(120))
                    .with_allow_http(true),
            );
        if let Some(e) = &u.endpoint {
            b = b.with_endpoint(e).with_allow_http(true).with_virtual_hosted_style_request(false);
        }
        if let Some(k) = &u.access_key {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &u.secret_key {
            b = b.with_secret_access_key(s);
        }
        let s3 = b.build().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        Ok(Self { s3: Arc::new(s3), prefix: Arc::from(u.prefix.as_str()) })
    }

    /// Whether the bucket answers (readiness): a HEAD of a key that need not exist.
    pub async fn check(&self) -> io::Result<()> {
        match self.s3.head(&Path::from("readyz")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The underlying client (presigned URLs, tests).
    pub fn client(&self) -> &AmazonS3 {
        &self.s3
    }

    fn key(&self, id: &str) -> io::Result<Key> {
        valid_id(id)?;
        Ok(Key { prefix: self.prefix.clone(), id: id.to_owned() })
    }

    async fn read_state(&self, id: &Key) -> io::Result<Option<(usize, usize)>> {
        Ok(get_all(&self.s3, &id.staging("state")).await?.and_then(|b| parse_state(&b)))
    }

    async fn list_names(&self, prefix: &Path) -> io::Result<Vec<Path>> {
        self.s3.list(Some(prefix)).map_ok(|m| m.location).try_collect().await.map_err(unavailable)
    }
}

/// The writer of one staging object.
struct S3Writer {
    s3: Arc<AmazonS3>,
    id: Key,
    /// Index of the part `buf` belongs to.
    k: usize,
    /// Bytes of part `k` so far.
    buf: Vec<u8>,
    /// The multipart upload id, once known.
    mpu: Option<String>,
    /// A full part being uploaded.
    inflight: Option<JoinHandle<io::Result<String>>>,
    /// The upload was already completed into a blob (a retried finish): nothing may be written.
    committed: bool,
}

async fn ensure_mpu(s3: &AmazonS3, id: &Key, known: Option<String>) -> io::Result<String> {
    if let Some(m) = known {
        return Ok(m);
    }
    let p = id.staging("mpu");
    if let Some(b) = get_all(s3, &p).await? {
        if let Ok(s) = String::from_utf8(b.to_vec()) {
            return Ok(s);
        }
    }
    let m = s3.create_multipart(&id.blob()).await.map_err(unavailable)?;
    s3.put(&p, PutPayload::from(m.clone().into_bytes())).await.map_err(unavailable)?;
    Ok(m)
}

async fn upload_part(s3: Arc<AmazonS3>, id: Key, mpu: Option<String>, k: usize, data: Bytes) -> io::Result<String> {
    let mpu = ensure_mpu(&s3, &id, mpu).await?;
    let part = s3.put_part(&id.blob(), &mpu, k, PutPayload::from(data)).await.map_err(unavailable)?;
    s3.put(&id.staging(&format!("part-{k}")), PutPayload::from(part.content_id.into_bytes()))
        .await
        .map_err(unavailable)?;
    Ok(mpu)
}

impl S3Writer {
    fn poll_inflight(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(h) = self.inflight.as_mut() {
            let r = match Pin::new(h).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r,
            };
            self.inflight = None;
            let mpu = r.map_err(io::Error::other)??;
            self.mpu = Some(mpu);
        }
        Poll::Ready(Ok(()))
    }

    async fn wait_inflight(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_inflight(cx)).await
    }

    /// Positions the writer at `offset`: part `⌊offset/P⌋` rebuilt from its durable tail.
    async fn seek(&mut self, offset: u64) -> io::Result<()> {
        if let Some(h) = self.inflight.take() {
            // A part of bytes being dropped: let it finish (it is overwritten later) or fail.
            let _ = h.await;
        }
        let k = usize::try_from(offset / PART_SIZE as u64).map_err(io::Error::other)?;
        let r = usize::try_from(offset % PART_SIZE as u64).map_err(io::Error::other)?;
        self.k = k;
        self.buf = Vec::with_capacity(r);
        if r > 0 {
            let tail = get_all(&self.s3, &self.id.tail(k)).await?;
            match tail {
                Some(t) if t.len() >= r => self.buf.extend_from_slice(&t[..r]),
                _ => {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "staging object shorter than its offset"))
                }
            }
        }
        Ok(())
    }
}

impl AsyncWrite for S3Writer {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.committed {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidInput, "the upload is already complete")));
        }
        match this.poll_inflight(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {}
        }
        let n = data.len().min(PART_SIZE - this.buf.len());
        this.buf.extend_from_slice(&data[..n]);
        if this.buf.len() == PART_SIZE {
            let part = Bytes::from(std::mem::replace(&mut this.buf, Vec::with_capacity(PART_SIZE)));
            let fut = upload_part(this.s3.clone(), this.id.clone(), this.mpu.clone(), this.k, part);
            this.inflight = Some(tokio::spawn(fut));
            this.k += 1;
        }
        Poll::Ready(Ok(n))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_inflight(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_inflight(cx)
    }
}

impl StagingWriter for S3Writer {
    fn sync(&mut self) -> BoxFut<'_, ()> {
        Box::pin(async move {
            if self.committed {
                return Ok(());
            }
            self.wait_inflight().await?;
            let (id, k) = (self.id.clone(), self.k);
            if !self.buf.is_empty() || k == 0 {
                let tail = Bytes::copy_from_slice(&self.buf);
                self.s3.put(&id.tail(k), PutPayload::from(tail)).await.map_err(unavailable)?;
            }
            let state = format!("{k} {}", self.buf.len());
            self.s3.put(&id.staging("state"), PutPayload::from(state.into_bytes())).await.map_err(unavailable)?;
            Ok(())
        })
    }
    fn truncate(&mut self, len: u64) -> BoxFut<'_, ()> {
        Box::pin(async move {
            if self.committed {
                return Ok(());
            }
            self.seek(len).await
        })
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        // A part still uploading finishes in the background (harmless: it is overwritten or
        // aborted); nothing to wait for here.
        let _ = self.inflight.take();
    }
}

impl BlobStore for S3BlobStore {
    fn open_staging(&self, id: &str, offset: u64) -> BoxFut<'_, Box<dyn StagingWriter>> {
        let id = self.key(id);
        Box::pin(async move {
            let id = id?;
            let mut w = S3Writer {
                s3: self.s3.clone(),
                id: id.clone(),
                k: 0,
                buf: Vec::new(),
                mpu: None,
                inflight: None,
                committed: false,
            };
            if offset == 0 {
                // New: an empty durable state, so the upload's staging exists from now on (and
                // an unreachable store is refused before any byte of the body is read).
                self.s3.put(&w.id.staging("state"), PutPayload::from_static(b"0 0")).await.map_err(unavailable)?;
                return Ok(Box::new(w) as Box<dyn StagingWriter>);
            }
            if self.read_state(&id).await?.is_none() {
                if self.blob_exists(&id.id).await? {
                    // Completed by an earlier request whose metadata write failed: the retry
                    // finishes it without bytes.
                    w.committed = true;
                    return Ok(Box::new(w) as Box<dyn StagingWriter>);
                }
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "staging object missing"));
            }
            w.seek(offset).await?;
            // Tails of earlier parts are not needed any more: the offset is past them.
            for j in w.k.saturating_sub(4).max(1)..w.k {
                delete_quiet(&self.s3, &id.tail(j)).await?;
            }
            Ok(Box::new(w) as Box<dyn StagingWriter>)
        })
    }
    fn staging_len(&self, id: &str) -> BoxFut<'_, Option<u64>> {
        let id = self.key(id);
        Box::pin(async move {
            let id = id?;
            Ok(self.read_state(&id).await?.map(|(k, len)| (k as u64) * PART_SIZE as u64 + len as u64))
        })
    }
    fn discard_staging(&self, id: &str) -> BoxFut<'_, ()> {
        let id = self.key(id);
        Box::pin(async move {
            let id = id?;
            if let Some(m) = get_all(&self.s3, &id.staging("mpu")).await? {
                let m = String::from_utf8_lossy(&m).into_owned();
                match self.s3.abort_multipart(&id.blob(), &m).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => tracing::warn!(error = %e, "could not abort a multipart upload"),
                }
            }
            for p in self.list_names(&id.staging_dir()).await? {
                delete_quiet(&self.s3, &p).await?;
            }
            // A blob under an upload's id that the metadata never recorded (its finish failed):
            // the upload row still exists, so no attachment points at it.
            delete_quiet(&self.s3, &id.blob()).await
        })
    }
    fn commit_staging(&self, id: &str) -> BoxFut<'_, ()> {
        let id = self.key(id);
        Box::pin(async move {
            let id = id?;
            let Some((k, len)) = self.read_state(&id).await? else {
                // Already committed by an earlier attempt (its metadata write failed).
                if self.blob_exists(&id.id).await? {
                    return Ok(());
                }
                return Err(io::Error::new(io::ErrorKind::NotFound, "no staging object"));
            };
            let tail = id.tail(k);
            if k == 0 {
                // Smaller than one part: the last sync already wrote it as `blobs/<id>` (one PUT).
            } else {
                let mpu = ensure_mpu(&self.s3, &id, None).await?;
                let mut parts = Vec::with_capacity(k + 1);
                for j in 0..k {
                    let etag = get_all(&self.s3, &id.staging(&format!("part-{j}")))
                        .await?
                        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "a part is missing"))?;
                    parts.push(PartId { content_id: String::from_utf8_lossy(&etag).into_owned() });
                }
                if len > 0 {
                    let t = get_all(&self.s3, &tail)
                        .await?
                        .filter(|t| t.len() >= len)
                        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "the last part is missing"))?;
                    let p = self
                        .s3
                        .put_part(&id.blob(), &mpu, k, PutPayload::from(t.slice(..len)))
                        .await
                        .map_err(unavailable)?;
                    parts.push(p);
                }
                self.s3.complete_multipart(&id.blob(), &mpu, parts).await.map_err(unavailable)?;
            }
            // The blob is durable; the staging objects go (a failure here leaves garbage that
            // the upload's expiry does not see: log it).
            for p in self.list_names(&id.staging_dir()).await? {
                if let Err(e) = delete_quiet(&self.s3, &p).await {
                    tracing::warn!(error = %e, "could not remove a staging object after commit");
                }
            }
            Ok(())
        })
    }
    fn restore_staging(&self, id: &str) -> BoxFut<'_, ()> {
        // The blob stays: a retried finish (PATCH at the final offset) or the upload's expiry
        // (discard_staging) deals with it, see open_staging/commit_staging.
        let _ = id;
        Box::pin(async { Ok(()) })
    }
    fn blob_exists(&self, id: &str) -> BoxFut<'_, bool> {
        let id = self.key(id);
        Box::pin(async move {
            let id = id?;
            match self.s3.head(&id.blob()).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(unavailable(e)),
            }
        })
    }
    fn open_blob(&self, id: &str, start: u64, len: u64) -> BoxFut<'_, BlobReader> {
        let id = self.key(id);
        Box::pin(async move {
            let id = id?;
            let p = id.blob();
            if len == 0 {
                self.s3.head(&p).await.map_err(unavailable)?;
                return Ok(Box::pin(tokio::io::empty()) as BlobReader);
            }
            let opts = GetOptions { range: Some(GetRange::Bounded(start..start + len)), ..GetOptions::default() };
            let r = self.s3.get_opts(&p, opts).await.map_err(unavailable)?;
            let stream = r.into_stream().map(|c| c.map_err(unavailable));
            Ok(Box::pin(tokio_util::io::StreamReader::new(stream)) as BlobReader)
        })
    }
    fn direct_url(&self, id: &str, valid: Duration) -> BoxFut<'_, Option<String>> {
        let id = self.key(id);
        Box::pin(async move {
            use object_store::signer::Signer as _;
            let url = self.s3.signed_url(axum::http::Method::GET, &id?.blob(), valid).await.map_err(unavailable)?;
            Ok(Some(url.to_string()))
        })
    }
    fn delete_blob(&self, id: &str) -> BoxFut<'_, ()> {
        let id = self.key(id);
        Box::pin(async move {
            let id = id?;
            delete_quiet(&self.s3, &id.blob()).await
        })
    }
    fn list_staging(&self) -> BoxFut<'_, Vec<String>> {
        Box::pin(async move {
            let r = self
                .s3
                .list_with_delimiter(Some(&Path::from(format!("{}staging", self.prefix))))
                .await
                .map_err(unavailable)?;
            Ok(r.common_prefixes.iter().filter_map(|p| p.filename().map(str::to_owned)).collect())
        })
    }
    fn ready(&self) -> BoxFut<'_, ()> {
        Box::pin(self.check())
    }
    fn list_blobs(&self) -> BoxFut<'_, Vec<String>> {
        Box::pin(async move {
            let names = self.list_names(&Path::from(format!("{}blobs", self.prefix))).await?;
            Ok(names.iter().filter_map(|p| p.filename().map(str::to_owned)).filter(|n| valid_id(n).is_ok()).collect())
        })
    }
}
