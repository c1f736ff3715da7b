//! A Delivery Service client over `fetch`: group management through the DS (handshakes as
//! PublicMessages), the message relay, key packages, and attachments: one-shot or resumable
//! upload with retries, streaming and Range downloads, delete and copy. Every group request is
//! signed by this member's leaf key (`Mimi-Auth`, see `crate::auth`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Response};

use super::cipher::subtle;
use super::client::{
    bytes, event_js, get_opt, idb, idb_delete, idb_get, idb_keys, idb_put, promise, set, update_js, AttachmentRef,
    MlsClient, MlsGroup, OutgoingAttachment,
};
use super::error::describe;
use super::io::{Accumulator, Options};
use super::pipeline::{collect_blob, decrypt_chunks, decrypt_stream, encrypt_stream};
use crate::auth::{empty_body_hash, fresh_nonce, DsRequestTbs, SignedDsRequest, AUTH_HEADER, AUTH_TARGET_HEADER};
use crate::mls;
use crate::suite::{HashAlg, Hasher};
use crate::wire::{decode_exact, vl_header, UploadAttachmentResponse};
use crate::Error;

/// Attachments whose ciphertext is at most this size go up in one request (`POST /v1/attachments`).
pub const ONE_SHOT_UPLOAD_MAX: u64 = 4 << 20;
/// Bytes per `PATCH` of a resumable upload.
pub const UPLOAD_PART: usize = 8 << 20;
/// Tries per request on network errors and 502/503/504, with exponential backoff (0.25 s .. 4 s).
pub const RETRIES: u32 = 8;

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

async fn sleep(ms: i32) {
    let p = Promise::new(&mut |resolve, _| {
        if let Ok(f) = Reflect::get(&js_sys::global(), &"setTimeout".into()) {
            if let Some(f) = f.dyn_ref::<Function>() {
                let _ = f.call2(&JsValue::NULL, &resolve, &JsValue::from(ms));
            }
        }
    });
    let _ = JsFuture::from(p).await;
}

/// SHA-256 of a body: WebCrypto's digest when available (native speed), else wasm.
async fn sha256(data: &Uint8Array) -> Result<[u8; 32], Error> {
    let digest = match subtle() {
        Some(s) => {
            let p = s.digest_with_str_and_buffer_source("SHA-256", data).map_err(|e| Error::Platform(describe(&e)))?;
            Uint8Array::new(&JsFuture::from(p).await.map_err(|e| Error::Platform(describe(&e)))?).to_vec()
        }
        None => {
            let mut h = Hasher::new(HashAlg::Sha256);
            h.update(&data.to_vec());
            h.finalize()
        }
    };
    digest.try_into().map_err(|_| Error::Platform("SHA-256 digest of the wrong length".into()))
}

/// A request body as a `Blob`: Chromium accepts an 8 MiB `Blob` body in ~30-80 ms but takes
/// 400-950 ms over the same bytes as a `Uint8Array`/`ArrayBuffer` (measured here, headless 156).
fn blob_body(data: &Uint8Array) -> Result<web_sys::Blob, Error> {
    web_sys::Blob::new_with_u8_array_sequence(&Array::of1(data)).map_err(|e| Error::Platform(describe(&e)))
}

fn sign(g: &mls::Group, method: &str, path: &str, body_hash: [u8; 32]) -> Result<String, Error> {
    let nonce = fresh_nonce().map_err(|e| Error::Mls(e.to_string()))?;
    let now = js_sys::Date::now() as u64;
    let tbs = DsRequestTbs::new(g.group_id(), g.epoch(), g.own_leaf_index(), method, path, body_hash, now, nonce);
    let signed = SignedDsRequest::sign_with(tbs, |c| g.client().sign(c).map_err(|e| e.to_string()))
        .map_err(|e| Error::Mls(e.to_string()))?;
    signed.to_header().map_err(|e| Error::Mls(e.to_string()))
}

struct Req {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<JsValue>,
}

