//! Streaming request bodies, hashed as they are read.

use std::time::Duration;

use axum::body::{Body, Bytes};
use sha2::{Digest, Sha256};

use super::common::*;
use crate::blob::StagingWriter;
use crate::error::{ApiError, ApiResult};
use futures_util::StreamExt as _;
use mimi_attachments::wire::{decode_varint, varint_len};
use tokio::io::AsyncWriteExt as _;

/// A request body read chunk by chunk, hashing every byte (for the signed body hash).
pub(super) struct BodyReader {
    stream: axum::body::BodyDataStream,
    pending: Bytes,
    hasher: Sha256,
    /// The stream ended or failed: nothing more to read.
    done: bool,
}

/// At most this much of a refused upload's remaining body is read (and discarded) before the
/// error response, so that the client, still sending, receives the response instead of a
/// connection reset.
pub(super) const DRAIN_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// ... and for at most this long.
pub(super) const DRAIN_MAX_TIME: Duration = Duration::from_secs(5);

impl BodyReader {
    pub(super) fn new(body: Body) -> Self {
        Self { stream: body.into_data_stream(), pending: Bytes::new(), hasher: Sha256::new(), done: false }
    }

    /// Reads and discards what is left of the body, bounded by [`DRAIN_MAX_BYTES`] and
    /// [`DRAIN_MAX_TIME`].
    pub(super) async fn drain(&mut self) {
        if self.done {
            return;
        }
        let _ = tokio::time::timeout(DRAIN_MAX_TIME, async {
            let mut n = self.pending.len() as u64;
            self.pending = Bytes::new();
            while n <= DRAIN_MAX_BYTES {
                match self.stream.next().await {
                    Some(Ok(b)) => n += b.len() as u64,
                    _ => break,
                }
            }
        })
        .await;
        self.done = true;
    }

    /// The next chunk (pending bytes first); `None` at the end.
    pub(super) async fn next(&mut self) -> ApiResult<Option<Bytes>> {
        if !self.pending.is_empty() {
            return Ok(Some(std::mem::take(&mut self.pending)));
        }
        if self.done {
            return Ok(None);
        }
        loop {
            match self.stream.next().await {
                None => {
                    self.done = true;
                    return Ok(None);
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Err(body_error(&e));
                }
                Some(Ok(b)) if b.is_empty() => continue,
                Some(Ok(b)) => {
                    self.hasher.update(&b);
                    return Ok(Some(b));
                }
            }
        }
    }

    /// Exactly `n` (small) bytes.
    pub(super) async fn read_exact(&mut self, n: usize) -> ApiResult<Vec<u8>> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let Some(mut b) = self.next().await? else {
                return Err(ApiError::bad_request("body truncated"));
            };
            let take = (n - out.len()).min(b.len());
            out.extend_from_slice(&b.split_to(take));
            self.pending = b;
        }
        Ok(out)
    }

    /// An MLS variable-length integer (RFC 9420 §2.1.2), minimally encoded.
    pub(super) async fn read_varint(&mut self) -> ApiResult<u64> {
        let first = self.read_exact(1).await?;
        let b0 = first.first().copied().unwrap_or(0);
        let len = varint_len(b0).ok_or_else(|| ApiError::bad_request("invalid varint"))?;
        let mut all = first;
        all.extend(self.read_exact(len - 1).await?);
        decode_varint(&all).map_err(|e| ApiError::bad_request(e.to_string()))
    }

    /// Writes the next `len` bytes exactly (or up to `len` when `exact` is false) to `w`.
    /// Returns the number written; more data than `len` is [`CopyError::TooLong`].
    pub(super) async fn copy_to(&mut self, w: &mut dyn StagingWriter, len: u64, exact: bool) -> Result<u64, CopyError> {
        let mut written = 0u64;
        while let Some(mut b) = self.next().await.map_err(CopyError::Api)? {
            let room = len.saturating_sub(written);
            if b.len() as u64 > room {
                if exact {
                    let keep = usize::try_from(room).unwrap_or(usize::MAX);
                    let head = b.split_to(keep);
                    w.write_all(&head).await.map_err(CopyError::Io)?;
                    written += head.len() as u64;
                    self.pending = b;
                    return Ok(written);
                }
                return Err(CopyError::TooLong);
            }
            w.write_all(&b).await.map_err(CopyError::Io)?;
            written += b.len() as u64;
            if exact && written == len {
                return Ok(written);
            }
        }
        Ok(written)
    }

    /// Reads to the end and returns the body hash.
    pub(super) async fn finish(&mut self) -> ApiResult<(bool, [u8; 32])> {
        let mut extra = false;
        while self.next().await?.is_some() {
            extra = true;
        }
        Ok((extra, std::mem::take(&mut self.hasher).finalize().into()))
    }
}

pub(super) enum CopyError {
    Api(ApiError),
    Io(std::io::Error),
    TooLong,
}

impl From<CopyError> for ApiError {
    fn from(e: CopyError) -> Self {
        match e {
            CopyError::Api(a) => a,
            CopyError::Io(e) => e.into(),
            CopyError::TooLong => ApiError::too_large("the body is longer than the announced length"),
        }
    }
}
