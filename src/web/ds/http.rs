//! HTTP to the Delivery Service: requests, `Mimi-Auth` signatures, retries with backoff, and the
//! DS's JSON error bodies (passed through as `Error::Ds` with the DS's own code).

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Response};

use super::super::cipher::subtle;
use super::super::error::describe;
use super::super::js::{get_opt, set};
use super::super::member::Member;
use super::{DsClient, RETRIES};
use crate::auth::AUTH_HEADER;
use crate::suite::{HashAlg, Hasher};
use crate::wire::{decode_exact, UploadAttachmentResponse};
use crate::Error;

pub(super) async fn sleep(ms: i32) {
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
pub(super) async fn sha256(data: &Uint8Array) -> Result<[u8; 32], Error> {
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
pub(super) fn blob_body(data: &Uint8Array) -> Result<web_sys::Blob, Error> {
    web_sys::Blob::new_with_u8_array_sequence(&Array::of1(data)).map_err(|e| Error::Platform(describe(&e)))
}

pub(super) struct Req {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<JsValue>,
    /// Headers signed at each try (fresh nonce and time): the header, the member, the body hash.
    signers: Vec<(&'static str, Member, [u8; 32])>,
}

impl Req {
    pub(super) fn new(method: &'static str, path: String) -> Self {
        Self { method, path, headers: Vec::new(), body: None, signers: Vec::new() }
    }

    /// `Mimi-Auth`, signed by `member` over this request with `body_hash`.
    pub(super) fn signed_by(self, member: &Member, body_hash: [u8; 32]) -> Self {
        self.signed_header(AUTH_HEADER, member, body_hash)
    }

    /// Header `k` holding a signature of this request by `member` (e.g. the copy's target).
    pub(super) fn signed_header(mut self, k: &'static str, member: &Member, body_hash: [u8; 32]) -> Self {
        self.signers.push((k, member.clone(), body_hash));
        self
    }

    pub(super) fn header(mut self, k: &'static str, v: impl Into<String>) -> Self {
        self.headers.push((k, v.into()));
        self
    }

    pub(super) fn body(mut self, b: impl Into<JsValue>) -> Self {
        self.body = Some(b.into());
        self
    }
}

pub(super) fn retryable(e: &Error) -> bool {
    matches!(e, Error::Network(_)) || matches!(e, Error::Ds { status: 502..=504, .. })
}

impl DsClient {
    pub(super) async fn fetch(&self, req: &Req, signal: Option<&AbortSignal>) -> Result<Response, Error> {
        let init = Object::new();
        set(&init, "method", req.method);
        let headers = Object::new();
        for (k, v) in &req.headers {
            set(&headers, k, v.as_str());
        }
        for (k, member, body_hash) in &req.signers {
            set(&headers, k, member.sign_request(req.method, &req.path, *body_hash).await?.as_str());
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
    /// the request anew for each try; its signatures are made at each fetch (fresh nonces).
    pub(super) async fn send(&self, signal: Option<&AbortSignal>, make: impl Fn() -> Req) -> Result<Response, Error> {
        let mut tries = 0;
        loop {
            if signal.is_some_and(AbortSignal::aborted) {
                return Err(Error::Aborted);
            }
            let e = match self.fetch(&make(), signal).await {
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
}

pub(super) async fn ds_error(resp: &Response) -> Error {
    let status = resp.status();
    let (mut code, mut message) = (None, resp.status_text());
    if let Ok(p) = resp.json() {
        if let Ok(v) = JsFuture::from(p).await {
            code = get_opt(&v, "code").as_string();
            if let Some(m) = get_opt(&v, "message").as_string() {
                message = m;
            }
        }
    }
    Error::ds(status, code.as_deref(), message)
}

pub(super) async fn body_bytes(resp: Response) -> Result<Vec<u8>, Error> {
    let p = resp.array_buffer().map_err(|e| Error::Network(describe(&e)))?;
    let buf = JsFuture::from(p).await.map_err(|e| Error::Network(describe(&e)))?;
    Ok(Uint8Array::new(&buf).to_vec())
}

pub(super) async fn token_of(resp: Response) -> Result<Vec<u8>, Error> {
    let r: UploadAttachmentResponse = decode_exact(&body_bytes(resp).await?)?;
    Ok(r.token.as_slice().to_vec())
}

pub(super) async fn json_of(resp: Response) -> Result<JsValue, Error> {
    let p = resp.json().map_err(|e| Error::Network(describe(&e)))?;
    JsFuture::from(p).await.map_err(|e| Error::Network(describe(&e)))
}