impl Req {
    fn new(method: &'static str, path: String) -> Self {
        Self { method, path, headers: Vec::new(), body: None }
    }
    fn header(mut self, k: &'static str, v: impl Into<String>) -> Self {
        self.headers.push((k, v.into()));
        self
    }
    fn body(mut self, b: impl Into<JsValue>) -> Self {
        self.body = Some(b.into());
        self
    }
}

fn retryable(e: &Error) -> bool {
    matches!(e, Error::Network(_)) || matches!(e, Error::Ds { status: 502..=504, .. })
}

/// A client of one Delivery Service, acting for one `MlsClient`.
#[wasm_bindgen]
pub struct DsClient {
    base: String,
    h: super::client::ClientHandle,
}

impl DsClient {
    async fn fetch(&self, req: &Req, signal: Option<&AbortSignal>) -> Result<Response, Error> {
        let init = Object::new();
        set(&init, "method", req.method);
        let headers = Object::new();
        for (k, v) in &req.headers {
            set(&headers, k, v.as_str());
        }
        set(&init, "headers", headers);
        if let Some(b) = &req.body {
            set(&init, "body", b.clone());
        }
        if let Some(s) = signal {
            set(&init, "signal", s.clone());
        }
        let f = Reflect::get(&js_sys::global(), &"fetch".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or_else(|| Error::Platform("fetch is not available".into()))?;
        let url = format!("{}{}", self.base, req.path);
        let p = f.call2(&JsValue::NULL, &url.into(), &init).map_err(|e| Error::Network(describe(&e)))?;
        let p = p.dyn_into::<Promise>().map_err(|_| Error::Platform("fetch did not return a Promise".into()))?;
        match JsFuture::from(p).await {
            Ok(r) => r.dyn_into::<Response>().map_err(|_| Error::Platform("fetch did not give a Response".into())),
            Err(e) => {
                if signal.is_some_and(AbortSignal::aborted) {
                    Err(Error::Aborted)
                } else {
                    Err(Error::Network(describe(&e)))
                }
            }
        }
    }

    /// Sends, maps an error status to `Error::Ds`, and retries retryable failures. `make` builds
    /// the request anew for each try (signatures need fresh nonces).
    async fn send(
        &self,
        signal: Option<&AbortSignal>,
        make: impl Fn() -> Result<Req, Error>,
    ) -> Result<Response, Error> {
        let mut tries = 0;
        loop {
            if signal.is_some_and(AbortSignal::aborted) {
                return Err(Error::Aborted);
            }
            let e = match self.fetch(&make()?, signal).await {
                Ok(resp) if resp.ok() => return Ok(resp),
                Ok(resp) => ds_error(&resp).await,
                Err(e) => e,
            };
            if !retryable(&e) || tries + 1 >= RETRIES {
                return Err(e);
            }
            sleep(250 << tries.min(4)).await;
            tries += 1;
        }
    }

    fn gid(g: &MlsGroup) -> String {
        b64(g.g.borrow().group_id())
    }

    fn signed(g: &MlsGroup, method: &'static str, path: String, body_hash: [u8; 32]) -> Result<Req, Error> {
        let auth = sign(&g.g.borrow(), method, &path, body_hash)?;
        Ok(Req::new(method, path).header(AUTH_HEADER, auth))
    }

    async fn post_handshake(&self, g: &MlsGroup, update: &mls::Outgoing) -> Result<(), Error> {
        let mut body = update.commit.clone();
        body.extend_from_slice(update.group_info.as_deref().unwrap_or_default());
        if let Some(w) = &update.welcome {
            body.extend_from_slice(w);
        }
        let path = format!("/v1/groups/{}/handshake", Self::gid(g));
        self.send(None, || Ok(Req::new("POST", path.clone()).body(bytes(&body)))).await?;
        Ok(())
    }

    async fn upload(&self, out: &OutgoingAttachment, g: &MlsGroup, opts: &Options) -> Result<Vec<u8>, Error> {
        let total = out.ciphertext_size_u64()?;
        let signal = opts.signal();
        if total <= ONE_SHOT_UPLOAD_MAX {
            let mut acc = Accumulator::new(&out.stream_from(0, opts)?.into())?;
            acc.fill(total as usize).await?;
            let ct = acc.take(total as usize);
            let gid = g.g.borrow().group_id().to_vec();
            let mut head = vl_header(gid.len())?;
            head.extend_from_slice(&gid);
            head.extend(vl_header(total as usize)?);
            let body = Uint8Array::new_with_length(head.len() as u32 + ct.length());
            body.set(&bytes(&head), 0);
            body.set(&ct, head.len() as u32);
            let hash = sha256(&body).await?;
            let body = blob_body(&body)?;
            let resp = self
                .send(signal, || Ok(Self::signed(g, "POST", "/v1/attachments".into(), hash)?.body(body.clone())))
                .await?;
            opts.progress("upload", total, Some(total));
            return token_of(resp).await;
        }
        // Resumable: create, then PATCH parts; on failure ask the server for its offset and go on.
        let resp = self
            .send(signal, || {
                Ok(Self::signed(g, "POST", "/v1/uploads".into(), empty_body_hash())?
                    .header("Upload-Length", total.to_string()))
            })
            .await?;
        let location = resp.headers().get("Location").ok().flatten().ok_or_else(|| Error::Ds {
            status: resp.status(),
            ds_code: "BadResponse".into(),
            message: "no Location".into(),
        })?;
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
    async fn cancel_at_ds(&self, g: &MlsGroup, location: &str) {
        for i in 0..8 {
            match self.send(None, || Self::signed(g, "DELETE", location.to_string(), empty_body_hash())).await {
                Err(Error::Ds { status: 409, .. }) => sleep(100 << i.min(4)).await,
                _ => return,
            }
        }
    }

    async fn upload_parts(
        &self,
        out: &OutgoingAttachment,
        g: &MlsGroup,
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
            let auth = sign(&g.g.borrow(), "PATCH", location, hash)?;
            let req = Req::new("PATCH", location.to_string())
                .header(AUTH_HEADER, auth)
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
            let conflict = matches!(e, Error::Ds { status: 409, .. });
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
    async fn server_offset(
        &self,
        g: &MlsGroup,
        location: &str,
        total: u64,
        signal: Option<&AbortSignal>,
    ) -> Result<u64, Error> {
        let head = self.send(signal, || Self::signed(g, "HEAD", location.to_string(), empty_body_hash())).await?;
        let server =
            head.headers().get("Upload-Offset").ok().flatten().and_then(|v| v.parse::<u64>().ok()).ok_or_else(
                || Error::Ds {
                    status: head.status(),
                    ds_code: "BadResponse".into(),
                    message: "no Upload-Offset".into(),
                },
            )?;
        if server > total {
            return Err(Error::Ds {
                status: 500,
                ds_code: "BadResponse".into(),
                message: "offset past the end".into(),
            });
        }
        Ok(server)
    }

    fn upload_prefix(&self) -> Option<String> {
        self.h.store_name.as_ref().map(|n| format!("upload:{n}:"))
    }

    /// Persists what resuming this upload after a reload needs (keys, upload URL, the File), for
    /// clients that persist; returns the IndexedDB key.
    async fn save_upload(&self, out: &OutgoingAttachment, location: &str) -> Result<Option<String>, Error> {
        let Some(prefix) = self.upload_prefix() else { return Ok(None) };
        let key = format!("{prefix}{location}");
        let rec = Object::new();
        set(&rec, "state", bytes(&out.pending.to_bytes()?));
        set(&rec, "file", out.file.clone());
        set(&rec, "location", location);
        set(&rec, "groupId", bytes(out.pending.group_id()));
        set(&rec, "name", get_opt(&out.file, "name"));
        idb(idb_put(&key, &rec.into())).await?;
        Ok(Some(key))
    }

    async fn get_attachment(
        &self,
        g: &MlsGroup,
        r: &AttachmentRef,
        range: Option<(u64, u64)>,
        signal: Option<&AbortSignal>,
    ) -> Result<Response, Error> {
        r.0.check_group(&g.g.borrow())?;
        let path = format!("/v1/attachments/{}", b64(&r.0.token));
        self.send(signal, || {
            let req = Self::signed(g, "GET", path.clone(), empty_body_hash())?;
            Ok(match range {
                Some((a, b)) => req.header("Range", format!("bytes={a}-{}", b.saturating_sub(1))),
                None => req,
            })
        })
        .await
    }
}

impl DsClient {
    async fn download_stream(
        &self,
        g: &MlsGroup,
        r: &AttachmentRef,
        opts: Options,
    ) -> Result<web_sys::ReadableStream, Error> {
        let resp = self.get_attachment(g, r, None, opts.signal()).await?;
        let body = resp.body().ok_or_else(|| Error::Network("empty response body".into()))?;
        decrypt_stream(r.0.keys().clone(), r.0.chunk_size, &r.0.hash, r.0.size, &body.into(), opts)
    }
}

async fn ds_error(resp: &Response) -> Error {
    let status = resp.status();
    let (mut ds_code, mut message) = (String::from("DsError"), resp.status_text());
    if let Ok(p) = resp.json() {
        if let Ok(v) = JsFuture::from(p).await {
            if let Some(c) = get_opt(&v, "code").as_string() {
                ds_code = c;
            }
            if let Some(m) = get_opt(&v, "message").as_string() {
                message = m;
            }
        }
    }
    Error::Ds { status, ds_code, message }
}

async fn body_bytes(resp: Response) -> Result<Vec<u8>, Error> {
    let p = resp.array_buffer().map_err(|e| Error::Network(describe(&e)))?;
    let buf = JsFuture::from(p).await.map_err(|e| Error::Network(describe(&e)))?;
    Ok(Uint8Array::new(&buf).to_vec())
}

async fn token_of(resp: Response) -> Result<Vec<u8>, Error> {
    let r: UploadAttachmentResponse = decode_exact(&body_bytes(resp).await?)?;
    Ok(r.token.as_slice().to_vec())
}

async fn json_of(resp: Response) -> Result<JsValue, Error> {
    let p = resp.json().map_err(|e| Error::Network(describe(&e)))?;
    JsFuture::from(p).await.map_err(|e| Error::Network(describe(&e)))
}

impl OutgoingAttachment {
    pub(crate) fn ciphertext_size_u64(&self) -> Result<u64, Error> {
        let size = self.file.size() as u64;
        match self.pending.chunk_size() {
            Some(cs) => crate::stream::ciphertext_len(size, cs),
            None => Ok(size + crate::suite::AEAD_TAG_LEN as u64),
        }
    }

    fn stream_from(&self, offset: u64, opts: &Options) -> Result<web_sys::ReadableStream, Error> {
        let mut o = opts.clone();
        o.offset = offset;
        o.no_progress();
        encrypt_stream(self.pending.keys().clone(), self.pending.chunk_size(), self.file.clone(), o)
    }
}

#[wasm_bindgen]
impl DsClient {
    /// A client of the Delivery Service at `baseUrl` (e.g. `"http://127.0.0.1:8080"`, or `""` for
    /// the page's own origin), acting for `client`.
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(js_name = baseUrl)] base_url: String, client: &MlsClient) -> DsClient {
        DsClient { base: base_url.trim_end_matches('/').to_string(), h: client.0.clone() }
    }

    /// Publishes a fresh KeyPackage of this client (others claim it to add this client).
    #[wasm_bindgen(js_name = publishKeyPackage, unchecked_return_type = "Promise<void>")]
    pub fn publish_key_package(&self) -> Promise {
        let this = self.clone_handle();
        promise(async move {
            let kp = this.h.client.key_package()?;
            this.h.save().await?;
            let path = format!("/v1/clients/{}/key-packages", b64(this.h.client.identity()));
            this.send(None, || Ok(Req::new("POST", path.clone()).body(bytes(&kp)))).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Creates a group and registers it (its GroupInfo) at the Delivery Service.
    #[wasm_bindgen(js_name = createGroup, unchecked_return_type = "Promise<MlsGroup>")]
    pub fn create_group(&self, #[wasm_bindgen(js_name = groupId)] group_id: Option<Vec<u8>>) -> Promise {
        let this = self.clone_handle();
        promise(async move {
            let g = this.h.client.create_group(group_id.as_deref())?;
            let gi = g.group_info()?;
            this.h.save().await?;
            this.send(None, || Ok(Req::new("POST", "/v1/groups".into()).body(bytes(&gi)))).await?;
            Ok(MlsGroup { h: this.h.clone(), g: std::rc::Rc::new(std::cell::RefCell::new(g)) })
        })
    }

    /// Joins a group from the Welcome waiting in this client's mailbox; `undefined` if none.
    #[wasm_bindgen(js_name = joinFromWelcome, unchecked_return_type = "Promise<MlsGroup | undefined>")]
    pub fn join_from_welcome(&self) -> Promise {
        let this = self.clone_handle();
        promise(async move {
            let path = format!("/v1/clients/{}/welcome", b64(this.h.client.identity()));
            let resp = this.send(None, || Ok(Req::new("GET", path.clone()))).await?;
            if resp.status() == 204 {
                return Ok(JsValue::UNDEFINED);
            }
            let welcome = body_bytes(resp).await?;
            let g = this.h.client.join_group(&welcome)?;
            this.h.save().await?;
            Ok(MlsGroup { h: this.h.clone(), g: std::rc::Rc::new(std::cell::RefCell::new(g)) }.into())
        })
    }

    /// Claims `identity`'s KeyPackage, adds it to `group`, and sends commit, GroupInfo and
    /// Welcome to the Delivery Service (which puts the Welcome in that client's mailbox).
    #[wasm_bindgen(js_name = addMember, unchecked_return_type = "Promise<GroupUpdate>")]
    pub fn add_member(&self, group: &MlsGroup, identity: String) -> Promise {
        let this = self.clone_handle();
        let g = group.share();
        promise(async move {
            let path = format!("/v1/clients/{}/key-packages/claim", b64(identity.as_bytes()));
            let kp = body_bytes(this.send(None, || Ok(Req::new("POST", path.clone()))).await?).await?;
            let update = g.g.borrow_mut().add_members(&[kp])?;
            g.h.save().await?;
            this.post_handshake(&g, &update).await?;
            Ok(update_js(update))
        })
    }

    /// Removes the member at `leafIndex` and sends the commit to the Delivery Service.
    #[wasm_bindgen(js_name = removeMember, unchecked_return_type = "Promise<GroupUpdate>")]
    pub fn remove_member(&self, group: &MlsGroup, #[wasm_bindgen(js_name = leafIndex)] leaf_index: u32) -> Promise {
        let this = self.clone_handle();
        let g = group.share();
        promise(async move {
            let update = g.g.borrow_mut().remove_members(&[leaf_index])?;
            g.h.save().await?;
            this.post_handshake(&g, &update).await?;
            Ok(update_js(update))
        })
    }

    /// Updates this member's leaf (a new epoch) and sends the commit.
    #[wasm_bindgen(js_name = selfUpdate, unchecked_return_type = "Promise<GroupUpdate>")]
    pub fn self_update(&self, group: &MlsGroup) -> Promise {
        let this = self.clone_handle();
        let g = group.share();
        promise(async move {
            let update = g.g.borrow_mut().self_update()?;
            g.h.save().await?;
            this.post_handshake(&g, &update).await?;
            Ok(update_js(update))
        })
    }

    /// Encrypts and relays an application message to the group.
    #[wasm_bindgen(js_name = sendMessage, unchecked_return_type = "Promise<void>")]
    pub fn send_message(
        &self,
        group: &MlsGroup,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] data: JsValue,
    ) -> Promise {
        let this = self.clone_handle();
        let g = group.share();
        promise(async move {
            let data = match data.as_string() {
                Some(s) => s.into_bytes(),
                None => data
                    .dyn_into::<Uint8Array>()
                    .map(|a| a.to_vec())
                    .map_err(|_| Error::InvalidArgument("data must be a Uint8Array or a string".into()))?,
            };
            let msg = g.g.borrow_mut().encrypt_message(&data)?;
            g.h.save().await?;
            let body = bytes(&msg);
            let hash = sha256(&body).await?;
            let path = format!("/v1/groups/{}/messages", Self::gid(&g));
            this.send(None, || Ok(Self::signed(&g, "POST", path.clone(), hash)?.body(body.clone()))).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Fetches the group's messages after `after` (long-polling up to `waitSecs`), processes each
    /// in order, and returns `{events, next}`. A message that fails to process (for example this
    /// client's own commit echoed back) becomes `{type: "error", code, message}`; every event
    /// carries its `seq`. Pass `next` as `after` on the following call.
    #[wasm_bindgen(js_name = fetchMessages, unchecked_return_type = "Promise<{ events: (GroupEvent & { seq: number } | { type: \"error\"; seq: number; code: string; message: string })[]; next: number }>")]
    pub fn fetch_messages(
        &self,
        group: &MlsGroup,
        #[wasm_bindgen(unchecked_param_type = "{ after?: number; waitSecs?: number; signal?: AbortSignal }")]
        options: JsValue,
    ) -> Promise {
        let this = self.clone_handle();
        let g = group.share();
        promise(async move {
            let after = get_opt(&options, "after").as_f64().unwrap_or(0.0) as u64;
            let wait = get_opt(&options, "waitSecs").as_f64().unwrap_or(0.0) as u64;
            let signal = get_opt(&options, "signal").dyn_into::<AbortSignal>().ok();
            let path = format!("/v1/groups/{}/messages?after={after}&wait_secs={wait}", Self::gid(&g));
            let resp = this.send(signal.as_ref(), || Self::signed(&g, "GET", path.clone(), empty_body_hash())).await?;
            let v = json_of(resp).await?;
            let next = get_opt(&v, "next").as_f64().unwrap_or(after as f64);
            let events = Array::new();
            for m in Array::from(&get_opt(&v, "messages")).iter() {
                let seq = get_opt(&m, "seq");
                let data = get_opt(&m, "data").as_string().unwrap_or_default();
                let processed = URL_SAFE_NO_PAD
                    .decode(data.as_bytes())
                    .map_err(|_| Error::Codec("relayed message is not base64url".into()))
                    .and_then(|b| g.g.borrow_mut().process_message(&b));
                let ev = match processed {
                    Ok(e) => event_js(e),
                    Err(e) => {
                        let o = Object::new();
                        set(&o, "type", "error");
                        set(&o, "code", e.code());
                        set(&o, "message", e.to_string());
                        o.into()
                    }
                };
                let _ = Reflect::set(&ev, &"seq".into(), &seq);
                events.push(&ev);
            }
            if events.length() > 0 {
                g.h.save().await?;
            }
            let out = Object::new();
            set(&out, "events", events);
            set(&out, "next", next);
            Ok(JsValue::from(out))
        })
    }

    /// The group's storage use and limits at the Delivery Service (JSON as the DS sends it).
    #[wasm_bindgen(unchecked_return_type = "Promise<Record<string, number>>")]
    pub fn quota(&self, group: &MlsGroup) -> Promise {
        let this = self.clone_handle();
        let g = group.share();
        promise(async move {
            let path = format!("/v1/groups/{}/quota", Self::gid(&g));
            json_of(this.send(None, || Self::signed(&g, "GET", path.clone(), empty_body_hash())).await?).await
        })
    }

    /// Encrypts `file` (chunked, bounded memory) and uploads it: in one request up to 4 MiB of
    /// ciphertext, else resumably in 8 MiB parts, retrying with backoff and resuming from the
    /// server's offset after network errors (for example a Delivery Service restart). Resolves to
    /// the reference: put `ref.contentType()` in the chat message (send it in the same epoch).
    #[wasm_bindgen(js_name = sendAttachment, unchecked_return_type = "Promise<AttachmentRef>")]
    pub fn send_attachment(
        &self,
        group: &MlsGroup,
        file: web_sys::Blob,
        #[wasm_bindgen(unchecked_param_type = "EncryptOptions")] options: JsValue,
    ) -> Promise {
        let this = self.clone_handle();
        let g = group.share();
        promise(async move {
            let opts = Options::from_js(&options)?;
            let out = super::client::start_attachment(g.g.clone(), file, &opts).await?;
            let token = this.upload(&out, &g, &opts).await?;
            Ok(out.pending.complete(&g.g.borrow(), &token).map(AttachmentRef)?)
        })
    }

    /// Downloads and decrypts an attachment as a stream (verifying as the bytes arrive), signed
    /// by this member of `group` (the attachment's group).
    #[wasm_bindgen(unchecked_return_type = "Promise<ReadableStream<Uint8Array>>")]
    pub fn download(
        &self,
        group: &MlsGroup,
        reference: &AttachmentRef,
        #[wasm_bindgen(unchecked_param_type = "DecryptOptions")] options: JsValue,
    ) -> Promise {
        let this = self.clone_handle();
        let g = group.share();
        let r = AttachmentRef(reference.0.clone());
        promise(async move { this.download_stream(&g, &r, Options::from_js(&options)?).await.map(JsValue::from) })
    }

    /// `download()` collected into a `Blob` (of `options.type`).
    #[wasm_bindgen(js_name = downloadToBlob, unchecked_return_type = "Promise<Blob>")]
    pub fn download_to_blob(
        &self,
        group: &MlsGroup,
        reference: &AttachmentRef,
        #[wasm_bindgen(unchecked_param_type = "DecryptOptions")] options: JsValue,
    ) -> Promise {
        let this = self.clone_handle();
        let g = group.share();
        let r = AttachmentRef(reference.0.clone());
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
        group: &MlsGroup,
        reference: &AttachmentRef,
        start: f64,
        end: f64,
        #[wasm_bindgen(unchecked_param_type = "StreamOptions")] options: JsValue,
    ) -> Promise {
        let this = self.clone_handle();
        let g = group.share();
        let r = AttachmentRef(reference.0.clone());
        promise(async move {
            let opts = Options::from_js(&options)?;
            let (cs, size) = match (r.0.chunk_size, r.0.size) {
                (Some(cs), Some(size)) => (cs, size),
                _ => return Err(Error::InvalidArgument("ranges need a chunked attachment with a known size".into())),
            };
            let (start, end) = (start as u64, (end as u64).min(size));
            if start >= end {
                return Ok(Uint8Array::new_with_length(0));
            }
            let n = u64::from(cs.get());
            let (first, last) = (start / n, (end - 1) / n);
            let s = cs.sealed() as u64;
            let ct_len = crate::stream::ciphertext_len(size, cs)?;
            let range = (first * s, ((last + 1) * s).min(ct_len));
            let resp = this.get_attachment(&g, &r, Some(range), opts.signal()).await?;
            let data = Uint8Array::from(&body_bytes(resp).await?[..]);
            if u64::from(data.length()) != range.1 - range.0 {
                return Err(Error::Truncated("the Range response is shorter than asked"));
            }
            let chunks = decrypt_chunks(r.0.keys(), cs, size, first, &data, opts.backend).await?;
            let out = Uint8Array::new_with_length((end - start) as u32);
            let mut pos = first * n;
            let mut at = 0u32;
            for c in chunks {
                let (a, b) = (pos, pos + u64::from(c.length()));
                let (lo, hi) = (start.max(a), end.min(b));
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
    pub fn delete_attachment(&self, group: &MlsGroup, reference: &AttachmentRef) -> Promise {
        let this = self.clone_handle();
        let g = group.share();
        let path = format!("/v1/attachments/{}", b64(&reference.0.token));
        let bound = reference.0.check_group(&g.g.borrow());
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
    pub fn copy_attachment(&self, reference: &AttachmentRef, from: &MlsGroup, to: &MlsGroup) -> Promise {
        let this = self.clone_handle();
        let (from, to) = (from.share(), to.share());
        let r = reference.0.clone();
        let bound = r.check_group(&from.g.borrow());
        promise(async move {
            bound?;
            let path = format!("/v1/attachments/{}/copy", b64(&r.token));
            let resp = this
                .send(None, || {
                    let target = sign(&to.g.borrow(), "POST", &path, empty_body_hash())?;
                    Ok(Self::signed(&from, "POST", path.clone(), empty_body_hash())?.header(AUTH_TARGET_HEADER, target))
                })
                .await?;
            let token = token_of(resp).await?;
            Ok(AttachmentRef(r.rebind(&token, &to.g.borrow())?))
        })
    }
}

#[wasm_bindgen]
impl DsClient {
    /// Uploads that a persisting client started and did not finish (for example when the page
    /// was closed): `[{id, name, size, groupId}]`. Resume them with `resumeUpload`.
    #[wasm_bindgen(js_name = pendingUploads, unchecked_return_type = "Promise<{ id: string; name?: string; size: number; groupId: Uint8Array }[]>")]
    pub fn pending_uploads(&self) -> Promise {
        let prefix = self.upload_prefix();
        promise(async move {
            let out = Array::new();
            let Some(prefix) = prefix else { return Ok(out) };
            for k in Array::from(&idb(idb_keys()).await?).iter() {
                let Some(key) = k.as_string().filter(|k| k.starts_with(&prefix)) else { continue };
                let rec = idb(idb_get(&key)).await?;
                let o = Object::new();
                set(&o, "id", key.as_str());
                set(&o, "name", get_opt(&rec, "name"));
                set(&o, "size", get_opt(&get_opt(&rec, "file"), "size"));
                set(&o, "groupId", get_opt(&rec, "groupId"));
                out.push(&o);
            }
            Ok(out)
        })
    }

    /// Resumes a pending upload (from `pendingUploads`) from the server's offset and resolves to
    /// the reference, as `sendAttachment` does. `WrongEpoch` if the group has moved to another
    /// epoch since the upload started (the keys belong to that epoch: send the file again).
    #[wasm_bindgen(js_name = resumeUpload, unchecked_return_type = "Promise<AttachmentRef>")]
    pub fn resume_upload(
        &self,
        group: &MlsGroup,
        id: String,
        #[wasm_bindgen(unchecked_param_type = "StreamOptions")] options: JsValue,
    ) -> Promise {
        let this = self.clone_handle();
        let g = group.share();
        promise(async move {
            let opts = Options::from_js(&options)?;
            let rec = idb(idb_get(&id)).await?;
            if rec.is_undefined() {
                return Err(Error::InvalidArgument("no such pending upload".into()));
            }
            let state = get_opt(&rec, "state")
                .dyn_into::<Uint8Array>()
                .map_err(|_| Error::Codec("bad upload record".into()))?;
            let file = get_opt(&rec, "file")
                .dyn_into::<web_sys::Blob>()
                .map_err(|_| Error::Codec("bad upload record".into()))?;
            let location =
                get_opt(&rec, "location").as_string().ok_or_else(|| Error::Codec("bad upload record".into()))?;
            let pending = crate::attachment::PendingAttachment::from_bytes(&zeroize::Zeroizing::new(state.to_vec()))?;
            if pending.group_id() != g.g.borrow().group_id() {
                return Err(Error::WrongGroup);
            }
            let out = OutgoingAttachment { g: g.g.clone(), pending, file };
            let total = out.ciphertext_size_u64()?;
            let r = this.upload_parts(&out, &g, &opts, &location, total, true).await;
            if !matches!(r, Err(Error::Network(_)) | Err(Error::Aborted)) {
                let _ = idb(idb_delete(&id)).await;
            }
            Ok(out.pending.complete(&g.g.borrow(), &r?).map(AttachmentRef)?)
        })
    }

    /// Abandons a pending upload: cancels it at the Delivery Service (freeing the quota) and
    /// forgets it.
    #[wasm_bindgen(js_name = discardUpload, unchecked_return_type = "Promise<void>")]
    pub fn discard_upload(&self, group: &MlsGroup, id: String) -> Promise {
        let this = self.clone_handle();
        let g = group.share();
        promise(async move {
            let rec = idb(idb_get(&id)).await?;
            if let Some(location) = get_opt(&rec, "location").as_string() {
                this.cancel_at_ds(&g, &location).await;
            }
            idb(idb_delete(&id)).await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

impl DsClient {
    fn clone_handle(&self) -> DsClient {
        DsClient { base: self.base.clone(), h: self.h.clone() }
    }
}

impl MlsGroup {
    pub(crate) fn share(&self) -> MlsGroup {
        MlsGroup { h: self.h.clone(), g: self.g.clone() }
    }
}
