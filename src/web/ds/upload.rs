//! Uploading an attachment: one request up to `ONE_SHOT_UPLOAD_MAX`, else resumable in
//! `UPLOAD_PART` parts (resuming from the server's offset after failures and after a reload).

use js_sys::{Object, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use web_sys::AbortSignal;

use super::super::attachment::{start_attachment, AttachmentRef, OutgoingAttachment};
use super::super::io::{Accumulator, Options};
use super::super::js::{bytes, get_opt, promise, set};
use super::super::member::Member;
use super::super::store::{idb, idb_delete, idb_put};
use super::http::*;
use super::DsGroup;
use super::{DsClient, ONE_SHOT_UPLOAD_MAX, RETRIES, UPLOAD_PART};
use crate::auth::empty_body_hash;
use crate::wire::upload_request_prefix;
use crate::Error;

impl DsClient {
    pub(super) async fn upload(&self, out: &OutgoingAttachment, g: &Member, opts: &Options) -> Result<Vec<u8>, Error> {
        let total = out.ciphertext_size_u64()?;
        let signal = opts.signal();
        if total <= ONE_SHOT_UPLOAD_MAX {
            let mut acc = Accumulator::new(&out.stream_from(0, opts)?.into())?;
            acc.fill(total as usize).await?;
            let ct = acc.take(total as usize);
            let head = upload_request_prefix(&g.group_id(), total as usize)?;
            let body = Uint8Array::new_with_length(head.len() as u32 + ct.length());
            body.set(&bytes(&head), 0);
            body.set(&ct, head.len() as u32);
            let hash = sha256(&body).await?;
            let body = blob_body(&body)?;
            let resp = self
                .send(signal, || Self::signed(g, "POST", "/v1/attachments".into(), hash).body(body.clone()))
                .await?;
            opts.progress("upload", total, Some(total));
            return token_of(resp).await;
        }
        // Resumable: create, then PATCH parts; on failure ask the server for its offset and go on.
        let resp = self
            .send(signal, || {
                Self::signed(g, "POST", "/v1/uploads".into(), empty_body_hash())
                    .header("Upload-Length", total.to_string())
            })
            .await?;
        let location = resp
            .headers()
            .get("Location")
            .ok()
            .flatten()
            .ok_or_else(|| Error::ds(resp.status(), None, "the answer has no Location"))?;
        let record = self.save_upload(out, &location).await?;
        let r = self.upload_parts(out, g, opts, &location, total, false).await;
        if !matches!(r, Err(Error::Network(_)) | Err(Error::Aborted)) {
            if let Some(key) = &record {
                let _ = idb(idb_delete(key)).await;
            }
        }
        if r.is_err() {
            // Best effort: free the server's reservation when giving up (not on a network error,
            // where the upload can still be resumed).
            if !matches!(r, Err(Error::Network(_))) {
                self.cancel_at_ds(g, &location).await;
            }
        }
        r
    }

    /// Best effort `DELETE` of a resumable upload (frees its quota). Right after an aborted
    /// `PATCH` the server may still be reading that request and answers 409 `Conflict` until it
    /// notices the closed connection: retry for a few seconds then.
    pub(super) async fn cancel_at_ds(&self, g: &Member, location: &str) {
        for i in 0..8 {
            match self.send(None, || Self::signed(g, "DELETE", location.to_string(), empty_body_hash())).await {
                Err(Error::Ds { status: 409, .. }) => sleep(100 << i.min(4)).await,
                _ => return,
            }
        }
    }

    pub(super) async fn upload_parts(
        &self,
        out: &OutgoingAttachment,
        g: &Member,
        opts: &Options,
        location: &str,
        total: u64,
        resume: bool,
    ) -> Result<Vec<u8>, Error> {
        let signal = opts.signal();
        let mut offset = if resume { self.server_offset(g, location, total, signal).await? } else { 0 };
        if resume && offset >= total {
            // The last PATCH arrived but its answer (with the token) was lost: nothing to resume.
            return Err(Error::InvalidState("the upload completed but its token was lost: send the file again"));
        }
        let mut acc = Accumulator::new(&out.stream_from(offset, opts)?.into())?;
        let mut failures = 0u32;
        // The next part is read and encrypted while the current PATCH is in flight.
        let mut next: Option<(Uint8Array, [u8; 32])> = None;
        loop {
            opts.check_abort()?;
            let (part, hash) = match next.take() {
                Some(p) => p,
                None => {
                    acc.fill(UPLOAD_PART).await?;
                    let part = acc.take(UPLOAD_PART);
                    let hash = sha256(&part).await?;
                    (part, hash)
                }
            };
            let len = u64::from(part.length());
            let req = Req::new("PATCH", location.to_string())
                .signed_by(g, hash)
                .header("Upload-Offset", offset.to_string())
                .header("Content-Type", "application/partial-upload")
                .body(blob_body(&part)?);
            drop(part);
            let prepare = async {
                if offset + len >= total {
                    return Ok(None);
                }
                acc.fill(UPLOAD_PART).await?;
                let p = acc.take(UPLOAD_PART);
                let h = sha256(&p).await?;
                Ok::<_, Error>(Some((p, h)))
            };
            let (sent, prepared) = futures_util::future::join(self.fetch(&req, signal), prepare).await;
            let e = match sent {
                Ok(resp) if resp.status() == 201 => return token_of(resp).await,
                Ok(resp) if resp.status() == 204 => {
                    offset += len;
                    failures = 0;
                    next = prepared?;
                    opts.progress("upload", offset, Some(total));
                    continue;
                }
                Ok(resp) => ds_error(&resp).await,
                Err(e) => e,
            };
            let conflict = matches!(e, Error::Ds { code: crate::error::DsCode::Conflict, .. });
            if !(retryable(&e) || conflict) || failures + 1 >= RETRIES {
                return Err(e);
            }
            sleep(250 << failures.min(4)).await;
            failures += 1;
            // Where is the server? Then restart the ciphertext stream there.
            let server = self.server_offset(g, location, total, signal).await?;
            offset = server;
            acc = Accumulator::new(&out.stream_from(offset, opts)?.into())?;
        }
    }

    /// `HEAD` of a resumable upload: the server's `Upload-Offset`.
    pub(super) async fn server_offset(
        &self,
        g: &Member,
        location: &str,
        total: u64,
        signal: Option<&AbortSignal>,
    ) -> Result<u64, Error> {
        let head = self.send(signal, || Self::signed(g, "HEAD", location.to_string(), empty_body_hash())).await?;
        let server = head
            .headers()
            .get("Upload-Offset")
            .ok()
            .flatten()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| Error::ds(head.status(), None, "the answer has no Upload-Offset"))?;
        if server > total {
            return Err(Error::ds(head.status(), None, "Upload-Offset past the end"));
        }
        Ok(server)
    }

    /// The IndexedDB key prefix of this client's resume records (a persisting `MlsClient`'s;
    /// none in the light build, whose uploads resume after network errors, not after a reload).
    pub(super) fn upload_prefix(&self) -> Option<String> {
        #[cfg(feature = "mls")]
        return self.h.store_name().map(|n| format!("upload:{n}:"));
        #[cfg(not(feature = "mls"))]
        None
    }

    /// Persists what resuming this upload after a reload needs (keys, upload URL, the File), for
    /// clients that persist; returns the IndexedDB key, or `None` when the record cannot be
    /// stored: WebKit refuses Blobs in IndexedDB in an ephemeral session (Safari's Private
    /// Browsing, WebDriver automation; docs/WEBKIT.md). The upload then goes on, resumable after
    /// network errors but not after a reload.
    pub(super) async fn save_upload(&self, out: &OutgoingAttachment, location: &str) -> Result<Option<String>, Error> {
        let Some(prefix) = self.upload_prefix() else { return Ok(None) };
        let key = format!("{prefix}{location}");
        let rec = Object::new();
        set(&rec, "state", bytes(&out.pending().to_bytes()?));
        set(&rec, "file", out.file().clone());
        set(&rec, "location", location);
        set(&rec, "groupId", bytes(out.pending().group_id()));
        set(&rec, "name", get_opt(out.file(), "name"));
        match idb(idb_put(&key, &rec.into())).await {
            Ok(_) => Ok(Some(key)),
            Err(_) => Ok(None),
        }
    }
}

#[wasm_bindgen]
impl DsClient {
    /// Encrypts `file` (chunked, bounded memory) and uploads it: in one request up to 4 MiB of
    /// ciphertext, else resumably in 8 MiB parts, retrying with backoff and resuming from the
    /// server's offset after network errors (for example a Delivery Service restart). Resolves to
    /// the reference: put `ref.contentType()` in the chat message (send it in the same epoch).
    #[wasm_bindgen(js_name = sendAttachment, unchecked_return_type = "Promise<AttachmentRef>")]
    pub fn send_attachment(
        &self,
        group: &DsGroup,
        file: web_sys::Blob,
        #[wasm_bindgen(unchecked_optional_param_type = "EncryptOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or_default();
        let this = self.clone_handle();
        let g = group.member();
        promise(async move {
            let opts = Options::from_js(&options)?;
            let out = start_attachment(g.clone(), file, &opts).await?;
            let token = this.upload(&out, &g, &opts).await?;
            let at = g.position();
            out.pending().complete_in(&at.group_id, at.epoch, &token).map(AttachmentRef::new)
        })
    }
}
