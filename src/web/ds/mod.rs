//! A Delivery Service client over `fetch`: group management through the DS (handshakes as
//! PublicMessages), the message relay, key packages, and attachments: one-shot or resumable
//! upload with retries, streaming and Range downloads, delete and copy. Every group request is
//! signed by this member's leaf key (`Mimi-Auth`, see `crate::auth`).
//!
//! The client is split by concern: `http` (requests, signing, retries, DS error bodies), `relay`
//! (key packages, groups, handshakes, messages), `upload` (one-shot and resumable, resume after
//! a reload) and `download` (streaming and Range downloads, delete, copy).

mod download;
mod http;
mod identity;
mod relay;
mod save;
mod upload;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use wasm_bindgen::prelude::*;

use super::client::MlsClient;
use super::group::MlsGroup;
use super::store::ClientHandle;
use crate::auth::AUTH_HEADER;
use crate::Error;
use http::{sign, Req};

/// Attachments whose ciphertext is at most this size go up in one request (`POST /v1/attachments`).
pub const ONE_SHOT_UPLOAD_MAX: u64 = 4 << 20;

/// Bytes per `PATCH` of a resumable upload.
pub const UPLOAD_PART: usize = 8 << 20;

/// Tries per request on network errors and 502/503/504, with exponential backoff (0.25 s .. 4 s).
pub const RETRIES: u32 = 8;

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// A client of one Delivery Service, acting for one `MlsClient`.
#[wasm_bindgen]
pub struct DsClient {
    base: String,
    h: ClientHandle,
    auth: identity::ClientAuth,
}

#[wasm_bindgen]
impl DsClient {
    /// A client of the Delivery Service at `baseUrl` (e.g. `"http://127.0.0.1:8080"`, or `""` for
    /// the page's own origin), acting for `client`. `options.authToken`: the bearer token your
    /// login issued for this client (sent on the key-package, Welcome and group-registration
    /// routes); `options.devLogin: true`: fetch one from a DS in development mode instead.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(js_name = baseUrl)] base_url: String,
        client: &MlsClient,
        #[wasm_bindgen(unchecked_optional_param_type = "{ authToken?: string; devLogin?: boolean }")] options: JsValue,
    ) -> DsClient {
        let auth = identity::ClientAuth::from_options(&options);
        DsClient { base: base_url.trim_end_matches('/').to_string(), h: client.0.clone(), auth }
    }

    /// Replaces the bearer token (e.g. after your login refreshed it).
    #[wasm_bindgen(js_name = setAuthToken)]
    pub fn set_auth_token(&self, token: Option<String>) {
        self.auth.set(token);
    }
}

impl DsClient {
    fn gid(g: &MlsGroup) -> String {
        b64(g.group().group_id())
    }

    fn signed(g: &MlsGroup, method: &'static str, path: String, body_hash: [u8; 32]) -> Result<Req, Error> {
        let auth = sign(&g.group(), method, &path, body_hash)?;
        Ok(Req::new(method, path).header(AUTH_HEADER, auth))
    }

    fn clone_handle(&self) -> DsClient {
        DsClient { base: self.base.clone(), h: self.h.clone(), auth: self.auth.clone() }
    }
}
