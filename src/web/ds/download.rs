//! Downloading an attachment: streaming (verified as the bytes arrive) and HTTP Range reads of a
//! plaintext range (`format::RangePlan`); delete and copy.

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use web_sys::{AbortSignal, Response};

use super::super::attachment::AttachmentRef;
use super::super::io::Options;
use super::super::js::promise;
use super::super::js::{whole, MAX_SAFE};
use super::super::member::Member;
use super::super::pipeline::{collect_blob, decrypt_chunks, decrypt_stream};
use super::http::*;
use super::DsGroup;
use super::{b64, DsClient};
use crate::auth::{empty_body_hash, AUTH_TARGET_HEADER};
use crate::format::RangePlan;
use crate::Error;

impl DsClient {
    pub(super) async fn get_attachment(
        &self,
        g: &Member,
        r: &AttachmentRef,
        range: Option<(u64, u64)>,
        signal: Option<&AbortSignal>,
    ) -> Result<Response, Error> {
        r.core().check_group_id(&g.group_id())?;
        let path = format!("/v1/attachments/{}", b64(&r.core().token));
        self.send(signal, || {
            let req = Self::signed(g, "GET", path.clone(), empty_body_hash());
            match range {
                Some((a, b)) => req.header("Range", format!("bytes={a}-{}", b.saturating_sub(1))),
                None => req,
            }
        })
        .await
    }
}

impl DsClient {
    pub(super) async fn download_stream(
        &self,
        g: &Member,
        r: &AttachmentRef,
        opts: Options,
    ) -> Result<web_sys::ReadableStream, Error> {
        let resp = self.get_attachment(g, r, None, opts.signal()).await?;
        let body = resp.body().ok_or_else(|| Error::Network("empty response body".into()))?;
        decrypt_stream(r.core().keys().clone(), r.core().format(), &r.core().hash, r.core().size, &body.into(), opts)
    }
}

#[wasm_bindgen]
impl DsClient {
    /// Downloads and decrypts an attachment as a stream (verifying as the bytes arrive), signed
    /// by this member of `group` (the attachment's group).
    #[wasm_bindgen(unchecked_return_type = "Promise<ReadableStream<Uint8Array>>")]
    pub fn download(
        &self,
        group: &DsGroup,
        reference: &AttachmentRef,
        #[wasm_bindgen(unchecked_optional_param_type = "DecryptOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or_default();
        let this = self.clone_handle();
        let g = group.member();
        let r = AttachmentRef::new(reference.core().clone());
        promise(async move { this.download_stream(&g, &r, Options::from_js(&options)?).await.map(JsValue::from) })
    }

    /// `download()` collected into a `Blob` (of `options.type`).
    #[wasm_bindgen(js_name = downloadToBlob, unchecked_return_type = "Promise<Blob>")]
    pub fn download_to_blob(
        &self,
        group: &DsGroup,
        reference: &AttachmentRef,
        #[wasm_bindgen(unchecked_optional_param_type = "DecryptOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or_default();
        let this = self.clone_handle();
        let g = group.member();
        let r = AttachmentRef::new(reference.core().clone());
        promise(async move {
            let opts = Options::from_js(&options)?;
            let t = opts.blob_type.clone();
            let s = this.download_stream(&g, &r, opts).await?;
            collect_blob(s, t.as_deref()).await
        })
    }

    /// Plaintext bytes `[start, end)` of a chunked attachment, fetched with an HTTP Range request
    /// for just the chunks that hold them (seeking in a video). Every chunk's tag is verified;
    /// the whole-file hash is not (it needs the whole file).
    #[wasm_bindgen(js_name = downloadRange, unchecked_return_type = "Promise<Uint8Array>")]
    pub fn download_range(
        &self,
        group: &DsGroup,
        reference: &AttachmentRef,
        start: f64,
        end: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "StreamOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or_default();
        let this = self.clone_handle();
        let g = group.member();
        let r = AttachmentRef::new(reference.core().clone());
        promise(async move {
            let opts = Options::from_js(&options)?;
            let (cs, size) = match (r.core().chunk_size, r.core().size) {
                (Some(cs), Some(size)) => (cs, size),
                _ => return Err(Error::InvalidArgument("ranges need a chunked attachment with a known size".into())),
            };
            let (start, end) = (whole(start, MAX_SAFE, "start")?, whole(end, MAX_SAFE, "end")?);
            let Some(plan) = RangePlan::new(cs, size, start, end)? else {
                return Ok(Uint8Array::new_with_length(0));
            };
            let resp = this.get_attachment(&g, &r, Some((plan.ct_start, plan.ct_end)), opts.signal()).await?;
            let data = Uint8Array::from(&body_bytes(resp).await?[..]);
            if u64::from(data.length()) != plan.ct_len() {
                return Err(Error::Truncated("the Range response is shorter than asked"));
            }
            let chunks = decrypt_chunks(r.core().keys(), cs, size, plan.first_chunk, &data, opts.backend).await?;
            let out = Uint8Array::new_with_length(u32::try_from(plan.len()).map_err(|_| Error::TooLarge("range"))?);
            // Copy the opened chunks' bytes that fall in [trim_start, trim_end).
            let (mut pos, mut at) = (0u64, 0u32);
            for c in chunks {
                let (a, b) = (pos, pos + u64::from(c.length()));
                let (lo, hi) = (plan.trim_start.max(a), plan.trim_end.min(b));
                if lo < hi {
                    out.set(&c.subarray((lo - a) as u32, (hi - a) as u32), at);
                    at += (hi - lo) as u32;
                }
                pos = b;
            }
            Ok(out)
        })
    }

    /// Deletes an attachment at the Delivery Service (as the group's policy allows).
    #[wasm_bindgen(js_name = deleteAttachment, unchecked_return_type = "Promise<void>")]
    pub fn delete_attachment(&self, group: &DsGroup, reference: &AttachmentRef) -> Promise {
        let this = self.clone_handle();
        let g = group.member();
        let path = format!("/v1/attachments/{}", b64(&reference.core().token));
        let bound = reference.core().check_group_id(&g.group_id());
        promise(async move {
            bound?;
            this.send(None, || Self::signed(&g, "DELETE", path.clone(), empty_body_hash())).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Copies an attachment of group `from` into group `to` on this Delivery Service (this client
    /// must be a member of both). Resolves to the reference in `to`: the members of `to` cannot
    /// derive its keys from their exporter, so send them `ref.toBytes()` in an (end-to-end
    /// encrypted) message of `to`; they restore it with `AttachmentRef.fromBytes`.
    #[wasm_bindgen(js_name = copyAttachment, unchecked_return_type = "Promise<AttachmentRef>")]
    pub fn copy_attachment(&self, reference: &AttachmentRef, from: &DsGroup, to: &DsGroup) -> Promise {
        let this = self.clone_handle();
        let (from, to) = (from.member(), to.member());
        let r = reference.core().clone();
        let bound = r.check_group_id(&from.group_id());
        promise(async move {
            bound?;
            let path = format!("/v1/attachments/{}/copy", b64(&r.token));
            let resp = this
                .send(None, || {
                    Self::signed(&from, "POST", path.clone(), empty_body_hash()).signed_header(
                        AUTH_TARGET_HEADER,
                        &to,
                        empty_body_hash(),
                    )
                })
                .await?;
            let token = token_of(resp).await?;
            Ok(AttachmentRef::new(r.rebind_to(&token, to.position())?))
        })
    }
}
